//! The safe core of the server. No `unsafe`, no C types: the [`crate::capi`] shell adapts it.
#![forbid(unsafe_code)]

pub mod backend;
pub mod buffer;
pub mod cache;
pub mod error;
pub mod infer;
pub mod log;
pub mod message;
pub mod metrics;
pub mod model;
pub mod parameters;
pub mod ratelimit;
pub mod repoagent;
pub mod repository;
pub mod scheduler;
pub mod sequence;
pub mod server;
pub(crate) mod sync;
pub mod trace;
pub mod types;
pub(crate) mod workers;

pub use error::{Code, Error, Result};
