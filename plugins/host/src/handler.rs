//! Handler plugins in the engine: `type: plugin` under `handlers:` (loaded from a library) and
//! SDK handlers linked in as built-ins. Both run the plugin's function table the same way:
//! one call per batch, over ABI views of the batch built in reused buffers.

use std::borrow::Cow;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kobe_core::component::{ControlRequest, HandlerFault};
use kobe_core::event::{PluginRecord, ResetReason};
use kobe_core::{
    ComponentError, ConfigError, Event, EventBatch, EventKind, Handler, HandlerConfig,
    HandlerContext, Symbol,
};
use kobe_plugin_sdk::abi::{self, flags, kind, HandlerVTable, HostApi, Status, Str};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::calls::{describe, with_report};
use crate::library::{self, text, LoadError};
use crate::options::{
    empty_object, AnyObject, LinkedHandlerSchema, LoadedHandlerSchema, OnError, SchemaAs,
};

/// Options of `type: plugin` under `handlers:`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginHandlerConfig {
    /// Path of the plugin library (`./libspread.so`), relative to the working directory.
    pub path: PathBuf,
    /// The plugin's own options; the plugin checks them at `kobe validate` time.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// What happens when the plugin fails or panics on a batch.
    #[serde(default)]
    pub on_error: OnError,
    #[serde(skip)]
    loaded: OnceLock<Result<&'static HandlerVTable, LoadError>>,
}

impl JsonSchema for PluginHandlerConfig {
    fn schema_name() -> Cow<'static, str> {
        "PluginHandlerConfig".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        LoadedHandlerSchema::<AnyObject>::json_schema(g)
    }
}

impl PluginHandlerConfig {
    fn table(&self) -> Result<&'static HandlerVTable, LoadError> {
        self.loaded
            .get_or_init(|| library::load(&self.path).and_then(|p| p.handler()))
            .clone()
    }
}

/// Checks a plugin config through its table: every problem, under `config`.
fn validate_with(table: &HandlerVTable, config: &serde_json::Value) -> Vec<ConfigError> {
    crate::calls::validate(&table.component, &config.to_string())
}

impl HandlerConfig for PluginHandlerConfig {
    fn validate(&self) -> Vec<ConfigError> {
        match self.table() {
            Err(e) => vec![ConfigError::new("path", e.to_string())],
            Ok(table) => validate_with(table, &self.config),
        }
    }

    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        let table = self.table()?;
        Ok(Box::new(PluginHandler::create(
            table,
            &self.config,
            self.on_error,
        )?))
    }
}

/// Options of an SDK handler linked in as a built-in (`{type: spread, config: {...}}`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct LinkedHandlerConfig<H> {
    /// The plugin's own options.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// What happens when the plugin fails or panics on a batch.
    #[serde(default)]
    pub on_error: OnError,
    #[serde(skip)]
    _h: PhantomData<fn() -> H>,
}

impl<H> std::fmt::Debug for LinkedHandlerConfig<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedHandlerConfig")
            .field("config", &self.config)
            .field("on_error", &self.on_error)
            .finish()
    }
}

impl<H: kobe_plugin_sdk::Handler> LinkedHandlerConfig<H> {
    const TABLE: HandlerVTable = kobe_plugin_sdk::export::handler_vtable::<H>();
}

impl<H: kobe_plugin_sdk::Handler> JsonSchema for LinkedHandlerConfig<H> {
    fn schema_name() -> Cow<'static, str> {
        SchemaAs::<()>::name("LinkedHandler", H::TYPE_NAME)
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        SchemaAs::<LinkedHandlerSchema<H::Config>>::schema(g)
    }
}

impl<H: kobe_plugin_sdk::Handler> HandlerConfig for LinkedHandlerConfig<H> {
    fn validate(&self) -> Vec<ConfigError> {
        validate_with(&Self::TABLE, &self.config)
    }

