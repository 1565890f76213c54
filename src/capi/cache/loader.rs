//! Opening cache implementations with `dlopen(RTLD_NOW | RTLD_LOCAL)` and calling them, plus
//! the raw memory copies of `TRITONCACHE_Copy` and of cached responses.
//!
//! `TRITONCACHE_CacheInitialize`, `CacheFinalize`, `CacheLookup` and `CacheInsert` are all
//! required. A library is opened once per process and never closed; each server initializes
//! its own cache object and finalizes it when the server is gone.

use crate::engine::buffer::Addr;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};

use super::{TRITONCACHE_Allocator, TRITONCACHE_CacheEntry};
use crate::capi::handle::{backend_error, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::cache::{CacheEntry, CacheLibrary, CacheLoader, OutputMemory};
use crate::engine::infer::AllocatedBuffer;
use crate::engine::types::MemoryType;
use crate::engine::{Error, Result};

/// The opaque cache object an implementation creates (`TRITONCACHE_Cache`).
pub type TRITONCACHE_Cache = c_void;

type InitFn =
    unsafe extern "C" fn(*mut *mut TRITONCACHE_Cache, *const c_char) -> *mut TRITONSERVER_Error;
type FiniFn = unsafe extern "C" fn(*mut TRITONCACHE_Cache) -> *mut TRITONSERVER_Error;
type EntryFn = unsafe extern "C" fn(
    *mut TRITONCACHE_Cache,
    *const c_char,
    *mut TRITONCACHE_CacheEntry,
    *mut TRITONCACHE_Allocator,
) -> *mut TRITONSERVER_Error;

struct Entrypoints {
    init: InitFn,
    fini: FiniFn,
    lookup: EntryFn,
    insert: EntryFn,
    _library: Library,
}

static LIBRARIES: LazyLock<Mutex<HashMap<PathBuf, Arc<Entrypoints>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Look up a required symbol and copy out its function pointer.
///
/// # Safety
///
/// `T` is the function pointer type tritoncache.h declares for the entry point `name`.
unsafe fn required<T: Copy>(lib: &Library, name: &str, path: &Path) -> Result<T> {
    let sym = format!("{name}\0");
    // SAFETY: the caller names an entry point of the cache API and asks for the fn-pointer type
    // `T` that tritoncache.h fixes for it.
    unsafe { lib.get::<T>(sym.as_bytes()) }
        .map(|s: Symbol<T>| *s)
        .map_err(|_| {
            Error::not_found(format!(
                "unable to find required entrypoint '{name}' in cache library: {}",
                path.display()
            ))
        })
}

fn open_library(path: &Path) -> Result<Arc<Entrypoints>> {
    let mut libs = crate::engine::sync::lock(&LIBRARIES);
    if let Some(l) = libs.get(path) {
        return Ok(l.clone());
    }
    // SAFETY: opening the cache library runs its initializers; loading the configured cache is
    // what the server is asked to do.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        let detail = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        Error::not_found(format!(
            "unable to load cache library '{}': {detail}",
            path.display()
        ))
    })?;
    // SAFETY: each field's type (InitFn, FiniFn, EntryFn) is the one tritoncache.h declares for
    // the entry point looked up for it.
    let eps = unsafe {
        Entrypoints {
            init: required(&library, "TRITONCACHE_CacheInitialize", path)?,
            fini: required(&library, "TRITONCACHE_CacheFinalize", path)?,
            lookup: required(&library, "TRITONCACHE_CacheLookup", path)?,
            insert: required(&library, "TRITONCACHE_CacheInsert", path)?,
            _library: library,
        }
    };
    let eps = Arc::new(eps);
    libs.insert(path.to_path_buf(), eps.clone());
    Ok(eps)
}

/// Opens cache implementations with `dlopen`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DlopenCacheLoader;

impl CacheLoader for DlopenCacheLoader {
    fn open(&self, path: &Path, config_json: &str) -> Result<Arc<dyn CacheLibrary>> {
        let eps = open_library(path)?;
        let config = CString::new(config_json)
            .map_err(|_| Error::invalid_arg("cache config contains a NUL byte"))?;
        let mut cache: *mut TRITONCACHE_Cache = std::ptr::null_mut();
        // SAFETY: TRITONCACHE_CacheInitialize with a valid out-pointer and a NUL-terminated
        // configuration that outlives the call.
        // It returns NULL or a new error object, which the core then owns (tritoncache.h).
        unsafe { backend_error((eps.init)(&mut cache, config.as_ptr())) }?;
        if cache.is_null() {
            return Err(Error::internal("Failed to initialize cache implementation"));
        }
        Ok(Arc::new(CCache {
            path: path.to_path_buf(),
            eps,
            cache: Addr::of(cache),
        }))
    }
}

/// An initialized cache implementation.
pub struct CCache {
    path: PathBuf,
    eps: Arc<Entrypoints>,
    /// The implementation's `TRITONCACHE_Cache*`.
    cache: Addr,
}

impl CCache {
    fn call(
        &self,
        f: EntryFn,
        key: &str,
        allocator: &TRITONCACHE_Allocator,
        entry: &CacheEntry,
    ) -> Result<()> {
        let key =
            CString::new(key).map_err(|_| Error::invalid_arg("cache key contains a NUL byte"))?;
        // SAFETY: TRITONCACHE_CacheLookup / CacheInsert with the cache object its Initialize
        // returned, a NUL-terminated key, and an entry and allocator that live for the call (the
        // cache API only uses them during it).
        // It returns NULL or a new error object, which the core then owns (tritoncache.h).
        unsafe {
            backend_error(f(
                self.cache.ptr::<TRITONCACHE_Cache>(),
                key.as_ptr(),
                std::ptr::from_ref(entry).cast_mut(),
                std::ptr::from_ref(allocator).cast_mut(),
            ))
        }
    }
}

