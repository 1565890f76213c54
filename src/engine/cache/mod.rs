//! The response cache (`TRITONCACHE_*`): a cache implementation loaded from
//! `<cache-dir>/<name>/libtritoncache_<name>.so`, and the core's use of it for models with
//! `response_cache { enable: true }`.
//!
//! The engine never touches raw memory: the cache library ([`CacheLibrary`], implemented by the
//! C shell or by tests) exchanges entries as byte buffers, and reading or writing the
//! frontend's output buffers goes through [`OutputMemory`].
//!
//! A request is hashed (model name and version, then each input by name: datatype, shape and
//! data; and the requested outputs). Before it is queued the key is looked up: a hit builds the
//! response from the entry through the frontend's allocator and answers without executing; a
//! miss lets the request run and inserts its successful final response. One entry holds one
//! buffer per response, packed as upstream does:
//! `[u32 output count]` then per output `[u64 packed size][u32 name length][name]`
//! `[u32 datatype length][datatype][u32 shape bytes][i64 dims...][u64 data size][data]`.

use crate::engine::buffer::Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::error::{Code, Error, Result};
use super::infer::{
    monotonic_ns, AllocatedBuffer, HostMemory, InferenceRequest, InferenceResponse,
    ResponseCallback, RESPONSE_FINAL,
};
use super::sync::lock;
use super::types::{DataType, MemoryType};

/// A cache entry (`TRITONCACHE_CacheEntry`): a list of (address, size) buffers that the core and
/// the cache implementation pass between them. The engine only stores the addresses.
#[derive(Debug, Default)]
pub struct CacheEntry {
    buffers: Mutex<Vec<(Addr, usize)>>,
}

impl CacheEntry {
    /// An entry with a placeholder (NULL) buffer of each size: what an insert announces.
    pub fn with_sizes(sizes: impl IntoIterator<Item = usize>) -> CacheEntry {
        CacheEntry {
            buffers: Mutex::new(sizes.into_iter().map(|s| (Addr::NULL, s)).collect()),
        }
    }
    /// `TRITONCACHE_CacheEntryBufferCount`.
    pub fn buffer_count(&self) -> usize {
        lock(&self.buffers).len()
    }
    /// `TRITONCACHE_CacheEntryAddBuffer`.
    pub fn add_buffer(&self, addr: Addr, byte_size: usize) {
        lock(&self.buffers).push((addr, byte_size));
    }
    /// `TRITONCACHE_CacheEntryGetBuffer`: (address, size).
    pub fn buffer(&self, index: usize) -> Result<(Addr, usize)> {
        lock(&self.buffers)
            .get(index)
            .copied()
            .ok_or_else(|| Error::invalid_arg("index was greater than count"))
    }
    /// `TRITONCACHE_CacheEntrySetBuffer`: a new address, and a new size when given.
    pub fn set_buffer(&self, index: usize, addr: Addr, byte_size: Option<usize>) -> Result<()> {
        let mut b = lock(&self.buffers);
        let slot = b
            .get_mut(index)
            .ok_or_else(|| Error::invalid_arg("index was greater than count"))?;
        slot.0 = addr;
        if let Some(size) = byte_size {
            slot.1 = size;
        }
        Ok(())
    }
    /// Every (address, size).
    pub fn buffers(&self) -> Vec<(Addr, usize)> {
        lock(&self.buffers).clone()
    }
}

/// The entry points of the cache implementation, with its `TRITONCACHE_Cache` object. The
/// implementation is initialized when opened and finalized when dropped.
pub trait CacheLibrary: Send + Sync {
    /// `TRITONCACHE_CacheLookup`: the buffers stored at `key`. An error (NOT_FOUND for an
    /// absent key) is a miss.
    fn lookup(&self, key: &str) -> Result<Vec<Vec<u8>>>;
    /// `TRITONCACHE_CacheInsert` of an entry holding these buffers. ALREADY_EXISTS when the key
    /// is stored already.
    fn insert(&self, key: &str, buffers: Vec<Vec<u8>>) -> Result<()>;
}

