//! `tritoncache.h`: the functions cache implementations call, and the loader that opens them.
//!
//! Methods: `ApiVersion`, `CacheEntryBufferCount`, `CacheEntryAddBuffer`,
//! `CacheEntryGetBuffer`, `CacheEntrySetBuffer`, `Copy`, plus `CacheEntryNew` and
//! `CacheEntryDelete` (exported by upstream's core though its header does not declare them).
//!
//! 1. Insert: the core hands the cache an entry with one placeholder buffer per response (NULL
//!    base, the size to store); the cache sets its own buffers with `CacheEntrySetBuffer` and
//!    calls `Copy`, which fills them.
//! 2. Lookup: the cache adds its stored buffers with `CacheEntryAddBuffer` and calls `Copy`,
//!    which copies them out. Only host (CPU or pinned) memory is supported.

pub mod loader;

use crate::engine::buffer::Addr;
use std::ffi::c_void;
use std::sync::Mutex;

use crate::capi::boundary::ffi_try;
use crate::capi::callback::TRITONSERVER_BufferAttributes;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::types::MemoryType;
use crate::engine::{Error, Result};

/// `TRITONCACHE_API_VERSION_MAJOR`: the major version of the cache API.
pub const TRITONCACHE_API_VERSION_MAJOR: u32 = 0;
/// `TRITONCACHE_API_VERSION_MINOR`: the minor version of the cache API.
pub const TRITONCACHE_API_VERSION_MINOR: u32 = 1;

/// A cache entry (`TRITONCACHE_CacheEntry`): buffers passed between the core and the cache.
pub type TRITONCACHE_CacheEntry = crate::engine::cache::CacheEntry;

/// What `TRITONCACHE_Copy` does with an entry (`TRITONCACHE_Allocator`), lent by the core
/// for the duration of a lookup or an insert.
pub enum TRITONCACHE_Allocator {
    /// Lookup: copy the entry's buffers out of the cache.
    FromCache(Mutex<Option<Vec<Vec<u8>>>>),
    /// Insert: copy these bytes into the buffers the cache set in the entry.
    ToCache(Vec<Vec<u8>>),
}

fn check_host(t: MemoryType) -> Result<()> {
    if matches!(t, MemoryType::Cpu | MemoryType::CpuPinned) {
        Ok(())
    } else {
        Err(Error::invalid_arg(
            "Only buffers in CPU memory are allowed in cache currently",
        ))
    }
}

/// The cache API version this library implements (0.1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_ApiVersion's caller passes writable `major` and `minor`, as tritoncache.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_ApiVersion", || {
        let major = c.out_ptr(major, "major")?;
        let minor = c.out_ptr(minor, "minor")?;
        major.write(TRITONCACHE_API_VERSION_MAJOR);
        minor.write(TRITONCACHE_API_VERSION_MINOR);
        Ok(())
    })
}

/// Create an empty cache entry; free it with `TRITONCACHE_CacheEntryDelete`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntryNew(
    entry: *mut *mut TRITONCACHE_CacheEntry,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntryNew's caller passes writable `entry`, as tritoncache.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntryNew", || {
        c.out_ptr(entry, "entry")?.write(into_raw(Box::default()));
        Ok(())
    })
}

/// Free a cache entry from `TRITONCACHE_CacheEntryNew` (not the buffers it points to).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntryDelete(
    entry: *mut TRITONCACHE_CacheEntry,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntryDelete's caller passes a cache entry it owns and gives up, as
    // tritoncache.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntryDelete", || {
        drop(c.take_box(entry, "entry")?);
        Ok(())
    })
}

/// The number of buffers in an entry.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntryBufferCount(
    entry: *mut TRITONCACHE_CacheEntry,
    count: *mut usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntryBufferCount's caller passes a live cache entry and writable
    // `count`, as tritoncache.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntryBufferCount", || {
        let e = c.arg_ref(entry, "entry")?;
        c.out_ptr(count, "count")?.write(e.buffer_count());
        Ok(())
    })
}

/// Add a buffer (host memory, non-zero size) to an entry. Only the address is kept: the buffer
/// must stay valid until `TRITONCACHE_Copy` has run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntryAddBuffer(
    entry: *mut TRITONCACHE_CacheEntry,
    base: *mut c_void,
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntryAddBuffer's caller passes a live cache entry and a live buffer
    // attributes object, as tritoncache.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntryAddBuffer", || {
        let e = c.arg_ref(entry, "entry")?;
        if base.is_null() {
            return Err(crate::capi::handle::null_arg("base"));
        }
        let attrs = c.arg_ref(buffer_attributes, "buffer_attributes")?;
        if attrs.byte_size == 0 {
            return Err(Error::invalid_arg("Buffer byte size was zero"));
        }
        check_host(attrs.memory_type)?;
        e.add_buffer(Addr::of(base), attrs.byte_size);
        Ok(())
    })
}

/// Buffer `index` of an entry: its address, and its size and memory (CPU) in the attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntryGetBuffer(
    entry: *mut TRITONCACHE_CacheEntry,
    index: usize,
    base: *mut *mut c_void,
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntryGetBuffer's caller passes a live cache entry, a live buffer
    // attributes object and writable `base`, as tritoncache.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntryGetBuffer", || {
        let e = c.arg_ref(entry, "entry")?;
        let out = c.out_ptr(base, "base")?;
        let attrs = c.arg_mut(buffer_attributes, "buffer_attributes")?;
        let (addr, size) = e.buffer(index)?;
        attrs.byte_size = size;
        attrs.memory_type = MemoryType::Cpu;
        attrs.memory_type_id = 0;
        out.write(addr.ptr::<c_void>());
        Ok(())
    })
}

/// Replace buffer `index` of an entry by `new_base`; its size too when attributes are given
/// (which must describe host memory).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_CacheEntrySetBuffer(
    entry: *mut TRITONCACHE_CacheEntry,
    index: usize,
    new_base: *mut c_void,
    buffer_attributes: *mut TRITONSERVER_BufferAttributes,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_CacheEntrySetBuffer's caller passes a live cache entry and a live buffer
    // attributes object or NULL, as tritoncache.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_CacheEntrySetBuffer", || {
        let e = c.arg_ref(entry, "entry")?;
        if new_base.is_null() {
            return Err(crate::capi::handle::null_arg("new_base"));
        }
        let attrs = if buffer_attributes.is_null() {
            None
        } else {
            Some(c.arg_ref(buffer_attributes, "buffer_attributes")?)
        };
        e.set_buffer(index, Addr::of(new_base), attrs.map(|a| a.byte_size))?;
        if let Some(a) = attrs {
            check_host(a.memory_type)?;
        }
        Ok(())
    })
}

/// Copy between the core and the entry's buffers: what the allocator the core lent for this
/// lookup or insert says.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONCACHE_Copy(
    allocator: *mut TRITONCACHE_Allocator,
    entry: *mut TRITONCACHE_CacheEntry,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONCACHE_Copy's caller passes a live cache allocator and a live cache entry whose
    // buffers (set or added by the cache) hold their stated sizes of host memory, as tritoncache.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONCACHE_Copy", || {
        let a = c.arg_ref(allocator, "allocator")?;
        let e = c.arg_ref(entry, "entry")?;
        loader::allocate(c, a, e)
    })
}
