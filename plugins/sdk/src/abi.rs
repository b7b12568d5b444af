//! The C ABI between kobe and a plugin library. Everything here is `#[repr(C)]`; nothing with a
//! Rust layout, no allocator and no runtime handle crosses the boundary.
//!
//! Rules (docs/PLUGINS.md has the full text):
//! - The library exports one static, [`DECLARATION_SYMBOL`], of type [`Declaration`]. Its first
//!   two fields, [`Declaration::magic`] and [`Declaration::abi_version`], never move: a host
//!   reads them first and reads nothing else unless both match.
//! - Any change to a type of this module bumps [`ABI_VERSION`]; hosts load only their own
//!   version.
//! - Every function is `extern "C-unwind"`. A plugin's exports catch every panic and return
//!   [`Status::Panicked`]; the host's callbacks never unwind.
//! - Memory is freed by the side that allocated it: a plugin reports text through callbacks
//!   that copy it, and reads book levels into buffers it owns.
//! - Pointers in a call's arguments are valid only for that call.

use std::ffi::c_void;

/// The ABI this SDK speaks. Hosts refuse a library whose declaration carries another.
pub const ABI_VERSION: u32 = 1;

/// The first eight bytes of every declaration.
pub const MAGIC: [u8; 8] = *b"KOBEPLUG";

/// The exported symbol of the declaration static.
pub const DECLARATION_SYMBOL: &str = "kobe_plugin_declaration";

/// The SDK's crate version, carried in declarations for diagnostics.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Borrowed UTF-8 text or bytes: a pointer and a length (the pointer may dangle when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str {
    /// First byte.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl Str {
    /// The empty text.
    pub const EMPTY: Str = Str {
        ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(),
        len: 0,
    };

    /// Borrows `s` (usable in constants).
    pub const fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Borrows `b`.
    pub fn bytes(b: &[u8]) -> Self {
        Self {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The text, with invalid UTF-8 replaced.
    ///
    /// # Safety
    /// As [`Str::as_bytes`].
    pub unsafe fn to_string_lossy(&self) -> String {
        // SAFETY: the caller's promise.
        String::from_utf8_lossy(unsafe { self.as_bytes() }).into_owned()
    }
}

/// What a call did. Functions return it as a plain `u32` (see [`Status::from_raw`]), so an
/// unknown code from a newer peer is an error, never undefined behaviour.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// Failed; the reason went through the call's report or error callback.
    Error = 1,
    /// The plugin panicked; the panic was caught and its message reported.
    Panicked = 2,
    /// The config was refused; each problem went through the report callback.
    InvalidConfig = 3,
    /// A host lookup found nothing (no such book).
    NotFound = 4,
}

impl Status {
    /// The code that crosses the boundary.
    pub const fn raw(self) -> u32 {
        self as u32
    }

    /// Reads a status returned across the boundary; unknown codes are errors.
    pub fn from_raw(raw: u32) -> Status {
        match raw {
            0 => Status::Ok,
            2 => Status::Panicked,
            3 => Status::InvalidConfig,
            4 => Status::NotFound,
            _ => Status::Error,
        }
    }
}

/// Receives one piece of text (a schema, an error message).
pub type WriteFn = extern "C-unwind" fn(ctx: *mut c_void, text: Str);

/// Receives one config problem: a dotted path inside the plugin's config (empty for the config
/// as a whole) and a message.
pub type ReportFn = extern "C-unwind" fn(ctx: *mut c_void, path: Str, message: Str);

/// The library's declaration: exported as the static [`DECLARATION_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct Declaration {
    /// Always [`MAGIC`].
    pub magic: [u8; 8],
    /// The ABI the library was built against ([`ABI_VERSION`] of its SDK).
    pub abi_version: u32,
    /// `size_of::<Declaration>()` in the library, a second check on the layout.
    pub size: u32,
    /// The SDK version the library was built with.
    pub sdk_version: Str,
    /// The plugin's name (its crate name).
    pub name: Str,
    /// The plugin's version (its crate version).
    pub version: Str,
    /// The handler the library offers, or null.
    pub handler: *const HandlerVTable,
    /// The sink the library offers, or null.
    pub sink: *const SinkVTable,
}

