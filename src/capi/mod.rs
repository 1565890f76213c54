//! The C ABI shell: every `extern "C"` function of the Triton C API lives below this module.
//!
//! Each exported function is a thin boundary: it checks its arguments (a NULL or invalid one is
//! a `TRITONSERVER_ERROR_INVALID_ARG` error naming the function and parameter), runs the engine
//! inside [`boundary::ffi_try`] (a panic becomes `TRITONSERVER_ERROR_INTERNAL`), and writes
//! out-parameters only on success. `unsafe` code is confined to [`handle`], [`callback`] and
//! the plugin loaders ([`backend::loader`], [`repoagent::loader`], [`cache::loader`]).
#![allow(
    non_snake_case,
    non_camel_case_types,
    reason = "names must match tritonserver.h and tritonbackend.h"
)]
#![allow(
    clippy::missing_safety_doc,
    reason = "the safety contract of every function is the upstream header; see README 'API conventions'"
)]

pub mod backend;
pub(crate) mod boundary;
pub mod cache;
pub mod callback;
pub mod ext;
pub(crate) mod handle;
pub mod repoagent;
pub mod server;
pub mod types;
