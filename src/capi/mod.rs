//! The C ABI shell: every `extern "C"` function of the Triton C API lives below this module.
//!
//! Each exported function is a thin boundary: it checks its arguments (a NULL or invalid one is
//! a `TRITONSERVER_ERROR_INVALID_ARG` error naming the function and parameter), runs the engine
//! inside [`boundary::ffi_try`] (a panic becomes `TRITONSERVER_ERROR_INTERNAL`), and writes
//! out-parameters only on success.
//!
//! Pointers from C become references only through the methods of [`handle::Contract`], a token
//! that an `unsafe` block makes at the start of each exported function, under a `SAFETY` comment
//! stating what the header promises about that function's arguments. Helpers that take raw
//! pointers take the token too. Other `unsafe` code (calling plugins and frontend callbacks,
//! reading the memory they lend) is in [`handle`], [`callback`] and the plugin loaders
//! ([`backend::loader`], [`repoagent::loader`], [`cache::loader`]), each block with the contract
//! it relies on.
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
