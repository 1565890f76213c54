//! Metrics and tracing through the exported C functions: custom metrics (error codes, NULL
//! arguments, the exposition text), server metrics after real inference through a mock backend,
//! and traces with their callbacks.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tritonserver::capi::backend::request::{
    TRITONBACKEND_RequestRelease, TRITONBACKEND_RequestTrace,
};
use tritonserver::capi::backend::stats::{
    TRITONBACKEND_ModelInstanceReportBatchStatistics, TRITONBACKEND_ModelInstanceReportStatistics,
};
use tritonserver::capi::server::custom_metrics::*;
use tritonserver::capi::server::error::{
    TRITONSERVER_Error, TRITONSERVER_ErrorCode, TRITONSERVER_ErrorDelete, TRITONSERVER_ErrorMessage,
};
use tritonserver::capi::server::metric_labels::TRITONSERVER_Parameter;
use tritonserver::capi::server::metrics::*;
use tritonserver::capi::server::request::TRITONSERVER_ServerInferAsync;
use tritonserver::capi::server::trace::*;
use tritonserver::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_InferenceTraceActivity, TRITONSERVER_InferenceTraceLevel,
    TRITONSERVER_MemoryType, TRITONSERVER_MetricFormat, TRITONSERVER_MetricKind,
};
use tritonserver::engine::backend::{BackendLibrary, ExecuteResult, LibraryLoader};
use tritonserver::engine::infer::{
    AllocatedBuffer, DataBuffer, InferenceRequest, InferenceResponse, ReleaseCallback,
    ResponseAllocator, ResponseCallback,
};
use tritonserver::engine::model::{Entered, Instance};
use tritonserver::engine::parameters::Parameter;
use tritonserver::engine::server::{Options, Server};
use tritonserver::engine::types::{DataType, MemoryType, ModelControlMode};
use tritonserver::engine::Result;

const COUNTER: TRITONSERVER_MetricKind = TRITONSERVER_MetricKind(0);
const GAUGE: TRITONSERVER_MetricKind = TRITONSERVER_MetricKind(1);
const HISTOGRAM: TRITONSERVER_MetricKind = TRITONSERVER_MetricKind(2);
const PROMETHEUS: TRITONSERVER_MetricFormat = TRITONSERVER_MetricFormat(0);

// Error codes (TRITONSERVER_Error_Code).
const INTERNAL: u32 = 1;
const INVALID_ARG: u32 = 3;
const UNSUPPORTED: u32 = 5;

/// Code and message of an error, deleting it; `None` for success.
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

/// A STRING label parameter.
fn label(k: &str, v: &str) -> Box<TRITONSERVER_Parameter> {
    Box::new(Parameter::string(k, v).unwrap())
}

fn family(kind: TRITONSERVER_MetricKind, name: &str, help: &str) -> *mut TRITONSERVER_MetricFamily {
    let name = CString::new(name).unwrap();
    let help = CString::new(help).unwrap();
    let mut f = null_mut();
    // SAFETY: valid out-pointer and strings.
    ok(unsafe { TRITONSERVER_MetricFamilyNew(&mut f, kind, name.as_ptr(), help.as_ptr()) });
    f
}

fn metric(f: *mut TRITONSERVER_MetricFamily, labels: &[(&str, &str)]) -> *mut TRITONSERVER_Metric {
    let params: Vec<Box<TRITONSERVER_Parameter>> =
        labels.iter().map(|(k, v)| label(k, v)).collect();
    let mut ptrs: Vec<*const TRITONSERVER_Parameter> =
        params.iter().map(|p| &**p as *const _).collect();
    let mut m = null_mut();
    // SAFETY: valid family, label array and out-pointer.
    ok(unsafe { TRITONSERVER_MetricNew(&mut m, f, ptrs.as_mut_ptr(), ptrs.len() as u64) });
    m
}

