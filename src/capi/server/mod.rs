//! `tritonserver.h`, one file per header section.

pub mod custom_metrics;
pub mod error;
pub mod message;
pub mod metric_labels;
pub mod metrics;
pub mod misc;
pub mod options;
pub mod parameter;
pub mod repository;
pub mod request;
pub mod response;
#[allow(clippy::module_inception, reason = "mirrors the header section name")]
pub mod server;
pub mod trace;

/// `TRITONSERVER_API_VERSION_MAJOR`: the major version of the server API.
pub const TRITONSERVER_API_VERSION_MAJOR: u32 = 1;
/// `TRITONSERVER_API_VERSION_MINOR`: the minor version of the server API.
pub const TRITONSERVER_API_VERSION_MINOR: u32 = 34;