impl CacheLibrary for CCache {
    fn lookup(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        let entry = CacheEntry::default();
        let allocator = TRITONCACHE_Allocator::FromCache(Mutex::new(None));
        self.call(self.eps.lookup, key, &allocator, &entry)?;
        match allocator {
            TRITONCACHE_Allocator::FromCache(m) => {
                crate::engine::sync::into_inner(m).ok_or_else(|| {
                    Error::internal("the cache did not copy the entry (TRITONCACHE_Copy)")
                })
            }
            TRITONCACHE_Allocator::ToCache(_) => Err(Error::internal("unexpected allocator")),
        }
    }

    fn insert(&self, key: &str, buffers: Vec<Vec<u8>>) -> Result<()> {
        let entry = CacheEntry::with_sizes(buffers.iter().map(Vec::len));
        let allocator = TRITONCACHE_Allocator::ToCache(buffers);
        self.call(self.eps.insert, key, &allocator, &entry)
    }
}

impl Drop for CCache {
    fn drop(&mut self) {
        crate::log_verbose!(
            1,
            "Calling TRITONCACHE_CacheFinalize from: '{}'",
            self.path.display()
        );
        // SAFETY: TRITONCACHE_CacheFinalize, once, with the object its Initialize returned.
        // It returns NULL or a new error object, which the core then owns (tritoncache.h).
        let r = unsafe { backend_error((self.eps.fini)(self.cache.ptr::<TRITONCACHE_Cache>())) };
        if let Err(e) = r {
            crate::log_error!("failed finalizing cache: {}", e.message());
        }
    }
}

/// `TRITONCACHE_Copy`: copy the entry's buffers out (lookup) or fill them (insert). `_c` is the
/// token of the `TRITONCACHE_Copy` call: its caller (the cache) vouches for the buffers it put
/// in the entry.
pub(super) fn allocate(
    _c: Contract,
    allocator: &TRITONCACHE_Allocator,
    entry: &CacheEntry,
) -> Result<()> {
    let buffers = entry.buffers();
    match allocator {
        TRITONCACHE_Allocator::FromCache(out) => {
            let mut copies = Vec::with_capacity(buffers.len());
            for (addr, size) in buffers {
                if addr.is_null() {
                    return Err(Error::internal("buffer was nullptr"));
                }
                // SAFETY: a buffer the cache added to the entry with CacheEntryAddBuffer: `size`
                // readable bytes of host memory, valid until this copy returns (the tritoncache.h
                // contract of the TRITONCACHE_Copy call whose token `_c` is).
                copies.push(unsafe { std::slice::from_raw_parts(addr.ptr::<u8>(), size) }.to_vec());
            }
            *crate::engine::sync::lock(out) = Some(copies);
            Ok(())
        }
        TRITONCACHE_Allocator::ToCache(data) => {
            if buffers.len() != data.len() {
                return Err(Error::internal(format!(
                    "Expected number of buffers in cache does not match. Expected: {}, received: {}",
                    data.len(),
                    buffers.len()
                )));
            }
            for ((addr, size), bytes) in buffers.iter().zip(data) {
                if *size != bytes.len() {
                    return Err(Error::internal(format!(
                        "Expected size of buffer in cache does not match. Expected: {}, received: {size}",
                        bytes.len()
                    )));
                }
                if addr.is_null() {
                    return Err(Error::internal("buffer was nullptr"));
                }
            }
            for ((addr, _), bytes) in buffers.iter().zip(data) {
                // SAFETY: the cache set this buffer with CacheEntrySetBuffer: `bytes.len()`
                // writable bytes of host memory it allocated for the entry (sizes checked
                // above), not overlapping the core's own copy (the tritoncache.h contract of the
                // TRITONCACHE_Copy call whose token `_c` is).
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.ptr::<u8>(), bytes.len())
                };
            }
            Ok(())
        }
    }
}

/// Reads and writes the frontend's output buffers in host memory.
#[derive(Debug, Default, Clone, Copy)]
pub struct CHostOutputMemory;

impl OutputMemory for CHostOutputMemory {
    fn read(&self, b: &AllocatedBuffer) -> Option<Vec<u8>> {
        if !matches!(b.memory_type, MemoryType::Cpu | MemoryType::CpuPinned) {
            return None;
        }
        if b.byte_size == 0 {
            return Some(Vec::new());
        }
        if b.addr.is_null() {
            return None;
        }
        // SAFETY: an output buffer the frontend's allocator returned: `byte_size` bytes of host
        // memory, written by the backend and valid until the response is deleted (the response
        // is alive while it is inserted).
        Some(unsafe { std::slice::from_raw_parts(b.addr.ptr::<u8>(), b.byte_size) }.to_vec())
    }

    fn write(&self, b: &AllocatedBuffer, data: &[u8]) -> Result<()> {
        if !matches!(b.memory_type, MemoryType::Cpu | MemoryType::CpuPinned) {
            return Err(Error::internal(
                "Only input buffers in CPU memory are allowed in cache currently",
            ));
        }
        if data.len() != b.byte_size {
            return Err(Error::internal(format!(
                "cached output size {} does not match the allocated {}",
                data.len(),
                b.byte_size
            )));
        }
        if data.is_empty() {
            return Ok(());
        }
        if b.addr.is_null() {
            return Err(Error::internal("allocated output buffer is NULL"));
        }
        // SAFETY: an output buffer the frontend's allocator just returned for `byte_size`
        // bytes of host memory (checked above), owned by the response being built.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), b.addr.ptr::<u8>(), data.len()) };
        Ok(())
    }
}