/// The exposition text without a server.
fn text_of(metrics: *mut TRITONSERVER_Metrics) -> String {
    let mut base: *const c_char = null();
    let mut size = 0usize;
    // SAFETY: a live metrics object and valid out-pointers.
    ok(unsafe { TRITONSERVER_MetricsFormatted(metrics, PROMETHEUS, &mut base, &mut size) });
    // SAFETY: `base` points to `size` bytes owned by the metrics object.
    let bytes = unsafe { std::slice::from_raw_parts(base.cast::<u8>(), size) };
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn value(m: *mut TRITONSERVER_Metric) -> f64 {
    let mut v = -1.0;
    // SAFETY: a live metric.
    ok(unsafe { TRITONSERVER_MetricValue(m, &mut v) });
    v
}

#[test]
fn counter_gauge_and_their_errors() {
    let c = family(COUNTER, "capi_test_requests", "Requests seen");
    let mut kind = TRITONSERVER_MetricKind(9);
    // SAFETY: live handles and out-pointers throughout.
    unsafe {
        ok(TRITONSERVER_GetMetricFamilyKind(c, &mut kind));
        assert_eq!(kind, COUNTER);
        let m = metric(c, &[("model", "m1")]);
        ok(TRITONSERVER_GetMetricKind(m, &mut kind));
        assert_eq!(kind, COUNTER);
        assert_eq!(value(m), 0.0);
        ok(TRITONSERVER_MetricIncrement(m, 2.5));
        assert_eq!(value(m), 2.5);
        let (code, msg) = err(TRITONSERVER_MetricIncrement(m, -1.0)).unwrap();
        assert_eq!(code, INVALID_ARG);
        assert!(
            msg.contains("can only be incremented monotonically"),
            "{msg}"
        );
        let (code, msg) = err(TRITONSERVER_MetricSet(m, 1.0)).unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                UNSUPPORTED,
                "TRITONSERVER_METRIC_KIND_COUNTER does not support Set"
            )
        );
        let (code, _) = err(TRITONSERVER_MetricObserve(m, 1.0)).unwrap();
        assert_eq!(code, UNSUPPORTED);

        // A second metric with the same labels shares the value.
        let m2 = metric(c, &[("model", "m1")]);
        assert_eq!(value(m2), 2.5);

        // The family cannot go while it has metrics.
        let (code, msg) = err(TRITONSERVER_MetricFamilyDelete(c)).unwrap();
        assert_eq!(code, INTERNAL);
        assert!(msg.starts_with("Must call MetricDelete"), "{msg}");

        let g = family(GAUGE, "capi_test_temperature", "");
        let gm = metric(g, &[]);
        ok(TRITONSERVER_MetricSet(gm, 10.0));
        ok(TRITONSERVER_MetricIncrement(gm, -2.5));
        assert_eq!(value(gm), 7.5);
        let (code, msg) = err(TRITONSERVER_MetricObserve(gm, 1.0)).unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                UNSUPPORTED,
                "TRITONSERVER_METRIC_KIND_GAUGE does not support Observe"
            )
        );

        let mut metrics = null_mut();
        // The server argument is required.
        let (code, msg) = err(TRITONSERVER_ServerMetrics(null_mut(), &mut metrics)).unwrap();
        assert_eq!(code, INVALID_ARG);
        assert!(msg.contains("'server'"), "{msg}");

        ok(TRITONSERVER_MetricDelete(m));
        assert_eq!(value(m2), 2.5);
        ok(TRITONSERVER_MetricDelete(m2));
        ok(TRITONSERVER_MetricFamilyDelete(c));
        ok(TRITONSERVER_MetricDelete(gm));
        ok(TRITONSERVER_MetricFamilyDelete(g));
    }
}

#[test]
fn family_registration_rules() {
    // SAFETY: valid pointers; error paths return no handle.
    unsafe {
        let a = family(COUNTER, "capi_test_shared", "first help");
        // Same name, same kind: shared (its help text stays the first one).
        let b = family(COUNTER, "capi_test_shared", "second help");
        let ma = metric(a, &[("k", "v")]);
        ok(TRITONSERVER_MetricIncrement(ma, 3.0));
        let mb = metric(b, &[("k", "v")]);
        assert_eq!(value(mb), 3.0);
        // Same name, other kind: refused.
        let mut f = null_mut();
        let name = c"capi_test_shared";
        let (code, msg) = err(TRITONSERVER_MetricFamilyNew(
            &mut f,
            GAUGE,
            name.as_ptr(),
            c"".as_ptr(),
        ))
        .unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                INVALID_ARG,
                "Family name already exists with different type"
            )
        );
        assert!(f.is_null());
        // The core's own names are taken too.
        let (code, _) = err(TRITONSERVER_MetricFamilyNew(
            &mut f,
            GAUGE,
            c"nv_inference_count".as_ptr(),
            c"".as_ptr(),
        ))
        .unwrap();
        assert_eq!(code, INVALID_ARG);
        let (code, msg) = err(TRITONSERVER_MetricFamilyNew(
            &mut f,
            COUNTER,
            c"9bad".as_ptr(),
            c"".as_ptr(),
        ))
        .unwrap();
        assert_eq!((code, msg.as_str()), (INVALID_ARG, "Invalid metric name"));
        let (code, msg) = err(TRITONSERVER_MetricFamilyNew(
            &mut f,
            TRITONSERVER_MetricKind(7),
            c"x".as_ptr(),
            c"".as_ptr(),
        ))
        .unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                INVALID_ARG,
                "Unsupported kind passed to MetricFamily constructor."
            )
        );
        let (code, msg) = err(TRITONSERVER_MetricFamilyNew(
            &mut f,
            COUNTER,
            null(),
            c"".as_ptr(),
        ))
        .unwrap();
        assert_eq!(code, INVALID_ARG);
        assert!(
            msg.contains("TRITONSERVER_MetricFamilyNew") && msg.contains("'name'"),
            "{msg}"
        );

        // Labels must be STRING parameters with valid names.
        let int_param = Box::new(Parameter::int("n", 1).unwrap());
        let mut ptrs = [&*int_param as *const TRITONSERVER_Parameter];
        let mut m = null_mut();
        let (code, msg) = err(TRITONSERVER_MetricNew(&mut m, a, ptrs.as_mut_ptr(), 1)).unwrap();
        assert_eq!(code, INVALID_ARG);
        assert_eq!(
            msg,
            "Parameter [n] must have a type of TRITONSERVER_PARAMETER_STRING to be added as a label."
        );
        let bad = label("bad-label", "x");
        let mut ptrs = [&*bad as *const TRITONSERVER_Parameter];
        let (code, msg) = err(TRITONSERVER_MetricNew(&mut m, a, ptrs.as_mut_ptr(), 1)).unwrap();
        assert_eq!((code, msg.as_str()), (INVALID_ARG, "Invalid label name"));
        let (code, _) = err(TRITONSERVER_MetricNew(&mut m, a, null_mut(), 1)).unwrap();
        assert_eq!(code, INVALID_ARG);
        let (code, _) = err(TRITONSERVER_MetricNew(&mut m, null_mut(), null_mut(), 0)).unwrap();
        assert_eq!(code, INVALID_ARG);
        // Counters take no args.
        let mut args = null_mut();
        ok(TRITONSERVER_MetricArgsNew(&mut args));
        let (code, msg) = err(TRITONSERVER_MetricNewWithArgs(
            &mut m,
            a,
            null_mut(),
            0,
            args,
        ))
        .unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                INVALID_ARG,
                "Unexpected args found in counter Metric constructor."
            )
        );
        ok(TRITONSERVER_MetricArgsDelete(args));
        assert!(m.is_null());

        ok(TRITONSERVER_MetricDelete(ma));
        ok(TRITONSERVER_MetricDelete(mb));
        ok(TRITONSERVER_MetricFamilyDelete(a));
        ok(TRITONSERVER_MetricFamilyDelete(b));
        assert_eq!(
            err(TRITONSERVER_MetricFamilyDelete(null_mut())).unwrap().0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONSERVER_MetricDelete(null_mut())).unwrap().0,
            INVALID_ARG
        );
    }
}

