//! The exported side of the ABI, generated for a plugin's types: every `extern "C-unwind"`
//! function here catches panics and turns them into [`Status::Panicked`] with the message
//! reported, so no unwind ever crosses into the host. [`crate::export_plugin!`] puts the
//! tables in the library's declaration; a host that links the plugin statically calls the
//! very same tables.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;

use crate::abi::{
    Batch as AbiBatch, ComponentDecl, HandlerVTable, HostApi, Level, Record as AbiRecord, ReportFn,
    SinkVTable, Status, Str, WriteFn,
};
use crate::component::{ConfigError, Handler, Host, Record, Sink};
use crate::view::Batch;

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// Runs `f`, turning a panic into [`Status::Panicked`] (message to `error`).
fn guarded(ctx: *mut c_void, error: WriteFn, f: impl FnOnce() -> Status) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status.raw(),
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            error(ctx, Str::new(&text));
            Status::Panicked.raw()
        }
    }
}

/// Parses a config from JSON text; problems carry their path inside the config.
pub fn parse_config<C: DeserializeOwned>(text: &[u8]) -> Result<C, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde_json's own position is inside the JSON kobe made, useless to a person.
        let mut message = inner.to_string();
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        ConfigError::new(if path == "." { String::new() } else { path }, message)
    })
}

fn report_all(ctx: *mut c_void, report: ReportFn, errors: &[ConfigError]) {
    for e in errors {
        report(ctx, Str::new(&e.path), Str::new(&e.message));
    }
}

/// A config parsed and validated, or every problem reported.
fn checked<C: DeserializeOwned>(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
    validate: fn(&C) -> Vec<ConfigError>,
) -> Result<C, Status> {
    // SAFETY: the host passes a config valid for the call.
    let text = unsafe { config.as_bytes() };
    match parse_config::<C>(text) {
        Err(e) => {
            report_all(ctx, report, &[e]);
            Err(Status::InvalidConfig)
        }
        Ok(c) => {
            let errors = validate(&c);
            if errors.is_empty() {
                Ok(c)
            } else {
                report_all(ctx, report, &errors);
                Err(Status::InvalidConfig)
            }
        }
    }
}

/// Report callbacks double as error sinks for panics: the message goes to the config root.
fn report_as_error(ctx: *mut c_void, report: ReportFn) -> impl Fn(&str) {
    move |text: &str| report(ctx, Str::EMPTY, Str::new(text))
}

fn guarded_report(ctx: *mut c_void, report: ReportFn, f: impl FnOnce() -> Status) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status.raw(),
        Err(payload) => {
            report_as_error(ctx, report)(&panic_text(payload.as_ref()));
            Status::Panicked.raw()
        }
    }
}

extern "C-unwind" fn config_schema<C: schemars::JsonSchema>(
    ctx: *mut c_void,
    write: WriteFn,
) -> u32 {
    guarded(ctx, write, || {
        let schema = schemars::schema_for!(C);
        match serde_json::to_string(&schema) {
            Ok(text) => {
                write(ctx, Str::new(&text));
                Status::Ok
            }
            Err(e) => {
                write(ctx, Str::new(&e.to_string()));
                Status::Error
            }
        }
    })
}

extern "C-unwind" fn handler_validate<H: Handler>(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
) -> u32 {
    guarded_report(ctx, report, || {
        match checked::<H::Config>(config, ctx, report, H::validate) {
            Ok(_) => Status::Ok,
            Err(s) => s,
        }
    })
}