// SAFETY: a declaration is immutable static data: text and function tables.
unsafe impl Sync for Declaration {}

/// What both component kinds declare about themselves.
#[repr(C)]
#[derive(Debug)]
pub struct ComponentDecl {
    /// The component's type name (`spread`).
    pub type_name: Str,
    /// One line on what it does.
    pub description: Str,
    /// Writes the JSON schema of the config (one call of `write`).
    pub config_schema: extern "C-unwind" fn(ctx: *mut c_void, write: WriteFn) -> u32,
    /// Checks a config (JSON text) without building anything; reports every problem.
    pub validate: extern "C-unwind" fn(config: Str, ctx: *mut c_void, report: ReportFn) -> u32,
}

/// A handler's functions.
#[repr(C)]
#[derive(Debug)]
pub struct HandlerVTable {
    /// Type name, description, schema, validation.
    pub component: ComponentDecl,
    /// Builds one instance from a config (JSON text) into `*out`; problems go to `report`.
    pub create: extern "C-unwind" fn(
        config: Str,
        ctx: *mut c_void,
        report: ReportFn,
        out: *mut *mut c_void,
    ) -> u32,
    /// Processes one batch. Nothing it emitted counts unless it returns [`Status::Ok`].
    pub process: extern "C-unwind" fn(
        instance: *mut c_void,
        batch: *const Batch,
        host: *const HostApi,
    ) -> u32,
    /// Frees an instance made by `create`.
    pub destroy: extern "C-unwind" fn(instance: *mut c_void),
}

// SAFETY: function tables are immutable static data.
unsafe impl Sync for HandlerVTable {}
// SAFETY: as above.
unsafe impl Sync for SinkVTable {}

/// A sink's functions.
#[repr(C)]
#[derive(Debug)]
pub struct SinkVTable {
    /// Type name, description, schema, validation.
    pub component: ComponentDecl,
    /// Opens one instance from a config (JSON text) into `*out`; problems go to `report`.
    pub create: extern "C-unwind" fn(
        config: Str,
        ctx: *mut c_void,
        report: ReportFn,
        out: *mut *mut c_void,
    ) -> u32,
    /// Writes a batch of records; on failure the reason goes to `error`.
    pub write: extern "C-unwind" fn(
        instance: *mut c_void,
        records: *const Record,
        len: usize,
        ctx: *mut c_void,
        error: WriteFn,
    ) -> u32,
    /// Pushes buffered records out.
    pub flush: extern "C-unwind" fn(instance: *mut c_void, ctx: *mut c_void, error: WriteFn) -> u32,
    /// Flushes, closes and frees the instance (never used again, whatever it returns).
    pub close: extern "C-unwind" fn(instance: *mut c_void, ctx: *mut c_void, error: WriteFn) -> u32,
}

/// An exact non-negative number: `mantissa / 10^scale`, the mantissa split in two halves.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// Low 64 bits of the mantissa.
    pub lo: u64,
    /// High 64 bits of the mantissa.
    pub hi: u64,
    /// Fractional digits (0 to 18).
    pub scale: u8,
    /// Zero.
    pub _pad: [u8; 7],
}

/// One price level.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Level {
    /// The price.
    pub price: Decimal,
    /// The quantity (zero deletes, in an update).
    pub qty: Decimal,
}

/// Levels of one side: a pointer and a count.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Levels {
    /// First level.
    pub ptr: *const Level,
    /// Number of levels.
    pub len: usize,
}

