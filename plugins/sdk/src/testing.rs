//! A test harness for plugin authors: drives a plugin's exported functions exactly as kobe
//! does (config as JSON text, batches as ABI views, host callbacks), with books you set and
//! the records it emits collected. No kobe repository or binary needed.
//!
//! ```
//! use kobe_plugin_sdk::testing::{HandlerHarness, TestEvent};
//! # use kobe_plugin_sdk::{Batch, Handler, Host};
//! # #[derive(serde::Deserialize, schemars::JsonSchema)]
//! # struct Config {}
//! # struct Count;
//! # impl Handler for Count {
//! #     type Config = Config;
//! #     const TYPE_NAME: &'static str = "count";
//! #     const DESCRIPTION: &'static str = "counts";
//! #     fn new(_: Config) -> Result<Self, String> { Ok(Count) }
//! #     fn process(&mut self, batch: Batch<'_>, host: &mut Host<'_>) -> Result<(), String> {
//! #         host.emit(batch.len() - 1, &serde_json::json!({"n": batch.len()}))
//! #     }
//! # }
//! let mut h = HandlerHarness::<Count>::new(serde_json::json!({})).unwrap();
//! let out = h.process(&[TestEvent::snapshot("BTC/USD", &[("100.0", "1.0")], &[("101.0", "2.0")])]).unwrap();
//! assert_eq!(out.emitted[0].data, serde_json::json!({"n": 1}));
//! ```

use std::collections::HashMap;
use std::ffi::c_void;
use std::marker::PhantomData;

use crate::abi::{
    self, flags, ComponentDecl, HandlerVTable, HostApi, Level, ReportFn, SinkVTable, Status, Str,
};
use crate::component::{ConfigError, Handler, Sink};
use crate::decimal::MAX_SCALE;
use crate::export::{handler_vtable, sink_vtable};
use crate::view::EventType;
use crate::Decimal;

/// An event to feed a handler under test.
#[derive(Clone, Debug)]
pub struct TestEvent {
    /// Its type.
    pub kind: EventType,
    /// Its pair.
    pub symbol: Option<String>,
    /// Sequence number (what the engine would have assigned).
    pub seq: u64,
    /// Exchange time (ns since the epoch).
    pub exchange_ts: Option<i64>,
    /// Receive time (ns since the epoch).
    pub received_ts: i64,
    /// Kraken's checksum.
    pub checksum: Option<u32>,
    /// What the checksum handler found.
    pub checksum_ok: Option<bool>,
    /// Bids.
    pub bids: Vec<Level>,
    /// Asks.
    pub asks: Vec<Level>,
}

fn levels(side: &[(&str, &str)]) -> Vec<Level> {
    side.iter()
        .map(|(p, q)| Level {
            price: Decimal::parse(p).unwrap_or_else(|| panic!("bad test price {p:?}")),
            qty: Decimal::parse(q).unwrap_or_else(|| panic!("bad test quantity {q:?}")),
        })
        .collect()
}

impl TestEvent {
    /// An event of `kind` for `symbol`, without levels.
    pub fn new(kind: EventType, symbol: &str) -> Self {
        Self {
            kind,
            symbol: Some(symbol.to_string()),
            seq: 0,
            exchange_ts: None,
            received_ts: 0,
            checksum: None,
            checksum_ok: None,
            bids: Vec::new(),
            asks: Vec::new(),
        }
    }

    fn with_levels(
        kind: EventType,
        symbol: &str,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) -> Self {
        Self {
            bids: levels(bids),
            asks: levels(asks),
            ..Self::new(kind, symbol)
        }
    }