/// A handler instance with the buffers its [`Host`] reuses.
struct HandlerBox<H> {
    handler: H,
    json: Vec<u8>,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

extern "C-unwind" fn handler_create<H: Handler>(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
    out: *mut *mut c_void,
) -> u32 {
    guarded_report(ctx, report, || {
        let config = match checked::<H::Config>(config, ctx, report, H::validate) {
            Ok(c) => c,
            Err(s) => return s,
        };
        match H::new(config) {
            Ok(handler) => {
                let boxed = Box::new(HandlerBox {
                    handler,
                    json: Vec::new(),
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
                // SAFETY: the host passes a valid out-pointer.
                unsafe { *out = Box::into_raw(boxed).cast() };
                Status::Ok
            }
            Err(e) => {
                report(ctx, Str::EMPTY, Str::new(&e));
                Status::Error
            }
        }
    })
}

extern "C-unwind" fn handler_process<H: Handler>(
    instance: *mut c_void,
    batch: *const AbiBatch,
    host: *const HostApi,
) -> u32 {
    // SAFETY: the host passes its own table, valid for the call.
    let api = unsafe { &*host };
    guarded(api.ctx, api.error, || {
        // SAFETY: `instance` came from `handler_create::<H>`; the batch is valid for the call.
        let (this, events) = unsafe {
            let this = &mut *instance.cast::<HandlerBox<H>>();
            let b = &*batch;
            let events = if b.len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(b.events, b.len)
            };
            (this, events)
        };
        // SAFETY: as above.
        let view = unsafe { Batch::from_abi(events) };
        let mut cx = Host::new(api, &mut this.json, &mut this.bids, &mut this.asks);
        match this.handler.process(view, &mut cx) {
            Ok(()) => Status::Ok,
            Err(e) => {
                (api.error)(api.ctx, Str::new(&e));
                Status::Error
            }
        }
    })
}

extern "C-unwind" fn handler_destroy<H: Handler>(instance: *mut c_void) {
    // A panic in a destructor has nowhere to be reported; it is swallowed, never unwound.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !instance.is_null() {
            // SAFETY: `instance` came from `handler_create::<H>` and is freed once.
            drop(unsafe { Box::from_raw(instance.cast::<HandlerBox<H>>()) });
        }
    }));
}

/// The function table of handler `H`.
pub const fn handler_vtable<H: Handler>() -> HandlerVTable {
    HandlerVTable {
        component: ComponentDecl {
            type_name: Str::new(H::TYPE_NAME),
            description: Str::new(H::DESCRIPTION),
            config_schema: config_schema::<H::Config>,
            validate: handler_validate::<H>,
        },
        create: handler_create::<H>,
        process: handler_process::<H>,
        destroy: handler_destroy::<H>,
    }
}

extern "C-unwind" fn sink_validate<S: Sink>(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
) -> u32 {
    guarded_report(ctx, report, || {
        match checked::<S::Config>(config, ctx, report, S::validate) {
            Ok(_) => Status::Ok,
            Err(s) => s,
        }
    })
}

extern "C-unwind" fn sink_create<S: Sink>(
    config: Str,
    ctx: *mut c_void,
    report: ReportFn,
    out: *mut *mut c_void,
) -> u32 {
    guarded_report(ctx, report, || {
        let config = match checked::<S::Config>(config, ctx, report, S::validate) {
            Ok(c) => c,
            Err(s) => return s,
        };
        match S::open(config) {
            Ok(sink) => {
                // SAFETY: the host passes a valid out-pointer.
                unsafe { *out = Box::into_raw(Box::new(sink)).cast() };
                Status::Ok
            }
            Err(e) => {
                report(ctx, Str::EMPTY, Str::new(&e));
                Status::Error
            }
        }
    })
}

fn text<'a>(s: Str) -> &'a str {
    // SAFETY: the host passes UTF-8 valid for the call.
    std::str::from_utf8(unsafe { s.as_bytes() }).unwrap_or("")
}

