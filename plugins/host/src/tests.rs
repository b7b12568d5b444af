//! The declaration is checked before anything else.

use std::path::Path;

use kobe_plugin_sdk::abi::{Declaration, Str, ABI_VERSION, MAGIC};

use crate::library::{read_declaration, LoadError};

fn declaration(magic: [u8; 8], abi_version: u32, size: u32) -> Declaration {
    Declaration {
        magic,
        abi_version,
        size,
        sdk_version: Str::new("0.1.0"),
        name: Str::new("test"),
        version: Str::new("1.2.3"),
        handler: std::ptr::null(),
        sink: std::ptr::null(),
    }
}

fn read(d: &Declaration) -> Result<crate::Plugin, LoadError> {
    // SAFETY: a declaration on the stack, alive for the call.
    unsafe { read_declaration(Path::new("x.so"), d) }
}

#[test]
fn magic_version_and_size_are_checked_in_that_order() {
    let size = std::mem::size_of::<Declaration>() as u32;
    assert!(matches!(
        read(&declaration(*b"NOTKOBE!", ABI_VERSION + 1, 0)),
        Err(LoadError::BadMagic(_))
    ));
    assert!(matches!(
        read(&declaration(MAGIC, ABI_VERSION + 1, 0)),
        Err(LoadError::AbiMismatch { found, expected, .. }) if found == ABI_VERSION + 1 && expected == ABI_VERSION
    ));
    assert!(matches!(
        read(&declaration(MAGIC, ABI_VERSION, size + 8)),
        Err(LoadError::BadSize { .. })
    ));
    let ok = read(&declaration(MAGIC, ABI_VERSION, size)).unwrap();
    assert_eq!((ok.name.as_str(), ok.version.as_str()), ("test", "1.2.3"));
    assert_eq!(ok.offers(), "nothing");
    assert!(matches!(
        ok.handler(),
        Err(LoadError::WrongKind {
            kind: "handler",
            ..
        })
    ));
    // SAFETY: null is refused before it is read.
    assert!(matches!(
        unsafe { read_declaration(Path::new("x.so"), std::ptr::null()) },
        Err(LoadError::NotAPlugin(_))
    ));
}

#[test]
fn a_missing_file_is_reported_before_the_loader_runs() {
    assert!(matches!(
        crate::load(Path::new("./no/such/libplugin.so")),
        Err(LoadError::Missing(_))
    ));
}
