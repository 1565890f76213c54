//! Where tensor bytes live: addresses of memory the core does not own, and the buffers of
//! request inputs with their attributes. The engine never reads or writes through an
//! [`Addr`]; only the C shell turns one back into a pointer (and reads input bytes for
//! validation through `HostMemory`).

use std::sync::Arc;

use crate::engine::types::MemoryType;

/// The address of memory the core does not own: a frontend's input or output buffer, a
/// backend's buffer, or a user pointer handed back to its owner. Kept as a plain value so that
/// engine types stay `Send` and `Sync`; converting back to a pointer is the C shell's job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr(usize);

impl Addr {
    /// No address.
    /// cbindgen:ignore
    pub const NULL: Addr = Addr(0);

    /// The address of `p` (NULL stays NULL).
    pub fn of<T>(p: *const T) -> Addr {
        Addr(p as usize)
    }
    /// The address as a pointer (making it is safe; using it is the caller's contract).
    pub fn ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
    pub fn is_null(self) -> bool {
        self.0 == 0
    }
}

/// Properties of a buffer (`TRITONSERVER_BufferAttributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferAttributes {
    pub memory_type: MemoryType,
    pub memory_type_id: i64,
    pub byte_size: usize,
    /// A copy of the CUDA IPC handle (64 bytes), if one was set (never used on CPU).
    pub cuda_ipc_handle: Option<[u8; 64]>,
}

impl Default for BufferAttributes {
    fn default() -> Self {
        BufferAttributes {
            memory_type: MemoryType::Cpu,
            memory_type_id: 0,
            byte_size: 0,
            cuda_ipc_handle: None,
        }
    }
}

/// One contiguous piece of an input tensor's data, owned by the caller (address only) or by the
/// core (warmup data).
#[derive(Debug, Clone)]
pub struct DataBuffer {
    pub addr: Addr,
    /// Size and memory placement (what `TRITONBACKEND_InputBufferAttributes` lends out).
    pub attributes: BufferAttributes,
    /// Keeps core-owned data alive; `addr` points into it.
    pub owned: Option<Arc<[u8]>>,
}

impl DataBuffer {
    /// A buffer the caller owns, at `addr`.
    pub fn borrowed(addr: Addr, byte_size: usize, memory_type: MemoryType, id: i64) -> DataBuffer {
        DataBuffer {
            addr,
            attributes: BufferAttributes {
                memory_type,
                memory_type_id: id,
                byte_size,
                cuda_ipc_handle: None,
            },
            owned: None,
        }
    }

    /// A buffer the core owns.
    pub fn owned(data: Arc<[u8]>) -> DataBuffer {
        let mut b = DataBuffer::borrowed(Addr::of(data.as_ptr()), data.len(), MemoryType::Cpu, 0);
        b.owned = Some(data);
        b
    }

    pub fn byte_size(&self) -> usize {
        self.attributes.byte_size
    }
}