    /// A `book_snapshot` (levels as `(price, qty)` text, best first).
    pub fn snapshot(symbol: &str, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Self {
        Self::with_levels(EventType::BookSnapshot, symbol, bids, asks)
    }

    /// A `book_update`.
    pub fn update(symbol: &str, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Self {
        Self::with_levels(EventType::BookUpdate, symbol, bids, asks)
    }

    /// A `book_top` (best first).
    pub fn top(symbol: &str, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Self {
        Self::with_levels(EventType::BookTop, symbol, bids, asks)
    }

    fn to_abi(&self) -> abi::Event {
        let symbol = self.symbol.as_deref().map_or(Str::EMPTY, Str::new);
        let mut f = 0;
        if self.exchange_ts.is_some() {
            f |= flags::HAS_EXCHANGE_TS;
        }
        if self.checksum.is_some() {
            f |= flags::HAS_CHECKSUM;
        }
        match self.checksum_ok {
            Some(true) => f |= flags::CHECKSUM_CHECKED | flags::CHECKSUM_OK,
            Some(false) => f |= flags::CHECKSUM_CHECKED,
            None => {}
        }
        abi::Event {
            kind: self.kind.code(),
            flags: f,
            symbol,
            seq: self.seq,
            exchange_ts: self.exchange_ts.unwrap_or(0),
            received_ts: self.received_ts,
            checksum: self.checksum.unwrap_or(0),
            _pad: 0,
            bids: abi::Levels {
                ptr: self.bids.as_ptr(),
                len: self.bids.len(),
            },
            asks: abi::Levels {
                ptr: self.asks.as_ptr(),
                len: self.asks.len(),
            },
        }
    }
}

/// A record a handler emitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted {
    /// The index of the event it follows.
    pub after: usize,
    /// Its data.
    pub data: serde_json::Value,
}

/// What one batch produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Records emitted, in order.
    pub emitted: Vec<Emitted>,
    /// Symbols the handler asked to resync.
    pub resyncs: Vec<String>,
}

#[derive(Default)]
struct FakeHost {
    books: HashMap<String, (Vec<Level>, Vec<Level>)>,
    out: Outcome,
    bad: Option<String>,
    error: Option<String>,
}

fn host<'a>(ctx: *mut c_void) -> &'a mut FakeHost {
    // SAFETY: the harness passes its own `FakeHost` as ctx for the call.
    unsafe { &mut *ctx.cast::<FakeHost>() }
}

fn text(s: Str) -> String {
    // SAFETY: the plugin passes text valid for the call.
    unsafe { s.to_string_lossy() }
}

extern "C-unwind" fn fake_emit(ctx: *mut c_void, after: usize, data: Str) -> u32 {
    let h = host(ctx);
    match serde_json::from_str::<serde_json::Value>(&text(data)) {
        Ok(v) if v.is_object() => {
            h.out.emitted.push(Emitted { after, data: v });
            Status::Ok.raw()
        }
        _ => {
            h.bad = Some(text(data));
            Status::Error.raw()
        }
    }
}

extern "C-unwind" fn fake_top(
    ctx: *mut c_void,
    symbol: Str,
    depth: usize,
    bids: *mut Level,
    asks: *mut Level,
    counts: *mut [usize; 2],
) -> u32 {
    let h = host(ctx);
    let Some((b, a)) = h.books.get(&text(symbol)) else {
        return Status::NotFound.raw();
    };
    let (nb, na) = (b.len().min(depth), a.len().min(depth));
    // SAFETY: the plugin passes buffers with room for `depth` levels a side.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), bids, nb);
        std::ptr::copy_nonoverlapping(a.as_ptr(), asks, na);
        *counts = [nb, na];
    }
    Status::Ok.raw()
}

extern "C-unwind" fn fake_resync(ctx: *mut c_void, symbol: Str) -> u32 {
    host(ctx).out.resyncs.push(text(symbol));
    Status::Ok.raw()
}

extern "C-unwind" fn fake_error(ctx: *mut c_void, message: Str) {
    host(ctx).error = Some(text(message));
}

extern "C-unwind" fn collect_report(ctx: *mut c_void, path: Str, message: Str) {
    // SAFETY: the harness passes its own list as ctx.
    let list = unsafe { &mut *ctx.cast::<Vec<ConfigError>>() };
    list.push(ConfigError::new(text(path), text(message)));
}

/// What a component's `create` export looks like, for handlers and sinks alike.
type CreateFn = extern "C-unwind" fn(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
    out: *mut *mut c_void,
) -> u32;

/// Runs a component's `validate` export on `config`, as kobe does at `kobe validate` time.
fn validate_with(component: &ComponentDecl, config: &serde_json::Value) -> Vec<ConfigError> {
    let text = config.to_string();
    let mut errors: Vec<ConfigError> = Vec::new();
    (component.validate)(
        Str::new(&text),
        (&mut errors as *mut Vec<ConfigError>).cast(),
        collect_report,
    );
    errors
}

/// Runs a component's `create` export on `config`: the instance, or every problem reported.
fn create_with(
    create: CreateFn,
    config: &serde_json::Value,
) -> Result<*mut c_void, Vec<ConfigError>> {
    let text = config.to_string();
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut instance: *mut c_void = std::ptr::null_mut();
    let status = create(
        Str::new(&text),
        (&mut errors as *mut Vec<ConfigError>).cast(),
        collect_report,
        &mut instance,
    );
    if Status::from_raw(status) != Status::Ok || instance.is_null() {
        return Err(errors);
    }
    Ok(instance)
}

/// Drives handler `H` through its exported function table.
pub struct HandlerHarness<H: Handler> {
    table: &'static HandlerVTable,
    instance: *mut c_void,
    host: FakeHost,
    _h: PhantomData<H>,
}

impl<H: Handler> HandlerHarness<H> {
    const TABLE: HandlerVTable = handler_vtable::<H>();

    /// Every problem kobe would show for `config` at `kobe validate` time.
    pub fn validate(config: serde_json::Value) -> Vec<ConfigError> {
        validate_with(&Self::TABLE.component, &config)
    }

