//! triton-core: a Rust implementation of the core library of NVIDIA Triton Inference Server.
//!
//! The crate builds `libtritonserver.so`, a drop-in replacement for Triton's own core library.
//! It has two layers:
//!
//! * [`engine`]: the safe core (server, model repository, models, backends, readiness). It has no
//!   `unsafe` code and knows nothing about C; backends are reached through the traits in
//!   [`engine::backend`].
//! * [`capi`]: the ABI shell. Every `extern "C"` function of `tritonserver.h` and `tritonbackend.h`
//!   lives there, together with the `libloading`-based loader that opens backend libraries.
//! * [`sys`]: the one operating-system call the engine needs that `std` and `nix` do not wrap
//!   (a thread's scheduling policy).

#![allow(
    clippy::vec_box,
    reason = "requests, responses and outputs are boxed on purpose: their addresses are C handles and must not move"
)]

pub mod capi;
#[cfg(feature = "testing")]
pub mod engine;
#[cfg(not(feature = "testing"))]
pub(crate) mod engine;
pub mod sys;
