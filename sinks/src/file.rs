//! The `file` sink: appends records (NDJSON by default) to a file, rotating by size, flushing
//! on an interval, and fsyncing on shutdown so every record it reports is on disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use kobe_core::record::RecordFormat;

use crate::background::BackgroundFile;
use kobe_core::{
    ComponentError, ConfigError, EventBatch, EventFilter, Sink, SinkConfig, SinkReport,
};
use std::fs::{File, OpenOptions};

/// Options of the `file` sink.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append to (created if missing, with its parent directories).
    pub path: PathBuf,
    /// `json` (one versioned JSON record per line), `raw` (Kraken frames as received) or
    /// `pretty`.
    #[serde(default)]
    pub format: RecordFormat,
    /// Rotate once the file holds at least this many bytes: it is renamed to `PATH.1`
    /// (then `PATH.2`, ...) and a new file started. Rotation happens between batches, so no
    /// record is split. 0 never rotates. Devices and pipes (`/dev/stdout`) are never rotated
    /// nor fsynced.
    #[serde(default)]
    pub rotate_bytes: u64,
    /// Push buffered records to the operating system at least this often, in milliseconds.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u64,
    /// Bytes of records gathered in memory before they are written to the file in one go.
    #[serde(default = "default_buffer")]
    pub buffer_bytes: usize,
}

fn default_flush_ms() -> u64 {
    1000
}

fn default_buffer() -> usize {
    256 * 1024
}

/// A file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileSinkError {
    /// Opening, writing, syncing or renaming `path` failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileSinkError + 'a {
    move |source| FileSinkError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[async_trait]
impl SinkConfig for FileConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.path.as_os_str().is_empty() {
            errors.push(ConfigError::new("path", "must name a file"));
        }
        if self.flush_interval_ms == 0 {
            errors.push(ConfigError::new("flush_interval_ms", "must be at least 1"));
        }
        if self.buffer_bytes == 0 {
            errors.push(ConfigError::new("buffer_bytes", "must be at least 1"));
        }
        errors
    }

    fn default_events(&self) -> EventFilter {
        self.format.default_events()
    }

    async fn build(&self, _id: &str) -> Result<Box<dyn Sink>, ComponentError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io("create directory", dir))?;
        }
        let (file, size, regular) = open(&self.path).await?;
        if !regular {
            tracing::info!(
                path = %self.path.display(),
                "not a regular file (a device or a pipe): written without fsync or rotation"
            );
        }
        Ok(Box::new(FileSink {
            config: self.clone(),
            out: BackgroundFile::new(file),
            regular,
            size,
            pending: Vec::with_capacity(self.buffer_bytes.min(16 << 20)),
            report: SinkReport::default(),
        }))
    }
}

/// Opens `path` for appending: the file, its size, and whether it is a regular file (a device
/// such as `/dev/null` or `/dev/stdout`, or a pipe, cannot be fsynced or rotated).
async fn open(path: &Path) -> Result<(File, u64, bool), FileSinkError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new().create(true).append(true).open(&owned)?;
        let meta = file.metadata()?;
        Ok((file, meta.len(), meta.is_file()))
    })
    .await
    .map_err(|e| io("open", path)(std::io::Error::other(e)))?
    .map_err(io("open", path))
}

/// Records are rendered straight into `pending`, which goes to the file in one write once it
/// holds `buffer_bytes` (see [`BackgroundFile`]).
struct FileSink {
    config: FileConfig,
    out: BackgroundFile,
    /// A regular file (fsynced at close and rotation); false for devices and pipes.
    regular: bool,
    size: u64,
    pending: Vec<u8>,
    report: SinkReport,
}

impl FileSink {
    /// Hands everything rendered so far to the operating system.
    async fn push(&mut self) -> Result<(), FileSinkError> {
        self.out
            .write(&mut self.pending)
            .await
            .map_err(io("write", &self.config.path))?;
        self.out
            .finish()
            .await
            .map_err(io("write", &self.config.path))
    }

    /// Pushes everything out and makes it durable, where that means anything: only a regular
    /// file can be fsynced (`fsync /dev/null` fails with EINVAL after every record was
    /// written).
    async fn sync(&mut self) -> Result<(), FileSinkError> {
        self.push().await?;
        if !self.regular {
            return Ok(());
        }
        self.out
            .sync()
            .await
            .map_err(io("fsync", &self.config.path))
    }

    async fn rotate(&mut self) -> Result<(), FileSinkError> {
        self.sync().await?;
        let path = self.config.path.clone();
        let mut n = 1;
        let target = loop {
            let mut name = path.clone().into_os_string();
            name.push(format!(".{n}"));
            let candidate = PathBuf::from(name);
            if !tokio::fs::try_exists(&candidate)
                .await
                .map_err(io("stat", &candidate))?
            {
                break candidate;
            }
            n += 1;
        };
        tokio::fs::rename(&path, &target)
            .await
            .map_err(io("rotate", &path))?;
        let (file, size, _) = open(&path).await?;
        self.out = BackgroundFile::new(file);
        self.size = size;
        tracing::info!(from = %path.display(), to = %target.display(), "rotated");
        Ok(())
    }
}

#[async_trait]
impl Sink for FileSink {
    async fn write(
        &mut self,
        batch: &EventBatch,
        filter: EventFilter,
    ) -> Result<u64, ComponentError> {
        let before = self.pending.len();
        let written = crate::render(self.config.format, batch, filter, &mut self.pending);
        let bytes = (self.pending.len() - before) as u64;
        self.size += bytes;
        self.report.bytes += bytes;
        if self.pending.len() >= self.config.buffer_bytes {
            self.out
                .write(&mut self.pending)
                .await
                .map_err(io("write", &self.config.path))?;
        }
        if self.regular && self.config.rotate_bytes > 0 && self.size >= self.config.rotate_bytes {
            self.rotate().await?;
        }
        Ok(written)
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.config.flush_interval_ms))
    }

    async fn flush(&mut self) -> Result<(), ComponentError> {
        self.push().await?;
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> Result<SinkReport, ComponentError> {
        self.sync().await?;
        Ok(self.report)
    }
}
