//! Opening a plugin library and checking its declaration before anything else is called.
//! Libraries are never unloaded: code of theirs may still be referenced (function tables,
//! instances on other threads) until the process exits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kobe_plugin_sdk::abi::{
    self, Declaration, HandlerVTable, SinkVTable, ABI_VERSION, DECLARATION_SYMBOL, MAGIC,
};

/// Why a library cannot be used as a plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// There is no file at the path.
    #[error("no plugin library at {0} (paths are relative to the working directory)")]
    Missing(PathBuf),
    /// The system loader refused the file.
    #[error("{path} is not a loadable shared library: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's words.
        reason: String,
    },
    /// The library has no kobe declaration.
    #[error("{0} is not a kobe plugin: it exports no `{DECLARATION_SYMBOL}` (build it with kobe-plugin-sdk's `export_plugin!`)")]
    NotAPlugin(PathBuf),
    /// The declaration does not start with the magic bytes.
    #[error("{0} is not a kobe plugin: its `{DECLARATION_SYMBOL}` is not a kobe declaration")]
    BadMagic(PathBuf),
    /// Built against another ABI.
    #[error("{path} was built for kobe plugin ABI version {found}, this kobe speaks version {expected}; rebuild the plugin against a kobe-plugin-sdk with ABI {expected}")]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// Its ABI version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The declaration's size disagrees with this ABI version's.
    #[error("{path} declares ABI {ABI_VERSION} but its declaration is {found} bytes, expected {expected}; the library is corrupt or was built by a broken SDK")]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Its size.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The library offers no component of the kind asked for.
    #[error("{path} ({name}) has no {kind} component; it offers: {offers}")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// `handler` or `sink`.
        kind: &'static str,
        /// What it has.
        offers: String,
    },
}

/// A loaded, checked plugin library.
#[derive(Debug)]
pub struct Plugin {
    /// The path it was loaded from.
    pub path: PathBuf,
    /// Its name (crate name).
    pub name: String,
    /// Its version.
    pub version: String,
    /// The SDK version it was built with.
    pub sdk_version: String,
    /// Its ABI version (equal to ours once loaded).
    pub abi_version: u32,
    /// Its handler, if any.
    pub handler: Option<&'static HandlerVTable>,
    /// Its sink, if any.
    pub sink: Option<&'static SinkVTable>,
}

impl Plugin {
    /// What it offers, for messages (`handler spread`).
    pub fn offers(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = self.handler {
            parts.push(format!("handler `{}`", text(h.component.type_name)));
        }
        if let Some(s) = self.sink {
            parts.push(format!("sink `{}`", text(s.component.type_name)));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }

    /// Its handler, or why there is none.
    pub fn handler(&self) -> Result<&'static HandlerVTable, LoadError> {
        self.handler.ok_or_else(|| self.wrong_kind("handler"))
    }

    /// Its sink, or why there is none.
    pub fn sink(&self) -> Result<&'static SinkVTable, LoadError> {
        self.sink.ok_or_else(|| self.wrong_kind("sink"))
    }

    fn wrong_kind(&self, kind: &'static str) -> LoadError {
        LoadError::WrongKind {
            path: self.path.clone(),
            name: self.name.clone(),
            kind,
            offers: self.offers(),
        }
    }
}

/// Text of a declaration or a callback as a `String` (invalid UTF-8 replaced).
pub fn text(s: abi::Str) -> String {
    // SAFETY: declaration text is static data of a library that is never unloaded.
    unsafe { s.to_string_lossy() }
}

/// Libraries loaded so far, by the path as given and by canonical path.
static LOADED: Mutex<Vec<(PathBuf, &'static Plugin)>> = Mutex::new(Vec::new());

/// Loads the plugin at `path` once per process (later calls return the same one) and checks
/// its declaration. Never unloads.
pub fn load(path: &Path) -> Result<&'static Plugin, LoadError> {
    if !path.exists() {
        return Err(LoadError::Missing(path.to_path_buf()));
    }
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = loaded.iter().find(|(c, _)| *c == canonical) {
        return Ok(p);
    }
    // A bare file name would make the system loader search its library path instead.
    let plugin = open(path, &canonical)?;
    let plugin: &'static Plugin = Box::leak(Box::new(plugin));
    loaded.push((canonical, plugin));
    Ok(plugin)
}

fn open(path: &Path, canonical: &Path) -> Result<Plugin, LoadError> {
    // SAFETY: loading runs the library's initialisers; a kobe plugin built with the SDK has
    // none of its own. This is the trust a user gives a library named in a pipeline file.
    let library = unsafe { libloading::Library::new(canonical) }.map_err(|e| LoadError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Never unloaded: the tables and instances point into it for the life of the process.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's address is only read through `read_declaration`, which checks the
    // fixed prefix before anything else.
    let decl: *const Declaration = unsafe {
        match library.get::<*const Declaration>(DECLARATION_SYMBOL.as_bytes()) {
            Ok(sym) => *sym,
            Err(_) => return Err(LoadError::NotAPlugin(path.to_path_buf())),
        }
    };
    // SAFETY: `decl` is the address of the exported static in a library kept loaded.
    unsafe { read_declaration(path, decl) }
}

/// Reads a declaration: the magic and ABI version first (fixed for every ABI version), the
/// rest only when both match.
///
/// # Safety
/// `decl` must point at readable static memory of at least the fixed prefix.
pub unsafe fn read_declaration(path: &Path, decl: *const Declaration) -> Result<Plugin, LoadError> {
    if decl.is_null() {
        return Err(LoadError::NotAPlugin(path.to_path_buf()));
    }
    // SAFETY: the prefix is present in every ABI version (caller's promise).
    let magic: [u8; 8] = unsafe { std::ptr::addr_of!((*decl).magic).read_unaligned() };
    if magic != MAGIC {
        return Err(LoadError::BadMagic(path.to_path_buf()));
    }
    // SAFETY: as above.
    let abi_version: u32 = unsafe { std::ptr::addr_of!((*decl).abi_version).read_unaligned() };
    if abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: path.to_path_buf(),
            found: abi_version,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: same ABI version, so the whole declaration has our layout.
    let d = unsafe { &*decl };
    let expected = std::mem::size_of::<Declaration>() as u32;
    if d.size != expected {
        return Err(LoadError::BadSize {
            path: path.to_path_buf(),
            found: d.size,
            expected,
        });
    }
    Ok(Plugin {
        path: path.to_path_buf(),
        name: text(d.name),
        version: text(d.version),
        sdk_version: text(d.sdk_version),
        abi_version,
        // SAFETY: non-null tables are static data of the same library.
        handler: unsafe { d.handler.as_ref() },
        // SAFETY: as above.
        sink: unsafe { d.sink.as_ref() },
    })
}

/// A plugin linked into this binary: its tables are ours, no library involved.
pub fn linked(
    name: &str,
    handler: Option<&'static HandlerVTable>,
    sink: Option<&'static SinkVTable>,
) -> Plugin {
    Plugin {
        path: PathBuf::from(format!("(built in: {name})")),
        name: name.to_string(),
        version: String::new(),
        sdk_version: abi::SDK_VERSION.to_string(),
        abi_version: ABI_VERSION,
        handler,
        sink,
    }
}

/// Kept so tests can tell what was loaded.
pub fn loaded_paths() -> Vec<PathBuf> {
    LOADED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}
