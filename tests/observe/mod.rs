//! Support for the observability tests: a plain HTTP GET over loopback, a real Prometheus
//! server in the foreground of a temp dir, and `kobe run` as a child whose stderr tells where
//! its metrics endpoint listens.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// `GET path` on `addr`; returns the status code and the body.
pub async fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // HTTP/1.0: the server answers without chunked encoding and closes.
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("response timed out"))??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:.80}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills a child process when dropped (tests that fail must not leave servers behind).
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `kobe` binary under test.
pub fn kobe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kobe"))
}

/// A running `kobe run FILE` (killed when dropped), its metrics address read from its log.
pub struct KobeRun {
    pub child: tokio::process::Child,
    pub metrics: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `kobe run file` and waits for the line that names its metrics endpoint.
pub async fn kobe_run(file: &Path) -> KobeRun {
    kobe_spawn(&["run".as_ref(), file.as_os_str()]).await
}

/// Starts `kobe ARGS` and waits for the line that names its metrics endpoint.
pub async fn kobe_spawn(args: &[&std::ffi::OsStr]) -> KobeRun {
    let mut cmd = tokio::process::Command::new(kobe_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("KOBE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kobe starts");
    let stderr = child.stderr.take().expect("piped");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let lines = log.clone();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut r = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = r.next_line().await {
            if let Some(at) = line.find("metrics endpoint listening on ") {
                let addr = line[at + 30..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
            lines.lock().unwrap().push(line);
        }
    });
    let metrics = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .expect("kobe logs its metrics address within 20 s")
        .unwrap_or_else(|_| {
            panic!(
                "kobe exited before serving metrics: {:?}",
                log.lock().unwrap()
            )
        });
    KobeRun {
        child,
        metrics,
        log,
    }
}

/// A free loopback port (bound and released; Prometheus binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where a Debian tool is, or a clear failure: `tests/run` installs it.
pub fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not installed; ./tests/run installs it (apt-get install -y prometheus docker-compose)");
}

/// A real Prometheus scraping `target` every second, in a temp dir, in the foreground.
pub struct Prometheus {
    pub addr: String,
    _child: Reaper,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus (rules from `rules`, if given) and waits until it answers.
    pub async fn start(target: &str, rules: Option<&Path>) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kobe\n    static_configs:\n      - targets: ['{target}']\n"
        );
        if let Some(r) = rules {
            config.push_str(&format!("rule_files:\n  - {}\n", r.display()));
        }
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config).expect("config written");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log file"))
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus {
            addr,
            _child: Reaper(child),
            _dir: dir,
        };
        let a = p.addr.clone();
        eventually(Duration::from_secs(30), "Prometheus is ready", || {
            let a = a.clone();
            async move {
                match get(&a, "/-/ready").await {
                    Ok((200, _)) => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        p
    }

    /// Runs an instant query; `None` when Prometheus refused it or it is not answering.
    pub async fn query(&self, expr: &str) -> Option<Vec<(serde_json::Value, f64)>> {
        let (status, body) = get(&self.addr, &format!("/api/v1/query?query={}", encode(expr)))
            .await
            .ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        if status != 200 || v["status"] != "success" {
            return None;
        }
        let result = v["data"]["result"].as_array()?;
        Some(
            result
                .iter()
                .filter_map(|r| {
                    let value = r["value"][1].as_str()?.parse().ok()?;
                    Some((r["metric"].clone(), value))
                })
                .collect(),
        )
    }

    /// The status and body of an instant query (for error messages).
    pub async fn raw_query(&self, expr: &str) -> String {
        match get(&self.addr, &format!("/api/v1/query?query={}", encode(expr))).await {
            Ok((s, b)) => format!("{s} {b}"),
            Err(e) => e.to_string(),
        }
    }

    /// The single value of `expr` (summed over series), once Prometheus has it.
    pub async fn value(&self, expr: &str) -> Option<f64> {
        let r = self.query(expr).await?;
        if r.is_empty() {
            return None;
        }
        Some(r.iter().map(|(_, v)| v).sum())
    }
}

/// Percent-encodes a query parameter.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