    /// Builds an instance from `config`, or every problem with it.
    pub fn new(config: serde_json::Value) -> Result<Self, Vec<ConfigError>> {
        let table: &'static HandlerVTable = &Self::TABLE;
        let instance = create_with(table.create, &config)?;
        Ok(Self {
            table,
            instance,
            host: FakeHost::default(),
            _h: PhantomData,
        })
    }

    /// Sets `symbol`'s book as the host will show it (levels as `(price, qty)`, best first).
    pub fn set_book(&mut self, symbol: &str, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        self.host
            .books
            .insert(symbol.to_string(), (levels(bids), levels(asks)));
    }

    /// Runs one batch; `Err` carries the handler's error or caught panic text.
    pub fn process(&mut self, events: &[TestEvent]) -> Result<Outcome, String> {
        let raw: Vec<abi::Event> = events.iter().map(TestEvent::to_abi).collect();
        let batch = abi::Batch {
            events: raw.as_ptr(),
            len: raw.len(),
        };
        self.host.out = Outcome::default();
        self.host.error = None;
        self.host.bad = None;
        let api = HostApi {
            ctx: (&mut self.host as *mut FakeHost).cast(),
            emit: fake_emit,
            book_top: fake_top,
            resync: fake_resync,
            error: fake_error,
        };
        let status = Status::from_raw((self.table.process)(self.instance, &batch, &api));
        if let Some(bad) = self.host.bad.take() {
            return Err(format!("emitted a record that is not a JSON object: {bad}"));
        }
        match status {
            Status::Ok => Ok(std::mem::take(&mut self.host.out)),
            other => Err(self
                .host
                .error
                .take()
                .unwrap_or_else(|| format!("{other:?}"))),
        }
    }
}

impl<H: Handler> Drop for HandlerHarness<H> {
    fn drop(&mut self) {
        (self.table.destroy)(self.instance);
    }
}

extern "C-unwind" fn keep_error(ctx: *mut c_void, message: Str) {
    // SAFETY: the harness passes its own slot as ctx.
    let slot = unsafe { &mut *ctx.cast::<Option<String>>() };
    *slot = Some(text(message));
}

/// Drives sink `S` through its exported function table.
pub struct SinkHarness<S: Sink> {
    table: &'static SinkVTable,
    instance: *mut c_void,
    _s: PhantomData<S>,
}

impl<S: Sink> SinkHarness<S> {
    const TABLE: SinkVTable = sink_vtable::<S>();

    /// Every problem kobe would show for `config` at `kobe validate` time.
    pub fn validate(config: serde_json::Value) -> Vec<ConfigError> {
        validate_with(&Self::TABLE.component, &config)
    }

    /// Opens an instance from `config`, or every problem with it.
    pub fn open(config: serde_json::Value) -> Result<Self, Vec<ConfigError>> {
        let table: &'static SinkVTable = &Self::TABLE;
        let instance = create_with(table.create, &config)?;
        Ok(Self {
            table,
            instance,
            _s: PhantomData,
        })
    }

    /// Writes records given as `(type, symbol, bytes)`.
    pub fn write(&mut self, records: &[(&str, Option<&str>, &[u8])]) -> Result<(), String> {
        let raw: Vec<abi::Record> = records
            .iter()
            .map(|(kind, symbol, bytes)| abi::Record {
                kind: Str::new(kind),
                symbol: symbol.map_or(Str::EMPTY, Str::new),
                bytes: Str::bytes(bytes),
            })
            .collect();
        let mut error: Option<String> = None;
        let status = (self.table.write)(
            self.instance,
            raw.as_ptr(),
            raw.len(),
            (&mut error as *mut Option<String>).cast(),
            keep_error,
        );
        match Status::from_raw(status) {
            Status::Ok => Ok(()),
            other => Err(error.unwrap_or_else(|| format!("{other:?}"))),
        }
    }

    /// Flushes and closes.
    pub fn close(mut self) -> Result<(), String> {
        let mut error: Option<String> = None;
        let instance = std::mem::replace(&mut self.instance, std::ptr::null_mut());
        let status = (self.table.close)(
            instance,
            (&mut error as *mut Option<String>).cast(),
            keep_error,
        );
        match Status::from_raw(status) {
            Status::Ok => Ok(()),
            other => Err(error.unwrap_or_else(|| format!("{other:?}"))),
        }
    }
}

impl<S: Sink> Drop for SinkHarness<S> {
    fn drop(&mut self) {
        if !self.instance.is_null() {
            let mut error: Option<String> = None;
            (self.table.close)(
                self.instance,
                (&mut error as *mut Option<String>).cast(),
                keep_error,
            );
        }
    }
}

/// A decimal from its parts, for tests (`dec(452835, 1)` is `45283.5`).
pub fn dec(mantissa: u128, scale: u8) -> Decimal {
    Decimal::new(mantissa, scale.min(MAX_SCALE)).unwrap_or_default()
}