#[test]
fn histograms() {
    // SAFETY: valid pointers throughout.
    unsafe {
        let h = family(HISTOGRAM, "capi_test_latency", "Latency histogram");
        let mut m = null_mut();
        let (code, msg) = err(TRITONSERVER_MetricNew(&mut m, h, null_mut(), 0)).unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (INVALID_ARG, "Bucket boundaries not found in Metric args.")
        );
        let mut args = null_mut();
        ok(TRITONSERVER_MetricArgsNew(&mut args));
        let (code, msg) = err(TRITONSERVER_MetricNewWithArgs(
            &mut m,
            h,
            null_mut(),
            0,
            args,
        ))
        .unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (INVALID_ARG, "Metric args not set to histogram kind.")
        );
        let buckets = [1.0, 2.5, 10.0];
        ok(TRITONSERVER_MetricArgsSetHistogram(
            args,
            buckets.as_ptr(),
            3,
        ));
        let l = label("route", "a");
        let mut ptrs = [&*l as *const TRITONSERVER_Parameter];
        ok(TRITONSERVER_MetricNewWithArgs(
            &mut m,
            h,
            ptrs.as_mut_ptr(),
            1,
            args,
        ));
        ok(TRITONSERVER_MetricArgsDelete(args));
        for v in [0.5, 2.0, 2.5, 100.0] {
            ok(TRITONSERVER_MetricObserve(m, v));
        }
        let mut v = 0.0;
        let (code, msg) = err(TRITONSERVER_MetricValue(m, &mut v)).unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (
                UNSUPPORTED,
                "TRITONSERVER_METRIC_KIND_HISTOGRAM does not support Value"
            )
        );
        assert_eq!(
            err(TRITONSERVER_MetricIncrement(m, 1.0)).unwrap().0,
            UNSUPPORTED
        );
        assert_eq!(err(TRITONSERVER_MetricSet(m, 1.0)).unwrap().0, UNSUPPORTED);

        let fx = Fixture::new("hist");
        let server = fx.start(fx.options());
        let text = server_text(&server);
        let expected = "# HELP capi_test_latency Latency histogram\n\
                        # TYPE capi_test_latency histogram\n\
                        capi_test_latency_count{route=\"a\"} 4\n\
                        capi_test_latency_sum{route=\"a\"} 105\n\
                        capi_test_latency_bucket{route=\"a\",le=\"1\"} 1\n\
                        capi_test_latency_bucket{route=\"a\",le=\"2.5\"} 3\n\
                        capi_test_latency_bucket{route=\"a\",le=\"10\"} 3\n\
                        capi_test_latency_bucket{route=\"a\",le=\"+Inf\"} 4\n";
        assert!(text.contains(expected), "{text}");
        ok(TRITONSERVER_MetricDelete(m));
        ok(TRITONSERVER_MetricFamilyDelete(h));
        assert!(!server_text(&server).contains("capi_test_latency"));
        server.stop().unwrap();
    }
}

