//! Config-time calls into a component's table: its schema, and validation with every problem
//! collected. Text crosses through callbacks that copy it, so nothing is freed across the
//! boundary.

use std::ffi::c_void;

use kobe_core::ConfigError;
use kobe_plugin_sdk::abi::{ComponentDecl, ReportFn, Status, Str};

use crate::library::text;

extern "C-unwind" fn keep_text(ctx: *mut c_void, s: Str) {
    // SAFETY: ctx is the `String` the caller passed for this call.
    let out = unsafe { &mut *ctx.cast::<String>() };
    out.push_str(&text(s));
}

/// Collects `(path, message)` reports as config errors under `config`.
pub(crate) extern "C-unwind" fn collect(ctx: *mut c_void, path: Str, message: Str) {
    // SAFETY: ctx is the `Vec` the caller passed for this call.
    let out = unsafe { &mut *ctx.cast::<Vec<ConfigError>>() };
    let path = text(path);
    let path = if path.is_empty() {
        "config".to_string()
    } else {
        format!("config.{path}")
    };
    out.push(ConfigError::new(path, text(message)));
}

/// The component's config schema (JSON), or why not.
pub fn schema(c: &ComponentDecl) -> Result<serde_json::Value, String> {
    let mut out = String::new();
    let status = Status::from_raw((c.config_schema)(
        (&mut out as *mut String).cast(),
        keep_text,
    ));
    if status != Status::Ok {
        return Err(format!("the plugin could not describe its config: {out}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("the plugin's config schema is not JSON: {e}"))
}

/// Runs a `validate` or `create`-like call with a report callback; returns its status and the
/// problems it reported (paths under `config`).
pub(crate) fn with_report(
    call: impl FnOnce(*mut c_void, ReportFn) -> u32,
) -> (Status, Vec<ConfigError>) {
    let mut errors: Vec<ConfigError> = Vec::new();
    let status = Status::from_raw(call((&mut errors as *mut Vec<ConfigError>).cast(), collect));
    if status == Status::Panicked {
        for e in &mut errors {
            e.message = format!("the plugin panicked checking its config: {}", e.message);
        }
    }
    if status != Status::Ok && errors.is_empty() {
        errors.push(ConfigError::new(
            "config",
            format!("refused by the plugin ({status:?})"),
        ));
    }
    (status, errors)
}

/// Every problem the plugin finds with `config`.
pub fn validate(c: &ComponentDecl, config: &str) -> Vec<ConfigError> {
    with_report(|ctx, report| (c.validate)(Str::new(config), ctx, report)).1
}

/// Collects the text of an error callback.
pub(crate) extern "C-unwind" fn keep_error(ctx: *mut c_void, s: Str) {
    keep_text(ctx, s)
}

/// A problem reported by `create`: with its path for a refused config, as it is otherwise (the
/// plugin failed to open, or panicked).
pub(crate) fn describe(status: Status, e: &ConfigError) -> String {
    if status == Status::InvalidConfig {
        format!("{}: {}", e.path, e.message)
    } else {
        e.message.clone()
    }
}