extern "C-unwind" fn sink_write<S: Sink>(
    instance: *mut c_void,
    records: *const AbiRecord,
    len: usize,
    ctx: *mut c_void,
    error: WriteFn,
) -> u32 {
    guarded(ctx, error, || {
        // SAFETY: `instance` came from `sink_create::<S>`; the records are valid for the call.
        let (sink, raw) = unsafe {
            let raw = if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(records, len)
            };
            (&mut *instance.cast::<S>(), raw)
        };
        let records: Vec<Record<'_>> = raw
            .iter()
            .map(|r| Record {
                kind: text(r.kind),
                symbol: Some(text(r.symbol)).filter(|s| !s.is_empty()),
                // SAFETY: as above.
                bytes: unsafe { r.bytes.as_bytes() },
            })
            .collect();
        match sink.write(&records) {
            Ok(()) => Status::Ok,
            Err(e) => {
                error(ctx, Str::new(&e));
                Status::Error
            }
        }
    })
}

extern "C-unwind" fn sink_flush<S: Sink>(
    instance: *mut c_void,
    ctx: *mut c_void,
    error: WriteFn,
) -> u32 {
    guarded(ctx, error, || {
        // SAFETY: `instance` came from `sink_create::<S>`.
        let sink = unsafe { &mut *instance.cast::<S>() };
        match sink.flush() {
            Ok(()) => Status::Ok,
            Err(e) => {
                error(ctx, Str::new(&e));
                Status::Error
            }
        }
    })
}

extern "C-unwind" fn sink_close<S: Sink>(
    instance: *mut c_void,
    ctx: *mut c_void,
    error: WriteFn,
) -> u32 {
    guarded(ctx, error, || {
        // SAFETY: `instance` came from `sink_create::<S>` and is closed once.
        let sink = unsafe { Box::from_raw(instance.cast::<S>()) };
        match sink.close() {
            Ok(()) => Status::Ok,
            Err(e) => {
                error(ctx, Str::new(&e));
                Status::Error
            }
        }
    })
}

/// The function table of sink `S`.
pub const fn sink_vtable<S: Sink>() -> SinkVTable {
    SinkVTable {
        component: ComponentDecl {
            type_name: Str::new(S::TYPE_NAME),
            description: Str::new(S::DESCRIPTION),
            config_schema: config_schema::<S::Config>,
            validate: sink_validate::<S>,
        },
        create: sink_create::<S>,
        write: sink_write::<S>,
        flush: sink_flush::<S>,
        close: sink_close::<S>,
    }
}

/// Exports a plugin: `export_plugin!(handler: Spread);`, `export_plugin!(sink: RedisStreams);`
/// or both (`handler: A, sink: B`). Emits the declaration static kobe looks for, unless the
/// crate's `static` feature is on (the crate is then linked into a host as a built-in, where
/// two declarations would clash).
#[macro_export]
macro_rules! export_plugin {
    (handler: $h:ty $(,)?) => {
        $crate::export_plugin!(@decl { &$crate::export::handler_vtable::<$h>() } { ::std::ptr::null() });
    };
    (sink: $s:ty $(,)?) => {
        $crate::export_plugin!(@decl { ::std::ptr::null() } { &$crate::export::sink_vtable::<$s>() });
    };
    (handler: $h:ty, sink: $s:ty $(,)?) => {
        $crate::export_plugin!(@decl { &$crate::export::handler_vtable::<$h>() } { &$crate::export::sink_vtable::<$s>() });
    };
    (@decl { $handler:expr } { $sink:expr }) => {
        /// The declaration kobe reads before anything else (see kobe-plugin-sdk's `abi`).
        #[cfg(not(feature = "static"))]
        #[no_mangle]
        pub static kobe_plugin_declaration: $crate::abi::Declaration = $crate::abi::Declaration {
            magic: $crate::abi::MAGIC,
            abi_version: $crate::abi::ABI_VERSION,
            size: ::std::mem::size_of::<$crate::abi::Declaration>() as u32,
            sdk_version: $crate::abi::Str::new($crate::abi::SDK_VERSION),
            name: $crate::abi::Str::new(env!("CARGO_PKG_NAME")),
            version: $crate::abi::Str::new(env!("CARGO_PKG_VERSION")),
            handler: $handler,
            sink: $sink,
        };
    };
}