#[test]
fn metrics_object_arguments() {
    let fx = Fixture::new("args");
    let server = fx.start(fx.options());
    let p = Arc::as_ptr(&server).cast_mut();
    // SAFETY: a live server; valid or NULL out-pointers as each case says.
    unsafe {
        let mut metrics = null_mut();
        assert_eq!(
            err(TRITONSERVER_ServerMetrics(p, null_mut())).unwrap().0,
            INVALID_ARG
        );
        ok(TRITONSERVER_ServerMetrics(p, &mut metrics));
        let mut base: *const c_char = null();
        let mut size = 0usize;
        let (code, msg) = err(TRITONSERVER_MetricsFormatted(
            metrics,
            TRITONSERVER_MetricFormat(1),
            &mut base,
            &mut size,
        ))
        .unwrap();
        assert_eq!(
            (code, msg.as_str()),
            (INVALID_ARG, "unknown metrics format '1'")
        );
        assert!(base.is_null());
        assert_eq!(
            err(TRITONSERVER_MetricsFormatted(
                metrics,
                PROMETHEUS,
                null_mut(),
                &mut size
            ))
            .unwrap()
            .0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONSERVER_MetricsFormatted(
                null_mut(),
                PROMETHEUS,
                &mut base,
                &mut size
            ))
            .unwrap()
            .0,
            INVALID_ARG
        );
        let text = text_of(metrics);
        assert!(text.contains("# TYPE nv_pinned_memory_pool_total_bytes gauge\nnv_pinned_memory_pool_total_bytes 0\n"), "{text}");
        assert!(
            text.contains("# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]\n"),
            "{text}"
        );
        assert!(text.contains("nv_cpu_memory_total_bytes "), "{text}");
        ok(TRITONSERVER_MetricsDelete(metrics));
        assert_eq!(
            err(TRITONSERVER_MetricsDelete(null_mut())).unwrap().0,
            INVALID_ARG
        );
    }
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------------------------
// A server with a mock backend whose execute reports statistics through the C API.

struct MockLibrary {
    path: PathBuf,
}

impl BackendLibrary for MockLibrary {
    fn path(&self) -> &Path {
        &self.path
    }
    fn execute(
        &self,
        instance: &Entered<'_>,
        requests: Vec<Box<InferenceRequest>>,
    ) -> ExecuteResult {
        let inst = &**instance as *const Instance as *mut Instance;
        let fail = requests.iter().any(|r| r.id() == "fail");
        for r in requests {
            let p = Box::into_raw(r);
            // SAFETY: the instance and request handles the core gave this backend; the request is
            // released exactly once.
            unsafe {
                let mut trace = null_mut();
                ok(TRITONBACKEND_RequestTrace(p, &mut trace));
                if (*p).id() == "traced" {
                    assert!(!trace.is_null());
                    ok(TRITONSERVER_InferenceTraceReportActivity(
                        trace,
                        42,
                        c"backend_step".as_ptr(),
                    ));
                } else {
                    assert!(trace.is_null());
                }
                ok(TRITONBACKEND_ModelInstanceReportStatistics(
                    inst, p, !fail, 1_000, 3_000, 2_004_000, 2_010_000,
                ));
                ok(TRITONBACKEND_RequestRelease(p, 1));
            }
        }
        // SAFETY: the instance handle given to this backend.
        ok(unsafe {
            TRITONBACKEND_ModelInstanceReportBatchStatistics(
                inst, 1, 1_000, 3_000, 2_004_000, 2_010_000,
            )
        });
        Ok(())
    }
}

struct MockLoader;

impl LibraryLoader for MockLoader {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        Ok(Arc::new(MockLibrary {
            path: path.to_path_buf(),
        }))
    }
}

struct Fixture {
    root: PathBuf,
}