/// Opens cache implementations.
pub trait CacheLoader: Send + Sync {
    /// Open the library at `path` (it must have `TRITONCACHE_CacheInitialize`, `Finalize`,
    /// `Lookup` and `Insert`) and initialize the cache with `config_json`.
    fn open(&self, path: &Path, config_json: &str) -> Result<Arc<dyn CacheLibrary>>;
}

/// Reads and writes the host memory of response output buffers (the frontend's allocations).
pub trait OutputMemory: Send + Sync {
    /// The bytes of an allocated output buffer; `None` if it is not in host memory.
    fn read(&self, buffer: &AllocatedBuffer) -> Option<Vec<u8>>;
    /// Copy `data` (exactly `buffer.byte_size` bytes) into an allocated output buffer.
    fn write(&self, buffer: &AllocatedBuffer, data: &[u8]) -> Result<()>;
}

/// A loader for servers created without plugin support: no cache can be configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCaches;

impl CacheLoader for NoCaches {
    fn open(&self, path: &Path, _config_json: &str) -> Result<Arc<dyn CacheLibrary>> {
        Err(Error::unsupported(format!(
            "response caches are not supported by this server: {}",
            path.display()
        )))
    }
}

impl OutputMemory for NoCaches {
    fn read(&self, _buffer: &AllocatedBuffer) -> Option<Vec<u8>> {
        None
    }
    fn write(&self, _buffer: &AllocatedBuffer, _data: &[u8]) -> Result<()> {
        Err(Error::unsupported("output memory is not accessible"))
    }
}

/// The file name of cache `name`'s library.
pub fn library_name(name: &str) -> String {
    format!("libtritoncache_{name}.so")
}

