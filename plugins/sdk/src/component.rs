//! The two traits a plugin author implements: [`Handler`] and [`Sink`], and what they are lent.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::abi::{self, Level, Status, Str};
use crate::view::Batch;

/// One problem with a plugin's config: a dotted path inside the config (empty for the whole
/// config) and what is wrong. kobe shows it under the component's path, with the file position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path inside the plugin's `config:` (`levels`, `streams.prefix`).
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl ConfigError {
    /// A problem with field `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A handler: sees each batch of events once, may read books, emit records and ask for
/// resyncs. Runs inside a shard worker, synchronously; a symbol's events always reach the same
/// instance, in order.
pub trait Handler: Sized + Send + 'static {
    /// Its options, from the pipeline's `config:` map. Doc comments on the fields become the
    /// option docs `kobe plugins --load` prints.
    type Config: DeserializeOwned + JsonSchema;
    /// The type name (`spread`): the `type:` of the built-in, and the name on its records.
    const TYPE_NAME: &'static str;
    /// One line on what it does.
    const DESCRIPTION: &'static str;

    /// Every problem with a config that deserialized (ranges, combinations), without I/O.
    fn validate(_config: &Self::Config) -> Vec<ConfigError> {
        Vec::new()
    }

    /// Builds an instance (one per shard worker).
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Processes one batch. An error leaves the batch as it came (nothing emitted counts).
    fn process(&mut self, batch: Batch<'_>, host: &mut Host<'_>) -> Result<(), String>;
}

/// One record handed to a [`Sink`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Its event type name (`book_update`, `plugin`).
    pub kind: &'a str,
    /// Its pair, when it has one.
    pub symbol: Option<&'a str>,
    /// The record as rendered in the sink's `format` (no trailing newline).
    pub bytes: &'a [u8],
}

/// A sink: receives rendered records, batch by batch, on a thread of its own (blocking I/O is
/// fine). `write` returning `Ok` means the records were accepted.
pub trait Sink: Sized + Send + 'static {
    /// Its options, from the pipeline's `config:` map.
    type Config: DeserializeOwned + JsonSchema;
    /// The type name (`redis_streams`).
    const TYPE_NAME: &'static str;
    /// One line on what it does.
    const DESCRIPTION: &'static str;

    /// Every problem with a config that deserialized, without I/O.
    fn validate(_config: &Self::Config) -> Vec<ConfigError> {
        Vec::new()
    }

    /// Opens the sink (connections, files).
    fn open(config: Self::Config) -> Result<Self, String>;

    /// Writes a batch of records.
    fn write(&mut self, records: &[Record<'_>]) -> Result<(), String>;

    /// Pushes buffered records out.
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Flushes and closes.
    fn close(self) -> Result<(), String> {
        Ok(())
    }
}

/// The best levels of a book, read through the host.
#[derive(Clone, Copy, Debug)]
pub struct Top<'a> {
    /// Bids, best first.
    pub bids: &'a [Level],
    /// Asks, best first.
    pub asks: &'a [Level],
}

/// What a handler may ask of kobe while it processes a batch.
pub struct Host<'a> {
    api: &'a abi::HostApi,
    json: &'a mut Vec<u8>,
    bids: &'a mut Vec<Level>,
    asks: &'a mut Vec<Level>,
}

impl<'a> Host<'a> {
    /// Wraps the host's functions; the buffers are the plugin's own, reused across batches.
    pub(crate) fn new(
        api: &'a abi::HostApi,
        json: &'a mut Vec<u8>,
        bids: &'a mut Vec<Level>,
        asks: &'a mut Vec<Level>,
    ) -> Self {
        Self {
            api,
            json,
            bids,
            asks,
        }
    }

    /// Emits a record right after event `after` of the batch, with that event's symbol and
    /// timestamps: `{"v":1,"type":"plugin","plugin":TYPE_NAME,...,"data":DATA}`. `data` must
    /// serialize to a JSON object.
    pub fn emit<T: serde::Serialize + ?Sized>(
        &mut self,
        after: usize,
        data: &T,
    ) -> Result<(), String> {
        self.json.clear();
        serde_json::to_writer(&mut *self.json, data).map_err(|e| e.to_string())?;
        let status = (self.api.emit)(self.api.ctx, after, Str::bytes(self.json));
        match Status::from_raw(status) {
            Status::Ok => Ok(()),
            _ => Err(format!(
                "the host refused record {}",
                String::from_utf8_lossy(self.json)
            )),
        }
    }

    /// Emits a record whose data is already JSON text (an object).
    pub fn emit_json(&mut self, after: usize, data: &str) -> Result<(), String> {
        match Status::from_raw((self.api.emit)(self.api.ctx, after, Str::new(data))) {
            Status::Ok => Ok(()),
            _ => Err(format!("the host refused record {data}")),
        }
    }

    /// Up to `depth` best levels a side of `symbol`'s current book (as the handlers before
    /// this one left it: the whole batch applied); `None` when it has no valid book.
    pub fn book_top(&mut self, symbol: &str, depth: usize) -> Option<Top<'_>> {
        // Grown once to the deepest read; the host fills only the first `counts` levels.
        if self.bids.len() < depth {
            self.bids.resize(depth, Level::default());
            self.asks.resize(depth, Level::default());
        }
        let mut counts = [0usize; 2];
        let status = (self.api.book_top)(
            self.api.ctx,
            Str::new(symbol),
            depth,
            self.bids.as_mut_ptr(),
            self.asks.as_mut_ptr(),
            &mut counts,
        );
        if Status::from_raw(status) != Status::Ok {
            return None;
        }
        Some(Top {
            bids: &self.bids[..counts[0].min(depth)],
            asks: &self.asks[..counts[1].min(depth)],
        })
    }

    /// Asks the source to resync `symbol`: its book is dropped and rebuilt from a fresh
    /// snapshot (a `book_reset` record marks the gap).
    pub fn resync(&mut self, symbol: &str) -> Result<(), String> {
        match Status::from_raw((self.api.resync)(self.api.ctx, Str::new(symbol))) {
            Status::Ok => Ok(()),
            _ => Err(format!("the host refused to resync {symbol:?}")),
        }
    }
}