static FIXTURES: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let root = std::env::temp_dir().join(format!(
            "tc-capi-metrics-{tag}-{}-{}",
            std::process::id(),
            FIXTURES.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("backends/mock")).unwrap();
        std::fs::write(root.join("backends/mock/libtriton_mock.so"), b"").unwrap();
        let dir = root.join("repo/simple");
        std::fs::create_dir_all(dir.join("1")).unwrap();
        std::fs::write(
            dir.join("config.pbtxt"),
            "name: \"simple\"\nbackend: \"mock\"\nmax_batch_size: 0\n\
             input [{ name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] }]\n\
             output [{ name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] }]\n\
             metric_tags { key: \"team\" value: \"blue\" }\n",
        )
        .unwrap();
        Fixture { root }
    }

    fn options(&self) -> Options {
        Options {
            repository_paths: vec![self.root.join("repo").to_string_lossy().into_owned()],
            backend_dir: self.root.join("backends").to_string_lossy().into_owned(),
            control_mode: ModelControlMode::None,
            exit_timeout_secs: 5,
            log: tritonserver::engine::log::Settings {
                info: false,
                warn: false,
                error: false,
                ..Default::default()
            },
            ..Options::default()
        }
    }

    fn start(&self, options: Options) -> Arc<Server> {
        Server::new(options, Arc::new(MockLoader)).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn server_text(server: &Arc<Server>) -> String {
    let mut metrics = null_mut();
    // SAFETY: a live server and valid out-pointer.
    ok(unsafe { TRITONSERVER_ServerMetrics(Arc::as_ptr(server).cast_mut(), &mut metrics) });
    let t = text_of(metrics);
    // SAFETY: the object just created.
    ok(unsafe { TRITONSERVER_MetricsDelete(metrics) });
    t
}

struct NoAlloc;
impl ResponseAllocator for NoAlloc {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn alloc(&self, _: &CStr, _: usize, _: MemoryType, _: i64) -> Result<AllocatedBuffer> {
        Err(tritonserver::engine::Error::unsupported(
            "no outputs in this test",
        ))
    }
    fn release(&self, _: &AllocatedBuffer) -> Result<()> {
        Ok(())
    }
    fn query(
        &self,
        _: Option<&CStr>,
        _: Option<usize>,
        m: MemoryType,
        id: i64,
    ) -> Result<(MemoryType, i64)> {
        Ok((m, id))
    }
}
struct Ignore;
impl ResponseCallback for Ignore {
    fn complete(&self, _: Option<Box<InferenceResponse>>, _: u32) {}
}
struct Released(Mutex<mpsc::Sender<String>>);
impl ReleaseCallback for Released {
    fn release(&self, request: Box<InferenceRequest>, _: u32) {
        let _ = self.0.lock().unwrap().send(request.id().to_owned());
    }
}

static DATA: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

fn request(server: &Server, id: &str, tx: &mpsc::Sender<String>) -> Box<InferenceRequest> {
    let model = server.get_model("simple", -1).unwrap();
    let mut r = InferenceRequest::new(model, -1);
    r.set_id(id);
    r.add_input("IN", DataType::Fp32, &[4]).unwrap();
    r.append_input_data(
        "IN",
        DataBuffer::borrowed(
            tritonserver::engine::buffer::Addr::of(DATA.as_ptr()),
            16,
            MemoryType::Cpu,
            0,
        ),
        None,
    )
    .unwrap();
    r.set_response_callback(Arc::new(NoAlloc), Arc::new(Ignore));
    r.set_release_callback(Arc::new(Released(Mutex::new(tx.clone()))));
    Box::new(r)
}

fn infer(
    server: &Arc<Server>,
    r: Box<InferenceRequest>,
    trace: *mut TRITONSERVER_InferenceTrace,
) -> Option<(u32, String)> {
    // SAFETY: a live server, a request the test owns (handed over) and a live or NULL trace.
    err(unsafe {
        TRITONSERVER_ServerInferAsync(Arc::as_ptr(server).cast_mut(), Box::into_raw(r), trace)
    })
}

/// A tensor activity: trace id, activity, tensor name, shape, data.
type TensorSeen = (u64, u32, String, Vec<i64>, Vec<u8>);

/// What the trace callbacks saw.
#[derive(Default)]
struct Seen {
    activities: Vec<(u64, u32, u64)>,
    tensors: Vec<TensorSeen>,
    released: Vec<u64>,
}

unsafe extern "C" fn on_activity(
    trace: *mut TRITONSERVER_InferenceTrace,
    activity: TRITONSERVER_InferenceTraceActivity,
    ts: u64,
    userp: *mut c_void,
) {
    // SAFETY: userp is the test's Mutex<Seen>; trace is live for the call.
    unsafe {
        let mut id = 0;
        ok(TRITONSERVER_InferenceTraceId(trace, &mut id));
        (*userp.cast::<Mutex<Seen>>())
            .lock()
            .unwrap()
            .activities
            .push((id, activity.0, ts));
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn on_tensor(
    trace: *mut TRITONSERVER_InferenceTrace,
    activity: TRITONSERVER_InferenceTraceActivity,
    name: *const c_char,
    _dt: TRITONSERVER_DataType,
    base: *const c_void,
    byte_size: usize,
    shape: *const i64,
    dim_count: u64,
    _mt: TRITONSERVER_MemoryType,
    _mti: i64,
    userp: *mut c_void,
) {
    // SAFETY: pointers valid for the call as the header documents.
    unsafe {
        let mut id = 0;
        ok(TRITONSERVER_InferenceTraceId(trace, &mut id));
        let shape = std::slice::from_raw_parts(shape, dim_count as usize).to_vec();
        let data = std::slice::from_raw_parts(base.cast::<u8>(), byte_size).to_vec();
        let name = CStr::from_ptr(name).to_string_lossy().into_owned();
        (*userp.cast::<Mutex<Seen>>())
            .lock()
            .unwrap()
            .tensors
            .push((id, activity.0, name, shape, data));
    }
}

unsafe extern "C" fn on_release(trace: *mut TRITONSERVER_InferenceTrace, userp: *mut c_void) {
    // SAFETY: as above; the frontend deletes its trace here, as real frontends do.
    unsafe {
        let mut id = 0;
        ok(TRITONSERVER_InferenceTraceId(trace, &mut id));
        (*userp.cast::<Mutex<Seen>>())
            .lock()
            .unwrap()
            .released
            .push(id);
        ok(TRITONSERVER_InferenceTraceDelete(trace));
    }
}

fn new_trace(level: u32, seen: &Mutex<Seen>) -> *mut TRITONSERVER_InferenceTrace {
    let mut t = null_mut();
    // SAFETY: valid out-pointer; userp outlives the trace in every test.
    ok(unsafe {
        TRITONSERVER_InferenceTraceTensorNew(
            &mut t,
            TRITONSERVER_InferenceTraceLevel(level),
            0,
            Some(on_activity),
            Some(on_tensor),
            Some(on_release),
            seen as *const Mutex<Seen> as *mut c_void,
        )
    });
    t
}

fn line_value(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn server_metrics_after_inference_with_a_trace() {
    let fx = Fixture::new("infer");
    let server = fx.start(fx.options());
    let (tx, rx) = mpsc::channel();

    let before = server_text(&server);
    let labels = "{_team=\"blue\",model=\"simple\",version=\"1\"}";
    assert!(before.contains(&format!(
        "# HELP nv_inference_request_success Number of successful inference requests, all batch sizes\n\
         # TYPE nv_inference_request_success counter\n\
         nv_inference_request_success{labels} 0\n"
    )), "{before}");
    assert!(before.contains(
        "nv_inference_request_failure{_team=\"blue\",model=\"simple\",reason=\"BACKEND\",version=\"1\"} 0\n"
    ));
    assert!(before.contains(&format!("# TYPE nv_inference_pending_request_count gauge\nnv_inference_pending_request_count{labels} 0\n")));

    let seen = Mutex::new(Seen::default());
    let trace = new_trace(4 | 8, &seen);
    let mut trace_id = 0;
    // SAFETY: a live trace.
    ok(unsafe { TRITONSERVER_InferenceTraceId(trace, &mut trace_id) });
    assert!(infer(&server, request(&server, "traced", &tx), trace).is_none());
    assert!(infer(&server, request(&server, "plain", &tx), null_mut()).is_none());
    assert!(infer(&server, request(&server, "fail", &tx), null_mut()).is_none());
    let mut done: Vec<String> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    done.sort();
    assert_eq!(done, ["fail", "plain", "traced"]);

    // The backend reports statistics after it sends the response: wait until all three did.
    let mut text = server_text(&server);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while line_value(&text, &format!("nv_inference_exec_count{labels} ")) < 3.0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
        text = server_text(&server);
    }
    let v = |name: &str| line_value(&text, &format!("{name}{labels} "));
    assert_eq!(v("nv_inference_request_success"), 2.0);
    assert_eq!(v("nv_inference_exec_count"), 3.0);
    assert_eq!(v("nv_inference_count"), 3.0);
    // Per request: queue from enqueue to exec start (unknown), compute input 2 µs, infer 2001 µs,
    // output 6 µs, summed per request in whole microseconds.
    assert_eq!(v("nv_inference_compute_input_duration_us"), 4.0);
    assert_eq!(v("nv_inference_compute_infer_duration_us"), 4002.0);
    assert_eq!(v("nv_inference_compute_output_duration_us"), 12.0);
    assert!(v("nv_inference_request_duration_us") >= 0.0);
    assert!(v("nv_inference_queue_duration_us") >= 0.0);
    assert_eq!(v("nv_inference_pending_request_count"), 0.0);
    assert_eq!(
        line_value(&text, "nv_inference_request_failure{_team=\"blue\",model=\"simple\",reason=\"BACKEND\",version=\"1\"} "),
        1.0
    );
    for reason in ["CANCELED", "OTHER", "REJECTED"] {
        assert_eq!(
            line_value(&text, &format!("nv_inference_request_failure{{_team=\"blue\",model=\"simple\",reason=\"{reason}\",version=\"1\"}} ")),
            0.0
        );
    }
    // Family order: counters, then gauges.
    let pos = |s: &str| text.find(s).unwrap();
    assert!(
        pos("# TYPE nv_inference_request_success") < pos("# TYPE nv_inference_request_failure")
    );
    assert!(
        pos("# TYPE nv_inference_compute_output_duration_us")
            < pos("# TYPE nv_inference_pending_request_count")
    );

    // The trace: every activity of the request, in order, then its release.
    let s = seen.lock().unwrap();
    let names: Vec<u32> = s
        .activities
        .iter()
        .filter(|a| a.0 == trace_id)
        .map(|a| a.1)
        .collect();
    assert_eq!(names, [0, 1, 10, 2, 3, 4, 5, 6], "{:?}", s.activities);
    let compute: Vec<u64> = s
        .activities
        .iter()
        .filter(|a| (2..=5).contains(&a.1))
        .map(|a| a.2)
        .collect();
    assert_eq!(compute, [1_000, 3_000, 2_004_000, 2_010_000]);
    assert_eq!(s.released, [trace_id]);
    assert_eq!(s.tensors.len(), 1);
    let (tid, act, name, shape, data) = &s.tensors[0];
    assert_eq!(
        (*tid, *act, name.as_str(), shape.as_slice()),
        (trace_id, 7, "IN", &[4i64][..])
    );
    assert_eq!(data.len(), 16);
    drop(s);
    server.stop().unwrap();
}

#[test]
fn custom_metrics_join_the_server_exposition() {
    let fx = Fixture::new("custom");
    let server = fx.start(fx.options());
    let f = family(GAUGE, "capi_test_queue_depth", "Depth of the custom queue");
    let m = metric(f, &[("model", "simple"), ("version", "1")]);
    // SAFETY: a live metric.
    ok(unsafe { TRITONSERVER_MetricSet(m, 2_000_000.0) });
    let text = server_text(&server);
    assert!(
        text.contains(
            "# HELP capi_test_queue_depth Depth of the custom queue\n\
         # TYPE capi_test_queue_depth gauge\n\
         capi_test_queue_depth{model=\"simple\",version=\"1\"} 2e+06\n"
        ),
        "{text}"
    );
    // Custom gauges follow the core's gauges.
    assert!(
        text.find("nv_inference_pending_request_count").unwrap()
            < text.find("capi_test_queue_depth").unwrap()
    );
    // SAFETY: handles created above.
    unsafe {
        ok(TRITONSERVER_MetricDelete(m));
        ok(TRITONSERVER_MetricFamilyDelete(f));
    }
    server.stop().unwrap();
}

#[test]
fn disabled_metrics_leave_only_custom_families() {
    let fx = Fixture::new("off");
    let mut o = fx.options();
    o.metrics.enabled = false;
    let server = fx.start(o);
    let text = server_text(&server);
    assert!(!text.contains("nv_"), "{text}");
    server.stop().unwrap();

    let mut o = fx.options();
    o.metrics.cpu = false;
    o.metrics
        .config
        .insert((String::new(), "counter_latencies".into()), "false".into());
    let server = fx.start(o);
    let text = server_text(&server);
    assert!(!text.contains("nv_cpu_"), "{text}");
    assert!(!text.contains("_duration_us"), "{text}");
    assert!(text.contains("nv_inference_request_success{"), "{text}");
    server.stop().unwrap();
}

#[test]
fn trace_objects() {
    let seen = Mutex::new(Seen::default());
    // SAFETY: valid pointers; the traces are deleted at the end.
    unsafe {
        let parent = new_trace(1, &seen); // MIN: recorded as TIMESTAMPS
        let mut pid = 0;
        ok(TRITONSERVER_InferenceTraceId(parent, &mut pid));
        let mut parent_of_parent = 9;
        ok(TRITONSERVER_InferenceTraceParentId(
            parent,
            &mut parent_of_parent,
        ));
        assert_eq!(parent_of_parent, 0);

        let mut child = null_mut();
        ok(TRITONSERVER_InferenceTraceSpawnChildTrace(
            parent, &mut child,
        ));
        let (mut cid, mut cparent) = (0, 0);
        ok(TRITONSERVER_InferenceTraceId(child, &mut cid));
        ok(TRITONSERVER_InferenceTraceParentId(child, &mut cparent));
        assert!(cid > pid);
        assert_eq!(cparent, pid);

        let mut none = parent;
        ok(TRITONSERVER_InferenceTraceSpawnChildTrace(
            null_mut(),
            &mut none,
        ));
        assert!(none.is_null());
        assert_eq!(
            err(TRITONSERVER_InferenceTraceSpawnChildTrace(
                parent,
                null_mut()
            ))
            .unwrap()
            .0,
            INVALID_ARG
        );

        // Model name, version, request id are empty before inference.
        let mut s: *const c_char = null();
        ok(TRITONSERVER_InferenceTraceModelName(parent, &mut s));
        assert_eq!(CStr::from_ptr(s).to_bytes(), b"");
        ok(TRITONSERVER_InferenceTraceRequestId(parent, &mut s));
        assert_eq!(CStr::from_ptr(s).to_bytes(), b"");
        let mut v = 7;
        ok(TRITONSERVER_InferenceTraceModelVersion(parent, &mut v));
        assert_eq!(v, 0);

        // Context and custom activities.
        ok(TRITONSERVER_InferenceTraceSetContext(
            child,
            c"{\"traceparent\":\"00-abc\"}".as_ptr(),
        ));
        ok(TRITONSERVER_InferenceTraceReportActivity(
            child,
            123,
            c"my_step".as_ptr(),
        ));
        ok(TRITONSERVER_InferenceTraceContext(child, &mut s));
        assert_eq!(
            CStr::from_ptr(s).to_str().unwrap(),
            r#"{"traceparent":"00-abc","123":"my_step"}"#
        );
        ok(TRITONSERVER_InferenceTraceReportActivity(
            null_mut(),
            1,
            c"x".as_ptr(),
        ));
        assert_eq!(
            err(TRITONSERVER_InferenceTraceReportActivity(child, 1, null()))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert_eq!(*seen.lock().unwrap().activities, [(cid, 10, 123)]);

        // NULL handles and out-parameters.
        let mut id = 0;
        assert_eq!(
            err(TRITONSERVER_InferenceTraceId(null_mut(), &mut id))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONSERVER_InferenceTraceId(parent, null_mut()))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONSERVER_InferenceTraceContext(parent, null_mut()))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert_eq!(
            err(TRITONSERVER_InferenceTraceDelete(null_mut()))
                .unwrap()
                .0,
            INVALID_ARG
        );
        let mut t = null_mut();
        assert_eq!(
            err(TRITONSERVER_InferenceTraceNew(
                null_mut(),
                TRITONSERVER_InferenceTraceLevel(4),
                0,
                None,
                None,
                null_mut()
            ))
            .unwrap()
            .0,
            INVALID_ARG
        );
        ok(TRITONSERVER_InferenceTraceNew(
            &mut t,
            TRITONSERVER_InferenceTraceLevel(4),
            5,
            None,
            None,
            null_mut(),
        ));
        ok(TRITONSERVER_InferenceTraceParentId(t, &mut id));
        assert_eq!(id, 5);
        ok(TRITONSERVER_InferenceTraceReportActivity(
            t,
            1,
            c"no callback".as_ptr(),
        ));
        ok(TRITONSERVER_InferenceTraceDelete(t));

        // Deleting without giving the trace to a request does not call the release callback.
        ok(TRITONSERVER_InferenceTraceDelete(child));
        ok(TRITONSERVER_InferenceTraceDelete(parent));
        assert!(seen.lock().unwrap().released.is_empty());
    }
}

#[test]
fn level_and_activity_names() {
    let name = |p: *const c_char| {
        // SAFETY: the functions return static strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    };
    let levels: HashMap<u32, &str> = [
        (0, "DISABLED"),
        (1, "MIN"),
        (2, "MAX"),
        (4, "TIMESTAMPS"),
        (8, "TENSORS"),
        (12, "<unknown>"),
        (3, "<unknown>"),
    ]
    .into_iter()
    .collect();
    for (l, n) in levels {
        // SAFETY: plain value arguments.
        let p =
            unsafe { TRITONSERVER_InferenceTraceLevelString(TRITONSERVER_InferenceTraceLevel(l)) };
        assert_eq!(name(p), n);
    }
    let acts = [
        "REQUEST_START",
        "QUEUE_START",
        "COMPUTE_START",
        "COMPUTE_INPUT_END",
        "COMPUTE_OUTPUT_START",
        "COMPUTE_END",
        "REQUEST_END",
        "TENSOR_QUEUE_INPUT",
        "TENSOR_BACKEND_INPUT",
        "TENSOR_BACKEND_OUTPUT",
        "CUSTOM_ACTIVITY",
        "<unknown>",
    ];
    for (i, n) in acts.iter().enumerate() {
        // SAFETY: plain value arguments.
        let got = name(unsafe {
            TRITONSERVER_InferenceTraceActivityString(TRITONSERVER_InferenceTraceActivity(i as u32))
        });
        assert_eq!(&got, n);
    }
}

#[test]
fn refused_requests_release_an_accepted_trace_only() {
    let fx = Fixture::new("refused");
    let server = fx.start(fx.options());
    let (tx, _rx) = mpsc::channel();
    let seen = Mutex::new(Seen::default());

    // Refused in validation (wrong input shape): the trace was never accepted; the caller keeps
    // both the request and the trace.
    let trace = new_trace(4, &seen);
    let mut r = request(&server, "bad", &tx);
    r.remove_all_inputs();
    r.add_input("IN", DataType::Fp32, &[3]).unwrap();
    let raw = Box::into_raw(r);
    // SAFETY: the server and trace are live; the request comes back to us on error.
    let e =
        err(unsafe { TRITONSERVER_ServerInferAsync(Arc::as_ptr(&server).cast_mut(), raw, trace) });
    assert_eq!(e.unwrap().0, INVALID_ARG);
    // SAFETY: on error the caller still owns the request.
    let r = unsafe { Box::from_raw(raw) };
    assert!(r.trace().is_none());
    drop(r);
    assert!(seen.lock().unwrap().released.is_empty());
    // SAFETY: the trace is still ours.
    ok(unsafe { TRITONSERVER_InferenceTraceDelete(trace) });
    server.stop().unwrap();
}
