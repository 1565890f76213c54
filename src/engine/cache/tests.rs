//! Cache entries, the entry layout and request keys.

use crate::engine::buffer::Addr;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::engine::Code;

#[test]
fn entries_track_buffers() {
    let e = CacheEntry::with_sizes([3, 5]);
    assert_eq!(e.buffer_count(), 2);
    assert_eq!(e.buffer(1).unwrap(), (Addr::NULL, 5));
    e.set_buffer(1, Addr::of(0x10 as *const u8), None).unwrap();
    e.set_buffer(0, Addr::of(0x20 as *const u8), Some(7))
        .unwrap();
    let a = |n: usize| Addr::of(n as *const u8);
    assert_eq!(e.buffers(), vec![(a(0x20), 7), (a(0x10), 5)]);
    assert_eq!(e.buffer(2).unwrap_err().code(), Code::InvalidArg);
    assert_eq!(
        e.set_buffer(2, a(1), None).unwrap_err().code(),
        Code::InvalidArg
    );
    e.add_buffer(a(0x30), 1);
    assert_eq!(e.buffer_count(), 3);
}

#[test]
fn responses_round_trip_in_upstream_layout() {
    let outputs = vec![
        CachedOutput {
            name: "OUT".into(),
            datatype: DataType::Fp32,
            shape: vec![1, 4],
            data: (0u8..16).collect(),
        },
        CachedOutput {
            name: "EMPTY".into(),
            datatype: DataType::Bytes,
            shape: vec![0],
            data: Vec::new(),
        },
    ];
    let bytes = serialize_response(&outputs).unwrap();
    // [u32 2][u64 packed]["OUT" with length][..]
    assert_eq!(&bytes[..4], &2u32.to_le_bytes());
    let packed = 4 + 3 + 4 + 4 + 4 + 16 + 8 + 16;
    assert_eq!(&bytes[4..12], &(packed as u64).to_le_bytes());
    assert_eq!(&bytes[12..16], &3u32.to_le_bytes());
    assert_eq!(&bytes[16..19], b"OUT");
    assert_eq!(deserialize_response(&bytes).unwrap(), outputs);
    // Truncated or padded entries are refused.
    assert!(deserialize_response(&bytes[..bytes.len() - 1]).is_err());
    let mut bad = bytes.clone();
    bad[4] += 1;
    assert!(deserialize_response(&bad).is_err());
}

#[test]
fn creation_follows_upstream_rules() {
    let mut configs = std::collections::BTreeMap::new();
    let memory: Arc<dyn OutputMemory> = Arc::new(NoCaches);
    assert!(
        ResponseCache::create(&configs, "/nowhere", &NoCaches, memory.clone())
            .unwrap()
            .is_none()
    );
    configs.insert("local".to_string(), "{}".to_string());
    let e = ResponseCache::create(&configs, "", &NoCaches, memory.clone()).unwrap_err();
    assert_eq!(e.message(), "cache directory can not be empty");
    let e = ResponseCache::create(&configs, "/nowhere", &NoCaches, memory.clone()).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "unable to find 'libtritoncache_local.so' for cache. Searched: /nowhere"
    );
    configs.insert("redis".to_string(), "{}".to_string());
    let e = ResponseCache::create(&configs, "/nowhere", &NoCaches, memory).unwrap_err();
    assert!(e
        .message()
        .starts_with("found multiple cache configurations"));
    assert!(Path::new("/nowhere")
        .join(library_name("x"))
        .ends_with("libtritoncache_x.so"));
}
