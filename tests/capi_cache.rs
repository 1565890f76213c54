//! The TRITONCACHE_* functions called directly: entry lifetime and buffer accounting, NULL and
//! invalid arguments, both copy directions, the loader, and cache options at ServerNew.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use tritonserver::capi::cache::loader::DlopenCacheLoader;
use tritonserver::capi::cache::*;
use tritonserver::capi::callback::TRITONSERVER_BufferAttributes;
use tritonserver::capi::server::error::{
    TRITONSERVER_Error, TRITONSERVER_ErrorCode, TRITONSERVER_ErrorDelete, TRITONSERVER_ErrorMessage,
};
use tritonserver::capi::server::options::*;
use tritonserver::capi::server::response::*;
use tritonserver::capi::server::server::TRITONSERVER_ServerNew;
use tritonserver::capi::types::TRITONSERVER_MemoryType;
use tritonserver::engine::cache::{CacheEntry, CacheLoader};

const NOT_FOUND: u32 = 2;
const INVALID_ARG: u32 = 3;
const CPU: TRITONSERVER_MemoryType = TRITONSERVER_MemoryType(0);
const GPU: TRITONSERVER_MemoryType = TRITONSERVER_MemoryType(2);

fn err(e: *mut TRITONSERVER_Error) -> Option<(u32, String)> {
    if e.is_null() {
        return None;
    }
    // SAFETY: a live error object returned by the library; deleted once here.
    unsafe {
        let code = TRITONSERVER_ErrorCode(e).0;
        let msg = CStr::from_ptr(TRITONSERVER_ErrorMessage(e))
            .to_string_lossy()
            .into_owned();
        TRITONSERVER_ErrorDelete(e);
        Some((code, msg))
    }
}

fn ok(e: *mut TRITONSERVER_Error) {
    if let Some((c, m)) = err(e) {
        panic!("unexpected error {c}: {m}");
    }
}

/// Buffer attributes with a size and memory type; deleted by the caller.
fn attrs(size: usize, t: TRITONSERVER_MemoryType) -> *mut TRITONSERVER_BufferAttributes {
    let mut a = null_mut();
    // SAFETY: valid out-pointer, then the live object.
    unsafe {
        ok(TRITONSERVER_BufferAttributesNew(&mut a));
        ok(TRITONSERVER_BufferAttributesSetByteSize(a, size));
        ok(TRITONSERVER_BufferAttributesSetMemoryType(a, t));
    }
    a
}

#[test]
fn entries_count_add_get_and_set_buffers() {
    let mut data = *b"0123456789";
    let base = data.as_mut_ptr().cast::<c_void>();
    // SAFETY: valid handles and out-pointers; the entry and attributes are deleted once.
    unsafe {
        let (mut major, mut minor) = (9, 9);
        ok(TRITONCACHE_ApiVersion(&mut major, &mut minor));
        assert_eq!((major, minor), (0, 1));

        assert_eq!(
            err(TRITONCACHE_CacheEntryNew(null_mut())).unwrap().0,
            INVALID_ARG
        );
        let mut e: *mut TRITONCACHE_CacheEntry = null_mut();
        ok(TRITONCACHE_CacheEntryNew(&mut e));
        let mut count = 7usize;
        ok(TRITONCACHE_CacheEntryBufferCount(e, &mut count));
        assert_eq!(count, 0);
        let (c, msg) = err(TRITONCACHE_CacheEntryBufferCount(null_mut(), &mut count)).unwrap();
        assert_eq!(c, INVALID_ARG);
        assert_eq!(
            msg,
            "TRITONCACHE_CacheEntryBufferCount: 'entry' must not be NULL"
        );

        let a10 = attrs(10, CPU);
        ok(TRITONCACHE_CacheEntryAddBuffer(e, base, a10));
        let (c, msg) = err(TRITONCACHE_CacheEntryAddBuffer(e, null_mut(), a10)).unwrap();
        assert_eq!(
            (c, msg.as_str()),
            (
                INVALID_ARG,
                "TRITONCACHE_CacheEntryAddBuffer: 'base' must not be NULL"
            )
        );
        assert!(err(TRITONCACHE_CacheEntryAddBuffer(e, base, null_mut())).is_some());
        let zero = attrs(0, CPU);
        let (c, msg) = err(TRITONCACHE_CacheEntryAddBuffer(e, base, zero)).unwrap();
        assert_eq!(
            (c, msg.as_str()),
            (INVALID_ARG, "Buffer byte size was zero")
        );
        let gpu = attrs(4, GPU);
        let (c, msg) = err(TRITONCACHE_CacheEntryAddBuffer(e, base, gpu)).unwrap();
        assert_eq!(c, INVALID_ARG);
        assert_eq!(
            msg,
            "Only buffers in CPU memory are allowed in cache currently"
        );
        ok(TRITONCACHE_CacheEntryBufferCount(e, &mut count));
        assert_eq!(count, 1, "failed adds add nothing");

        // GetBuffer reports address, size and CPU memory.
        let out = attrs(0, GPU);
        let mut got: *mut c_void = null_mut();
        ok(TRITONCACHE_CacheEntryGetBuffer(e, 0, &mut got, out));
        assert_eq!(got, base);
        let mut size = 0usize;
        ok(TRITONSERVER_BufferAttributesByteSize(out, &mut size));
        assert_eq!(size, 10);
        let mut t = GPU;
        ok(TRITONSERVER_BufferAttributesMemoryType(out, &mut t));
        assert_eq!(t, CPU);
        let (c, msg) = err(TRITONCACHE_CacheEntryGetBuffer(e, 1, &mut got, out)).unwrap();
        assert_eq!(
            (c, msg.as_str()),
            (INVALID_ARG, "index was greater than count")
        );
        assert!(err(TRITONCACHE_CacheEntryGetBuffer(e, 0, null_mut(), out)).is_some());

        // SetBuffer: address only, or address and size; GPU attributes are refused.
        let base2 = data.as_mut_ptr().add(2).cast::<c_void>();
        ok(TRITONCACHE_CacheEntrySetBuffer(e, 0, base2, null_mut()));
        ok(TRITONCACHE_CacheEntryGetBuffer(e, 0, &mut got, out));
        ok(TRITONSERVER_BufferAttributesByteSize(out, &mut size));
        assert_eq!((got, size), (base2, 10));
        let a8 = attrs(8, CPU);
        ok(TRITONCACHE_CacheEntrySetBuffer(e, 0, base2, a8));
        ok(TRITONCACHE_CacheEntryGetBuffer(e, 0, &mut got, out));
        ok(TRITONSERVER_BufferAttributesByteSize(out, &mut size));
        assert_eq!(size, 8);
        assert_eq!(
            err(TRITONCACHE_CacheEntrySetBuffer(e, 0, base2, gpu))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONCACHE_CacheEntrySetBuffer(e, 3, base2, a8))
                .unwrap()
                .0,
            INVALID_ARG
        );

        ok(TRITONCACHE_CacheEntryDelete(e));
        assert_eq!(
            err(TRITONCACHE_CacheEntryDelete(null_mut())).unwrap().0,
            INVALID_ARG
        );
        for a in [a10, zero, gpu, out, a8] {
            ok(TRITONSERVER_BufferAttributesDelete(a));
        }
    }
}

