//! A file written from whole buffers on tokio's blocking pool, one write in flight while the
//! caller fills the next buffer.
//!
//! Records are rendered straight into the buffer that is handed to the kernel: an async file
//! with a buffered writer in front would copy every byte twice more on the way. Writing behind
//! keeps rendering and the `write` system call overlapped, as an async file does.

use std::fs::File;
use std::io::Write;

use tokio::task::JoinHandle;

type Done = (File, Vec<u8>, std::io::Result<()>);

/// See the module docs. Errors of a write in flight surface from the next call.
#[derive(Debug)]
pub(crate) struct BackgroundFile {
    /// The file, while no write is in flight.
    idle: Option<File>,
    in_flight: Option<JoinHandle<Done>>,
    /// A cleared buffer to hand back to the caller in exchange for a full one.
    spare: Vec<u8>,
}

impl BackgroundFile {
    pub(crate) fn new(file: File) -> Self {
        Self {
            idle: Some(file),
            in_flight: None,
            spare: Vec::new(),
        }
    }

    /// Starts writing all of `buf` and gives the caller an empty buffer to fill meanwhile.
    /// Waits for the previous write first (and returns its error, if it failed).
    pub(crate) async fn write(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        self.finish().await?;
        if buf.is_empty() {
            return Ok(());
        }
        let mut file = self.take_file()?;
        let data = std::mem::replace(buf, std::mem::take(&mut self.spare));
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all(&data);
            (file, data, result)
        }));
        Ok(())
    }

    /// Waits for the write in flight, if any.
    pub(crate) async fn finish(&mut self) -> std::io::Result<()> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        let (file, mut data, result) = task.await.map_err(std::io::Error::other)?;
        self.idle = Some(file);
        data.clear();
        self.spare = data;
        result
    }

    /// Waits for the write in flight, then makes everything written durable (`fsync`).
    pub(crate) async fn sync(&mut self) -> std::io::Result<()> {
        self.finish().await?;
        let file = self.take_file()?;
        let (file, result) = tokio::task::spawn_blocking(move || {
            let result = file.sync_all();
            (file, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.idle = Some(file);
        result
    }

    fn take_file(&mut self) -> std::io::Result<File> {
        // Only a panicked blocking task (a bug) loses the file; the sink then fails cleanly.
        self.idle
            .take()
            .ok_or_else(|| std::io::Error::other("the file was lost by an earlier failure"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffers_reach_the_file_in_order_and_come_back_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = BackgroundFile::new(File::create(&path).unwrap());
        let mut buf = Vec::new();
        for i in 0..100 {
            buf.extend_from_slice(format!("line {i}\n").as_bytes());
            if i % 7 == 0 {
                out.write(&mut buf).await.unwrap();
                assert!(buf.is_empty(), "the caller gets an empty buffer back");
            }
        }
        out.write(&mut buf).await.unwrap();
        out.sync().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let want: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, want);
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_by_the_next_call() {
        // A file opened read-only refuses writes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let mut out = BackgroundFile::new(File::open(&path).unwrap());
        let mut buf = b"x\n".to_vec();
        out.write(&mut buf).await.unwrap();
        assert!(out.finish().await.is_err());
    }
}