    fn build(&self) -> Result<Box<dyn Handler>, ComponentError> {
        let table: &'static HandlerVTable = &Self::TABLE;
        Ok(Box::new(PluginHandler::create(
            table,
            &self.config,
            self.on_error,
        )?))
    }
}

/// A plugin instance: an opaque pointer only its own table's functions touch.
struct Instance(*mut c_void);

// SAFETY: SDK plugin types are `Send`, and an instance is used by one worker at a time.
unsafe impl Send for Instance {}

/// A buffer of ABI views. Its pointers lead into the batch being processed and into the
/// handler's own buffers, and are only followed during that batch's `process` call.
struct Views<T>(Vec<T>);

// SAFETY: see above; between batches the pointers are never followed.
unsafe impl<T> Send for Views<T> {}

impl<T> std::ops::Deref for Views<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Views<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

/// A handler plugin running in a shard worker.
pub struct PluginHandler {
    table: &'static HandlerVTable,
    instance: Instance,
    plugin: Arc<str>,
    on_error: OnError,
    events: Views<abi::Event>,
    levels: Views<abi::Level>,
    emitted: Vec<(usize, Box<str>)>,
    resyncs: Vec<Symbol>,
    error: String,
}

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` refused its config: {problems}")]
pub struct CreateError {
    plugin: String,
    problems: String,
}

impl PluginHandler {
    /// An instance of the plugin behind `table`, built from `config`.
    pub fn create(
        table: &'static HandlerVTable,
        config: &serde_json::Value,
        on_error: OnError,
    ) -> Result<Self, CreateError> {
        let text_config = config.to_string();
        let mut instance: *mut c_void = std::ptr::null_mut();
        let (status, errors) = with_report(|ctx, report| {
            (table.create)(Str::new(&text_config), ctx, report, &mut instance)
        });
        let plugin: Arc<str> = text(table.component.type_name).into();
        if status != Status::Ok || instance.is_null() {
            let problems: Vec<String> = errors.iter().map(|e| describe(status, e)).collect();
            return Err(CreateError {
                plugin: plugin.to_string(),
                problems: problems.join("; "),
            });
        }
        Ok(Self {
            table,
            instance: Instance(instance),
            plugin,
            on_error,
            events: Views(Vec::new()),
            levels: Views(Vec::new()),
            emitted: Vec::new(),
            resyncs: Vec::new(),
            error: String::new(),
        })
    }

    /// Builds the ABI view of `batch` in the reused buffers. Pointers stay valid while
    /// `batch` is not changed and the buffers are not touched.
    fn fill(&mut self, batch: &EventBatch) {
        self.events.clear();
        self.levels.clear();
        let total: usize = batch
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) => {
                    b.bids.len() + b.asks.len()
                }
                EventKind::BookTop(t) => t.bids.len() + t.asks.len(),
                _ => 0,
            })
            .sum();
        // Reserved up front, so pushing never moves the levels already pointed at.
        self.levels.reserve(total);
        self.events.reserve(batch.len());
        for e in &batch.events {
            let mut f = 0;
            let mut checksum = 0;
            let (bids, asks): (&[kobe_core::Level], &[kobe_core::Level]) = match &e.kind {
                EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) => {
                    if let Some(c) = b.checksum {
                        f |= flags::HAS_CHECKSUM;
                        checksum = c;
                    }
                    match b.checksum_ok {
                        Some(true) => f |= flags::CHECKSUM_CHECKED | flags::CHECKSUM_OK,
                        Some(false) => f |= flags::CHECKSUM_CHECKED,
                        None => {}
                    }
                    (&b.bids, &b.asks)
                }
                EventKind::BookTop(t) => (&t.bids, &t.asks),
                _ => (&[], &[]),
            };
            let bids = self.push_levels(bids);
            let asks = self.push_levels(asks);
            if e.exchange_ts.is_some() {
                f |= flags::HAS_EXCHANGE_TS;
            }
            self.events.push(abi::Event {
                kind: kind_code(&e.kind),
                flags: f,
                symbol: e
                    .symbol
                    .as_ref()
                    .map_or(Str::EMPTY, |s| Str::new(s.as_str())),
                seq: e.seq,
                exchange_ts: e.exchange_ts.map_or(0, |t| t.0),
                received_ts: e.received_ts.0,
                checksum,
                _pad: 0,
                bids,
                asks,
            });
        }
    }

    fn push_levels(&mut self, side: &[kobe_core::Level]) -> abi::Levels {
        let start = self.levels.len();
        self.levels.extend(side.iter().map(|l| abi::Level {
            price: decimal(l.price),
            qty: decimal(l.qty),
        }));
        abi::Levels {
            // SAFETY: `start` is within the reserved buffer.
            ptr: unsafe { self.levels.as_ptr().add(start) },
            len: side.len(),
        }
    }
}

fn decimal(d: kobe_core::Decimal) -> abi::Decimal {
    let m = d.mantissa();
    abi::Decimal {
        lo: m as u64,
        hi: (m >> 64) as u64,
        scale: d.scale(),
        _pad: [0; 7],
    }
}

fn kind_code(k: &EventKind) -> u32 {
    match k {
        EventKind::BookSnapshot(_) => kind::BOOK_SNAPSHOT,
        EventKind::BookUpdate(_) => kind::BOOK_UPDATE,
        EventKind::BookTop(_) => kind::BOOK_TOP,
        EventKind::ChecksumMismatch { .. } => kind::CHECKSUM_MISMATCH,
        EventKind::BookReset { .. } => kind::BOOK_RESET,
        EventKind::Status(_) => kind::STATUS,
        EventKind::Heartbeat => kind::HEARTBEAT,
        EventKind::Instrument(_) => kind::INSTRUMENT,
        EventKind::SubscriptionAck(_) => kind::SUBSCRIPTION_ACK,
        EventKind::SubscriptionError(_) => kind::SUBSCRIPTION_ERROR,
        EventKind::Raw(_) => kind::RAW,
        EventKind::Plugin(_) => kind::PLUGIN,
    }
}

/// What the host callbacks reach during one `process` call.
struct CallCtx<'a> {
    books: &'a kobe_core::book::BookStore,
    len: usize,
    emitted: &'a mut Vec<(usize, Box<str>)>,
    resyncs: &'a mut Vec<Symbol>,
    error: &'a mut String,
}

fn call_ctx<'a>(ctx: *mut c_void) -> &'a mut CallCtx<'a> {
    // SAFETY: `process` passes its own `CallCtx` as ctx, valid for the call.
    unsafe { &mut *ctx.cast::<CallCtx<'a>>() }
}

/// Checks emitted data: one JSON object; made compact if it spans lines (records are lines).
fn checked_object(raw: &[u8]) -> Option<Box<str>> {
    let text = std::str::from_utf8(raw).ok()?;
    if !text.trim_start().starts_with('{') {
        return None;
    }
    if text.bytes().any(|b| b == b'\n' || b == b'\r') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        return Some(v.to_string().into());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    Some(text.trim().into())
}

extern "C-unwind" fn host_emit(ctx: *mut c_void, after: usize, data: Str) -> u32 {
    let cx = call_ctx(ctx);
    // SAFETY: the plugin passes data valid for the call.
    let raw = unsafe { data.as_bytes() };
    if after >= cx.len {
        return Status::Error.raw();
    }
    match checked_object(raw) {
        Some(data) => {
            cx.emitted.push((after, data));
            Status::Ok.raw()
        }
        None => Status::Error.raw(),
    }
}

fn symbol_of(s: Str) -> Option<Symbol> {
    // SAFETY: the plugin passes text valid for the call.
    let bytes = unsafe { s.as_bytes() };
    Symbol::new(std::str::from_utf8(bytes).ok()?).ok()
}

extern "C-unwind" fn host_book_top(
    ctx: *mut c_void,
    symbol: Str,
    depth: usize,
    bids: *mut abi::Level,
    asks: *mut abi::Level,
    counts: *mut [usize; 2],
) -> u32 {
    let cx = call_ctx(ctx);
    let Some(book) = symbol_of(symbol).and_then(|s| cx.books.book(&s)) else {
        return Status::NotFound.raw();
    };
    let n = [
        copy_side(book.bids(), depth, bids),
        copy_side(book.asks(), depth, asks),
    ];
    // SAFETY: a valid out-pointer from the plugin.
    unsafe { counts.write(n) };
    Status::Ok.raw()
}

/// Copies up to `depth` levels into the plugin's buffer; returns how many.
fn copy_side(
    levels: impl Iterator<Item = kobe_core::Level>,
    depth: usize,
    out: *mut abi::Level,
) -> usize {
    let mut n = 0;
    for l in levels.take(depth) {
        // SAFETY: the plugin passes a buffer with room for `depth` levels.
        unsafe {
            out.add(n).write(abi::Level {
                price: decimal(l.price),
                qty: decimal(l.qty),
            })
        };
        n += 1;
    }
    n
}

extern "C-unwind" fn host_resync(ctx: *mut c_void, symbol: Str) -> u32 {
    let cx = call_ctx(ctx);
    match symbol_of(symbol) {
        Some(s) => {
            cx.resyncs.push(s);
            Status::Ok.raw()
        }
        None => Status::Error.raw(),
    }
}

extern "C-unwind" fn host_error(ctx: *mut c_void, message: Str) {
    let cx = call_ctx(ctx);
    cx.error.push_str(&text(message));
}

impl Handler for PluginHandler {
    fn process(
        &mut self,
        batch: &mut EventBatch,
        cx: &mut HandlerContext<'_>,
    ) -> Result<(), ComponentError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.fill(batch);
        self.emitted.clear();
        self.resyncs.clear();
        self.error.clear();
        let view = abi::Batch {
            events: self.events.as_ptr(),
            len: self.events.len(),
        };
        let mut call = CallCtx {
            books: cx.books,
            len: self.events.len(),
            emitted: &mut self.emitted,
            resyncs: &mut self.resyncs,
            error: &mut self.error,
        };
        let api = HostApi {
            ctx: (&mut call as *mut CallCtx<'_>).cast(),
            emit: host_emit,
            book_top: host_book_top,
            resync: host_resync,
            error: host_error,
        };
        let status = Status::from_raw((self.table.process)(self.instance.0, &view, &api));
        if status != Status::Ok {
            // Nothing the plugin did for this batch counts: the batch goes on as it came.
            let fault = HandlerFault {
                message: format!("plugin `{}`: {}", self.plugin, self.error),
                panicked: status == Status::Panicked,
                stop: self.on_error == OnError::Stop,
            };
            return Err(Box::new(fault));
        }
        for symbol in self.resyncs.drain(..) {
            cx.control.push(ControlRequest::Resync {
                symbol,
                reason: ResetReason::Resync,
            });
        }
        if !self.emitted.is_empty() {
            self.emitted.sort_by_key(|(after, _)| *after);
            let plugin = &self.plugin;
            let mut pending = self.emitted.drain(..).peekable();
            let mut index = 0;
            batch
                .rewrite::<()>(|event, out| {
                    let mut records = Vec::new();
                    while let Some((_, data)) = pending.next_if(|(after, _)| *after == index) {
                        records.push(Event {
                            symbol: event.symbol,
                            seq: 0,
                            exchange_ts: event.exchange_ts,
                            received_ts: event.received_ts,
                            kind: EventKind::Plugin(PluginRecord {
                                plugin: Arc::clone(plugin),
                                data,
                            }),
                        });
                    }
                    out.push(event);
                    out.extend(records);
                    index += 1;
                    Ok(())
                })
                .ok();
        }
        Ok(())
    }
}

impl Drop for PluginHandler {
    fn drop(&mut self) {
        (self.table.destroy)(self.instance.0);
    }
}