#[test]
fn copy_fills_cache_buffers_and_copies_them_out() {
    // Insert direction: the core's bytes go into the buffers the cache set.
    let entry = CacheEntry::with_sizes([3, 2]);
    let mut dest_a = [0u8; 3];
    let mut dest_b = [0u8; 2];
    let e = std::ptr::from_ref(&entry).cast_mut();
    let mut to_cache = TRITONCACHE_Allocator::ToCache(vec![b"abc".to_vec(), b"de".to_vec()]);
    // SAFETY: live entry and allocator; the destination buffers outlive the copies.
    unsafe {
        let (c, msg) = err(TRITONCACHE_Copy(&mut to_cache, e)).unwrap();
        assert_eq!(
            c, 1,
            "placeholders are NULL until the cache sets them: {msg}"
        );
        ok(TRITONCACHE_CacheEntrySetBuffer(
            e,
            0,
            dest_a.as_mut_ptr().cast(),
            null_mut(),
        ));
        ok(TRITONCACHE_CacheEntrySetBuffer(
            e,
            1,
            dest_b.as_mut_ptr().cast(),
            null_mut(),
        ));
        ok(TRITONCACHE_Copy(&mut to_cache, e));
        assert_eq!(&dest_a, b"abc");
        assert_eq!(&dest_b, b"de");
        // A size that does not match is refused before anything is copied.
        let a1 = attrs(1, CPU);
        ok(TRITONCACHE_CacheEntrySetBuffer(
            e,
            1,
            dest_b.as_mut_ptr().cast(),
            a1,
        ));
        let (_, msg) = err(TRITONCACHE_Copy(&mut to_cache, e)).unwrap();
        assert!(
            msg.starts_with("Expected size of buffer in cache does not match"),
            "{msg}"
        );
        ok(TRITONSERVER_BufferAttributesDelete(a1));
        assert_eq!(err(TRITONCACHE_Copy(null_mut(), e)).unwrap().0, INVALID_ARG);
        assert_eq!(
            err(TRITONCACHE_Copy(&mut to_cache, null_mut())).unwrap().0,
            INVALID_ARG
        );
    }
    // Lookup direction: the cache's buffers are copied out.
    let stored = *b"stored";
    let entry = CacheEntry::default();
    let e = std::ptr::from_ref(&entry).cast_mut();
    let mut from_cache = TRITONCACHE_Allocator::FromCache(Mutex::new(None));
    let a6 = attrs(6, CPU);
    // SAFETY: live entry, allocator and attributes; `stored` outlives the copy.
    unsafe {
        ok(TRITONCACHE_CacheEntryAddBuffer(
            e,
            stored.as_ptr().cast_mut().cast(),
            a6,
        ));
        ok(TRITONCACHE_Copy(&mut from_cache, e));
        ok(TRITONSERVER_BufferAttributesDelete(a6));
    }
    let TRITONCACHE_Allocator::FromCache(m) = from_cache else {
        unreachable!()
    };
    assert_eq!(m.into_inner().unwrap(), Some(vec![b"stored".to_vec()]));
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tc-capi-cache-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_loader_refuses_what_is_not_a_cache_library() {
    let dir = temp("loader");
    let not_a_library = dir.join("libtritoncache_x.so");
    std::fs::write(&not_a_library, b"not ELF").unwrap();
    let e = DlopenCacheLoader
        .open(&not_a_library, "{}")
        .err()
        .expect("not a library");
    assert_eq!(e.code() as u32, NOT_FOUND);
    assert!(
        e.message().starts_with("unable to load cache library"),
        "{}",
        e.message()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// ServerNew with cache options: `(code, message)` of its error, or `None`.
fn server_new(
    repo: &Path,
    cache_dir: Option<&Path>,
    set: impl FnOnce(*mut TRITONSERVER_ServerOptions),
) -> Option<(u32, String)> {
    let path = CString::new(repo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: valid options and strings; options and server are deleted once.
    unsafe {
        let mut o = null_mut();
        ok(TRITONSERVER_ServerOptionsNew(&mut o));
        ok(TRITONSERVER_ServerOptionsSetModelRepositoryPath(
            o,
            path.as_ptr(),
        ));
        ok(TRITONSERVER_ServerOptionsSetLogInfo(o, false));
        ok(TRITONSERVER_ServerOptionsSetLogError(o, false));
        if let Some(d) = cache_dir {
            let d = CString::new(d.to_string_lossy().as_bytes()).unwrap();
            ok(TRITONSERVER_ServerOptionsSetCacheDirectory(o, d.as_ptr()));
        }
        set(o);
        let mut s = null_mut();
        let r = err(TRITONSERVER_ServerNew(&mut s, o));
        ok(TRITONSERVER_ServerOptionsDelete(o));
        if r.is_none() {
            ok(tritonserver::capi::server::server::TRITONSERVER_ServerDelete(s));
        } else {
            assert!(s.is_null());
        }
        r
    }
}

#[test]
fn server_new_creates_the_configured_cache_or_fails() {
    let dir = temp("server");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let caches = dir.join("caches");
    // No cache configured (a zero byte size configures none): fine.
    assert!(server_new(&repo, Some(&caches), |o| unsafe {
        // SAFETY: live options.
        ok(TRITONSERVER_ServerOptionsSetResponseCacheByteSize(o, 0));
    })
    .is_none());
    // The deprecated byte size configures the "local" cache, which is not there.
    let (c, msg) = server_new(&repo, Some(&caches), |o| unsafe {
        // SAFETY: live options.
        ok(TRITONSERVER_ServerOptionsSetResponseCacheByteSize(o, 1024));
    })
    .unwrap();
    assert_eq!(c, INVALID_ARG);
    assert_eq!(
        msg,
        format!(
            "unable to find 'libtritoncache_local.so' for cache. Searched: {}",
            caches.display()
        )
    );
    // Two caches are one too many.
    let (c, msg) = server_new(&repo, Some(&caches), |o| unsafe {
        // SAFETY: live options and strings.
        ok(TRITONSERVER_ServerOptionsSetCacheConfig(
            o,
            c"local".as_ptr(),
            c"{}".as_ptr(),
        ));
        ok(TRITONSERVER_ServerOptionsSetCacheConfig(
            o,
            c"redis".as_ptr(),
            c"{}".as_ptr(),
        ));
    })
    .unwrap();
    assert_eq!(c, INVALID_ARG);
    assert!(msg.starts_with("found multiple cache configurations"));
    // A library that is not a cache implementation fails ServerNew too.
    std::fs::create_dir_all(caches.join("bogus")).unwrap();
    std::fs::write(caches.join("bogus/libtritoncache_bogus.so"), b"x").unwrap();
    let (c, _) = server_new(&repo, Some(&caches), |o| unsafe {
        // SAFETY: live options and strings.
        ok(TRITONSERVER_ServerOptionsSetCacheConfig(
            o,
            c"bogus".as_ptr(),
            c"{}".as_ptr(),
        ));
    })
    .unwrap();
    assert_eq!(c, NOT_FOUND);
    // NULL arguments of the cache options.
    // SAFETY: deliberately NULL arguments.
    unsafe {
        let (c, msg) = err(TRITONSERVER_ServerOptionsSetCacheConfig(
            null_mut(),
            c"x".as_ptr(),
            null::<c_char>(),
        ))
        .unwrap();
        assert_eq!(c, INVALID_ARG);
        assert!(msg.ends_with("'options' must not be NULL"));
    }
    let _ = std::fs::remove_dir_all(dir);
}
