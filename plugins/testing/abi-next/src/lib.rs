//! Test-only library built as if by an SDK with the next ABI version: a valid declaration
//! prefix (magic, version) with a version kobe does not speak. kobe must refuse it before
//! reading anything past the prefix, so the rest is left empty.

use kobe_plugin_sdk::abi::{Declaration, Str, ABI_VERSION, MAGIC};

/// The declaration, one ABI version ahead.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static kobe_plugin_declaration: Declaration = Declaration {
    magic: MAGIC,
    abi_version: ABI_VERSION + 1,
    size: 0,
    sdk_version: Str::new("99.0.0"),
    name: Str::new("abi-next"),
    version: Str::new("0.0.0"),
    handler: std::ptr::null(),
    sink: std::ptr::null(),
};
