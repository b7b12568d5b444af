//! A real Kafka-protocol broker (Tansu) on 127.0.0.1 for the Kafka tests: start on a free
//! port, wait until it answers metadata, create topics, freeze, kill and restart it, and read
//! topics back with rdkafka's consumer.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The `tansu` binary: `$TANSU_BIN`, else `tansu` on the `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_bin() -> String {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
        return bin;
    }
    if Command::new("tansu")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return "tansu".into();
    }
    format!(
        "{}/.cargo/bin/tansu",
        std::env::var("HOME").unwrap_or_default()
    )
}

/// A free port on 127.0.0.1 (the listener is closed before the broker binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running Tansu broker; killed when dropped.
pub struct Tansu {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Tansu {
    /// Starts a broker with in-memory storage on a free port and waits until it answers.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a broker on `port` and waits until it answers.
    pub fn start_on(port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("kobe-tansu-{port}.log"));
        let mut t = Self {
            port,
            child: None,
            log,
        };
        t.spawn();
        t.wait_ready(Duration::from_secs(30));
        t
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let out = std::fs::File::create(&self.log).unwrap();
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env("RUST_LOG", "warn")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({}): {e}", tansu_bin()));
        self.child = Some(child);
    }

    /// `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Polls metadata until the broker answers (the readiness signal), or panics at `limit`.
    pub fn wait_ready(&self, limit: Duration) {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("reconnect.backoff.ms", "20")
            .set("reconnect.backoff.max.ms", "100")
            .set("log_level", "0")
            .create()
            .unwrap();
        let start = Instant::now();
        loop {
            if client
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "tansu on port {} did not answer within {limit:?}; its log:\n{}",
                self.port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// Creates `topic` with `partitions` through the `tansu topic create` command.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(tansu_bin())
            .args([
                "topic",
                "create",
                topic,
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--partitions",
                &partitions.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Thaws a frozen broker (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Kills the broker (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a fresh, empty broker on the same port and waits until it answers.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready(Duration::from_secs(30));
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen broker must be thawed to die cleanly.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A record read back.
#[derive(Clone, Debug)]
pub struct Consumed {
    /// Its partition.
    pub partition: i32,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its timestamp (ms), if any.
    pub timestamp: Option<i64>,
}

/// Reads a topic from the beginning, keeping every record.
pub struct Reader {
    consumer: BaseConsumer,
    topic: String,
    /// Everything read so far, in the order read.
    pub records: Vec<Consumed>,
}

impl Reader {
    /// A reader of all `partitions` of `topic`.
    pub fn new(brokers: &str, topic: &str, partitions: i32) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("kobe-test-{}", free_port()))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "50")
            .set("reconnect.backoff.max.ms", "200")
            .set("log_level", "3")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        Self {
            consumer,
            topic: topic.to_string(),
            records: Vec::new(),
        }
    }

    fn poll_once(&mut self) -> bool {
        match self.consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                self.records.push(Consumed {
                    partition: m.partition(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    timestamp: m.timestamp().to_millis(),
                });
                true
            }
            // A topic that is (re)created may be unknown for a moment.
            Some(Err(_)) | None => false,
        }
    }

    /// Reads until at least `n` records arrived, or panics after `limit`.
    pub fn read_until(&mut self, n: usize, limit: Duration) -> &mut Self {
        if let Err(e) = self.try_read_until(n, limit) {
            panic!("{e}");
        }
        self
    }

    /// Reads until at least `n` records arrived; after `limit`, says how far it got.
    pub fn try_read_until(&mut self, n: usize, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        while self.records.len() < n {
            self.poll_once();
            if start.elapsed() >= limit {
                return Err(format!(
                    "read {} of {n} records of {} within {limit:?}",
                    self.records.len(),
                    self.topic
                ));
            }
        }
        Ok(())
    }

    /// Reads until nothing more arrives for `quiet` (so duplicates would show).
    pub fn read_quiet(&mut self, quiet: Duration) -> &mut Self {
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if self.poll_once() {
                last = Instant::now();
            }
        }
        self
    }
}

/// Reads `topic` (all `partitions`) from the beginning until `expected` records arrived and
/// then nothing more for `quiet` (so duplicates would show), or panics after `limit`.
pub fn consume(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    quiet: Duration,
    limit: Duration,
) -> Vec<Consumed> {
    let mut reader = Reader::new(brokers, topic, partitions);
    reader.read_until(expected, limit).read_quiet(quiet);
    reader.records
}

/// Kafka's murmur2 (as in the Java client's `Utils.murmur2`), the reference the partition of
/// a key is checked against.
pub fn murmur2(data: &[u8]) -> i32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ (len as u32);
    let chunks = len / 4;
    for i in 0..chunks {
        let mut k = u32::from_le_bytes([
            data[i * 4],
            data[i * 4 + 1],
            data[i * 4 + 2],
            data[i * 4 + 3],
        ]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client gives `key` among `partitions`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}