/// Event type codes in [`Event::kind`]. Stable: new types get new numbers, numbers are never
/// reused.
pub mod kind {
    /// A full book.
    pub const BOOK_SNAPSHOT: u32 = 1;
    /// Changed levels of a book.
    pub const BOOK_UPDATE: u32 = 2;
    /// The top of a book after a change.
    pub const BOOK_TOP: u32 = 3;
    /// Kraken's checksum disagreed with the book.
    pub const CHECKSUM_MISMATCH: u32 = 4;
    /// A book was thrown away.
    pub const BOOK_RESET: u32 = 5;
    /// Exchange status.
    pub const STATUS: u32 = 6;
    /// Kraken heartbeat.
    pub const HEARTBEAT: u32 = 7;
    /// Instrument precision.
    pub const INSTRUMENT: u32 = 8;
    /// Subscription acknowledged.
    pub const SUBSCRIPTION_ACK: u32 = 9;
    /// Subscription refused.
    pub const SUBSCRIPTION_ERROR: u32 = 10;
    /// A frame as received.
    pub const RAW: u32 = 11;
    /// A record emitted by a plugin.
    pub const PLUGIN: u32 = 12;
}

/// Bits of [`Event::flags`].
pub mod flags {
    /// `exchange_ts` is set.
    pub const HAS_EXCHANGE_TS: u32 = 1;
    /// `checksum` is set (the message carried one).
    pub const HAS_CHECKSUM: u32 = 2;
    /// The checksum handler has looked; `CHECKSUM_OK` says what it found.
    pub const CHECKSUM_CHECKED: u32 = 4;
    /// The book matched Kraken's checksum.
    pub const CHECKSUM_OK: u32 = 8;
}

/// One event of a batch, as a handler plugin sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// One of [`kind`].
    pub kind: u32,
    /// Bits of [`flags`].
    pub flags: u32,
    /// The pair (`BTC/USD`); empty when the event has none.
    pub symbol: Str,
    /// The engine's per-symbol sequence number (0 until the engine numbers the batch, after
    /// the handler chain).
    pub seq: u64,
    /// Exchange time, nanoseconds since the Unix epoch (when `HAS_EXCHANGE_TS`).
    pub exchange_ts: i64,
    /// Receive time, nanoseconds since the Unix epoch.
    pub received_ts: i64,
    /// Kraken's checksum (when `HAS_CHECKSUM`).
    pub checksum: u32,
    /// Zero.
    pub _pad: u32,
    /// Bids: snapshots best first, updates as sent, `book_top` best first.
    pub bids: Levels,
    /// Asks: likewise.
    pub asks: Levels,
}

/// A batch of events: one `process` call sees all of them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Batch {
    /// First event.
    pub events: *const Event,
    /// Number of events.
    pub len: usize,
}

/// What a handler may ask of the host while it processes a batch (valid for that call only).
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// Passed back to every callback.
    pub ctx: *mut c_void,
    /// Emits a record (`data`: a JSON object) placed right after event `after` of the batch,
    /// with that event's symbol and timestamps.
    pub emit: extern "C-unwind" fn(ctx: *mut c_void, after: usize, data: Str) -> u32,
    /// Copies up to `depth` best levels a side of `symbol`'s current book into `bids` and
    /// `asks` (each with room for `depth` levels) and their counts into `counts`;
    /// [`Status::NotFound`] when the symbol has no valid book.
    pub book_top: extern "C-unwind" fn(
        ctx: *mut c_void,
        symbol: Str,
        depth: usize,
        bids: *mut Level,
        asks: *mut Level,
        counts: *mut [usize; 2],
    ) -> u32,
    /// Asks the source to resync `symbol` (unsubscribe, subscribe, fresh snapshot).
    pub resync: extern "C-unwind" fn(ctx: *mut c_void, symbol: Str) -> u32,
    /// Reports why `process` failed (or the panic message).
    pub error: WriteFn,
}

/// One record for a sink: rendered bytes (no trailing newline), with their type and symbol.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The event type name (`book_update`).
    pub kind: Str,
    /// The pair; empty when the record has none.
    pub symbol: Str,
    /// The rendered record.
    pub bytes: Str,
}