/// One output of a cached response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedOutput {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> Result<()> {
    let v = u32::try_from(v).map_err(|_| Error::invalid_arg("output too large to cache"))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Pack the outputs of one response into one entry buffer (upstream's layout).
pub fn serialize_response(outputs: &[CachedOutput]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    put_u32(&mut out, outputs.len())?;
    for o in outputs {
        let dtype = o.datatype.name();
        let packed = 4 + o.name.len() + 4 + dtype.len() + 4 + o.shape.len() * 8 + 8 + o.data.len();
        out.extend_from_slice(&(packed as u64).to_le_bytes());
        put_u32(&mut out, o.name.len())?;
        out.extend_from_slice(o.name.as_bytes());
        put_u32(&mut out, dtype.len())?;
        out.extend_from_slice(dtype.as_bytes());
        put_u32(&mut out, o.shape.len() * 8)?;
        for d in &o.shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&(o.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&o.data);
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| {
                Error::internal(format!(
                    "Unexpected number of bytes received: {}, expected at least: {}",
                    self.bytes.len(),
                    self.pos.saturating_add(n)
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len64(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| Error::internal("cached size out of range"))
    }
}

/// Unpack one entry buffer into the outputs of one response.
pub fn deserialize_response(bytes: &[u8]) -> Result<Vec<CachedOutput>> {
    let mut r = Reader { bytes, pos: 0 };
    let count = r.u32()?;
    let mut outputs = Vec::new();
    for _ in 0..count {
        let packed = r.len64()?;
        let mut o = Reader {
            bytes: r.take(packed)?,
            pos: 0,
        };
        let n = o.u32()?;
        let name = String::from_utf8_lossy(o.take(n)?).into_owned();
        let n = o.u32()?;
        let datatype = DataType::from_name(&String::from_utf8_lossy(o.take(n)?));
        let n = o.u32()?;
        let shape = o
            .take(n)?
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            })
            .collect();
        let n = o.len64()?;
        let data = o.take(n)?.to_vec();
        if o.pos != packed {
            return Err(Error::internal(format!(
                "Unexpected number of bytes received: {packed}, expected: {}",
                o.pos
            )));
        }
        outputs.push(CachedOutput {
            name,
            datatype,
            shape,
            data,
        });
    }
    Ok(outputs)
}

/// 128-bit FNV-1a, fed field by field with length prefixes so that no two different requests
/// produce the same byte stream.
struct KeyHasher(u128);

impl KeyHasher {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u128::from(x);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
    fn field(&mut self, b: &[u8]) {
        self.bytes(&(b.len() as u64).to_le_bytes());
        self.bytes(b);
    }
}

/// The server's response cache: the implementation plus access to output memory.
pub struct ResponseCache {
    name: String,
    library: Arc<dyn CacheLibrary>,
    memory: Arc<dyn OutputMemory>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("name", &self.name)
            .finish()
    }
}

impl ResponseCache {
    pub fn new(
        name: &str,
        library: Arc<dyn CacheLibrary>,
        memory: Arc<dyn OutputMemory>,
    ) -> ResponseCache {
        ResponseCache {
            name: name.to_owned(),
            library,
            memory,
        }
    }

    /// Create the cache the options configure (at most one), as `TRITONSERVER_ServerNew` does.
    pub fn create(
        configs: &std::collections::BTreeMap<String, String>,
        cache_dir: &str,
        loader: &dyn CacheLoader,
        memory: Arc<dyn OutputMemory>,
    ) -> Result<Option<Arc<ResponseCache>>> {
        if configs.is_empty() {
            return Ok(None);
        }
        if cache_dir.is_empty() {
            return Err(Error::invalid_arg("cache directory can not be empty"));
        }
        if configs.len() > 1 {
            return Err(Error::invalid_arg(
                "found multiple cache configurations, but only a single cache is currently \
                 supported",
            ));
        }
        let Some((name, config)) = configs.iter().next() else {
            return Ok(None);
        };
        let libname = library_name(name);
        let path: PathBuf = Path::new(cache_dir).join(name).join(&libname);
        if !path.exists() {
            return Err(Error::invalid_arg(format!(
                "unable to find '{libname}' for cache. Searched: {cache_dir}"
            )));
        }
        crate::log_info!(
            "Creating TritonCache with name: '{name}', libpath: '{}', cache_config: '{config}'",
            path.display()
        );
        let library = loader.open(&path, config)?;
        Ok(Some(Arc::new(ResponseCache::new(name, library, memory))))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cache key of a (normalized) request, reading input data through `memory`.
    pub fn key(&self, request: &InferenceRequest, memory: &dyn HostMemory) -> Result<String> {
        let mut h = KeyHasher(KeyHasher::OFFSET);
        let model = request.model();
        h.field(model.name().as_bytes());
        h.field(&model.version().to_le_bytes());
        let mut inputs: Vec<_> = request.inputs().iter().collect();
        inputs.sort_by(|a, b| a.name().cmp(b.name()));
        for input in inputs {
            h.field(input.name().as_bytes());
            h.field(input.datatype.name().as_bytes());
            let dims: Vec<u8> = input
                .shape_with_batch_dim
                .iter()
                .flat_map(|d| d.to_le_bytes())
                .collect();
            h.field(&dims);
            h.bytes(&input.byte_size().to_le_bytes());
            for b in &input.buffers {
                if !matches!(
                    b.attributes.memory_type,
                    MemoryType::Cpu | MemoryType::CpuPinned
                ) {
                    return Err(Error::internal(
                        "Only input buffers in CPU memory are allowed in cache currently",
                    ));
                }
                let bytes = memory.bytes(b).ok_or_else(|| {
                    Error::internal("input data of the request is not readable for hashing")
                })?;
                h.bytes(bytes);
            }
        }
        for o in request.requested_outputs() {
            h.field(o.to_bytes());
        }
        Ok(format!("{:032x}", h.0))
    }

    /// The outputs stored at `key`; `None` on a miss (an error of the implementation counts as
    /// a miss, as upstream).
    pub fn lookup(&self, key: &str) -> Option<Vec<CachedOutput>> {
        crate::log_verbose!(2, "Looking up cache key: {key}");
        let buffers = match self.library.lookup(key) {
            Ok(b) => b,
            Err(e) => {
                crate::log_verbose!(2, "cache lookup of key {key}: {}", e.message());
                return None;
            }
        };
        let [buffer] = buffers.as_slice() else {
            crate::log_error!(
                "Expected number of responses in cache does not match. Expected: 1, received: {}",
                buffers.len()
            );
            return None;
        };
        match deserialize_response(buffer) {
            Ok(o) => Some(o),
            Err(e) => {
                crate::log_error!("failed to read cache entry {key}: {}", e.message());
                None
            }
        }
    }

    /// The outputs of a response, read from the frontend's buffers.
    pub fn response_outputs(&self, response: &InferenceResponse) -> Result<Vec<CachedOutput>> {
        response
            .outputs()
            .iter()
            .map(|o| {
                let buf = o
                    .buffer
                    .as_ref()
                    .ok_or_else(|| Error::internal("Response buffer from output was nullptr"))?;
                if !matches!(buf.memory_type, MemoryType::Cpu | MemoryType::CpuPinned) {
                    return Err(Error::invalid_arg(
                        "Only input buffers in CPU memory are allowed in cache currently",
                    ));
                }
                let data = self
                    .memory
                    .read(buf)
                    .ok_or_else(|| Error::internal("Response buffer from output was nullptr"))?;
                Ok(CachedOutput {
                    name: o.name().to_owned(),
                    datatype: o.datatype,
                    shape: o.shape.clone(),
                    data,
                })
            })
            .collect()
    }

    /// Insert a response at `key`.
    pub fn insert(&self, key: &str, response: &InferenceResponse) -> Result<()> {
        crate::log_verbose!(2, "Inserting at cache key: {key}");
        let buffer = serialize_response(&self.response_outputs(response)?)?;
        self.library.insert(key, vec![buffer])
    }

    /// Fill an empty response with cached outputs, allocating through the frontend's
    /// allocator.
    pub fn fill_response(
        &self,
        response: &mut InferenceResponse,
        outputs: &[CachedOutput],
    ) -> Result<()> {
        for o in outputs {
            let index = response.add_output_exact(&o.name, o.datatype, &o.shape);
            let out = response
                .output_mut(index)
                .ok_or_else(|| Error::internal("output just added is missing"))?;
            let buf = out.allocate(o.data.len(), MemoryType::Cpu, 0)?;
            if !matches!(buf.memory_type, MemoryType::Cpu | MemoryType::CpuPinned) {
                return Err(Error::internal(
                    "Only input buffers in CPU memory are allowed in cache currently",
                ));
            }
            if buf.addr.is_null() && !o.data.is_empty() {
                return Err(Error::internal(format!(
                    "failed to allocate buffer for output '{}'",
                    o.name
                )));
            }
            self.memory.write(&buf, &o.data)?;
        }
        Ok(())
    }
}

/// The frontend's response callback behind a cache insert: a successful final response of a
/// request that missed the cache is stored before it is delivered.
pub struct InsertingCallback {
    pub inner: Arc<dyn ResponseCallback>,
    pub cache: Arc<ResponseCache>,
    pub key: String,
    /// How long the lookup took (ns), counted into the miss.
    pub lookup_ns: u64,
}

impl ResponseCallback for InsertingCallback {
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        if let Some(r) = &response {
            if r.error().is_none() && flags & RESPONSE_FINAL != 0 {
                let start = monotonic_ns();
                let result = self.cache.insert(&self.key, r);
                let insert_ns = monotonic_ns().saturating_sub(start);
                match result {
                    Err(e) if e.code() == Code::AlreadyExists => {}
                    other => {
                        r.model()
                            .stats()
                            .report_cache_miss(self.lookup_ns + insert_ns);
                        if let Err(e) = other {
                            crate::log_error!(
                                "Failed to insert key [{}] into response cache: {}",
                                self.key,
                                e.message()
                            );
                        }
                    }
                }
            }
        }
        self.inner.complete(response, flags);
    }
}

/// Whether a model configuration enables the response cache.
pub fn enabled_for(cfg: &triton_model_config::pb::ModelConfig) -> bool {
    cfg.response_cache.as_ref().is_some_and(|c| c.enable)
}

#[cfg(test)]
mod tests;
