//! Metrics: custom metric families (`TRITONSERVER_MetricFamily` / `TRITONSERVER_Metric`), the
//! core's per-model inference metrics, CPU metrics, and the Prometheus text exposition that
//! shows them all (`TRITONSERVER_ServerMetrics`).
//!
//! As upstream, families live in one process-wide registry: custom families created by any
//! backend appear in the exposition of every server. The core's own values are not pushed into
//! the registry as they change; they are read from each loaded version's statistics when the
//! exposition is written.

mod registry;
mod system;
mod text;

pub use registry::{collect, Labels, Metric, MetricArgs, MetricFamily, MetricKind, Value};
pub use system::{cpu_utilization, memory_info};
pub use text::write_family;

use std::collections::HashMap;

/// The core's own samples of one server, by family name (see `Server::metric_samples`).
pub type Samples = HashMap<&'static str, Vec<(Labels, Value)>>;

/// The Prometheus text of every family: the core's own samples of a server (`own`) and every
/// custom family.
pub fn exposition(mut own: Samples) -> String {
    let mut out = String::new();
    for f in collect() {
        let mut samples = f.samples;
        if let Some(mut mine) = own.remove(f.name.as_str()) {
            mine.append(&mut samples);
            samples = mine;
        }
        write_family(&mut out, &f.name, &f.help, f.ty, &samples);
    }
    out
}
