//! Engine tests of inference with mock backends and mock frontend callbacks: ownership
//! (exactly one release per request, FINAL exactly once), errors, batching, decoupled
//! responses, queue timeouts and unloading with requests in flight.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tests::{wait_until, Fixture};
use super::Server;
use crate::engine::backend::{BackendLibrary, ExecuteResult, LibraryLoader};
use crate::engine::infer::{
    AllocatedBuffer, DataBuffer, InferenceRequest, InferenceResponse, ReleaseCallback,
    ResponseAllocator, ResponseCallback, RELEASE_ALL, RESPONSE_FINAL,
};
use crate::engine::model::{Entered, Finalizing, ModelState};
use crate::engine::types::{DataType, MemoryType, ModelControlMode};
use crate::engine::{Code, Error, Result};

/// What the mock backend does with each batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One response per request with one output, then release.
    Respond,
    /// Return an error from Execute.
    Fail,
    /// Keep the requests; a test releases them later.
    Hold,
    /// Release the request first, then send three responses and a FINAL flag.
    Decoupled,
    /// A sequence model: record the control and state inputs, write state + 1.
    Sequence,
    /// Respond after 20 ms, counting how many executions overlap.
    Slow,
    /// Release and respond at once, then keep executing for 20 ms (counted in `inside`).
    SlowTail,
}

/// (correlation id, START, END, CORRID, state input) of one sequence request.
type Seen = (u64, i32, i32, u64, i32);

#[derive(Default)]
struct Exec {
    /// What each executed sequence request carried.
    seen: Mutex<Vec<Seen>>,
    inside: AtomicUsize,
    max_inside: AtomicUsize,
    batches: Mutex<Vec<usize>>,
    held: Mutex<Vec<Box<InferenceRequest>>>,
    gate: Mutex<()>,
    /// The thread of each Slow execution.
    threads: Mutex<Vec<std::thread::ThreadId>>,
    /// Instances finalized, and finalizations that found an execution still inside.
    finalized: AtomicUsize,
    finalized_while_executing: AtomicUsize,
    executing: AtomicUsize,
}

struct Lib {
    path: PathBuf,
    mode: Mode,
    exec: Arc<Exec>,
}

impl BackendLibrary for Lib {
    fn path(&self) -> &Path {
        &self.path
    }
    fn instance_finalize(&self, _: &Finalizing<'_>) -> Result<()> {
        if self.exec.executing.load(Ordering::SeqCst) > 0 {
            self.exec
                .finalized_while_executing
                .fetch_add(1, Ordering::SeqCst);
        }
        self.exec.finalized.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn execute(&self, i: &Entered<'_>, requests: Vec<Box<InferenceRequest>>) -> ExecuteResult {
        self.exec.executing.fetch_add(1, Ordering::SeqCst);
        let r = self.execute_inner(i, requests);
        self.exec.executing.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

impl Lib {
    fn execute_inner(
        &self,
        _: &Entered<'_>,
        requests: Vec<Box<InferenceRequest>>,
    ) -> ExecuteResult {
        if self.mode == Mode::Slow {
            self.exec
                .threads
                .lock()
                .unwrap()
                .push(std::thread::current().id());
            let n = self.exec.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.exec.max_inside.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            self.exec.inside.fetch_sub(1, Ordering::SeqCst);
            for r in requests {
                let factory = r.response_factory().unwrap().clone();
                r.release(RELEASE_ALL);
                factory.create().send(RESPONSE_FINAL);
            }
            return Ok(());
        }
        if self.mode == Mode::SlowTail {
            self.exec.inside.fetch_add(1, Ordering::SeqCst);
            for r in requests {
                let factory = r.response_factory().unwrap().clone();
                r.release(RELEASE_ALL);
                factory.create().send(RESPONSE_FINAL);
            }
            std::thread::sleep(Duration::from_millis(20));
            self.exec.inside.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
        let _g = self.exec.gate.lock().unwrap();
        self.exec.batches.lock().unwrap().push(requests.len());
        match self.mode {
            Mode::Fail => Err((Error::internal("mock execute failure"), requests)),
            Mode::Hold => {
                self.exec.held.lock().unwrap().extend(requests);
                Ok(())
            }
            Mode::Respond => {
                for r in requests {
                    let factory = r.response_factory().unwrap().clone();
                    let mut resp = factory.create();
                    let i = resp.add_output("OUT", DataType::Fp32, &[4]).unwrap();
                    resp.output_mut(i)
                        .unwrap()
                        .allocate(16, MemoryType::Cpu, 0)
                        .unwrap();
                    r.release(RELEASE_ALL);
                    resp.send(RESPONSE_FINAL);
                }
                Ok(())
            }
            Mode::Sequence => {
                for r in requests {
                    let read = |name: &str| -> Vec<u8> {
                        r.input(name).unwrap().buffers[0]
                            .owned
                            .as_deref()
                            .unwrap()
                            .to_vec()
                    };
                    let i32_of = |b: Vec<u8>| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let corr = match &r.correlation_id {
                        crate::engine::infer::CorrelationId::U64(v) => *v,
                        _ => 0,
                    };
                    let state_in = i32_of(read("STATE_IN"));
                    let corrid_bytes = read("CORRID");
                    let corrid = u64::from_le_bytes(corrid_bytes[..8].try_into().unwrap());
                    self.exec.seen.lock().unwrap().push((
                        corr,
                        i32_of(read("START")),
                        i32_of(read("END")),
                        corrid,
                        state_in,
                    ));
                    let st = r.new_state("STATE_OUT", DataType::Int32, &[1]).unwrap();
                    st.allocate(4, MemoryType::Cpu).unwrap();
                    st.write(&(state_in + 1).to_le_bytes());
                    st.update().unwrap();
                    let factory = r.response_factory().unwrap().clone();
                    r.release(RELEASE_ALL);
                    factory.create().send(RESPONSE_FINAL);
                }
                Ok(())
            }
            Mode::Slow | Mode::SlowTail => unreachable!("handled before the gate"),
            Mode::Decoupled => {
                for r in requests {
                    let factory = r.response_factory().unwrap().clone();
                    r.release(RELEASE_ALL);
                    std::thread::spawn(move || {
                        for _ in 0..3 {
                            factory.create().send(0);
                        }
                        factory.send_flags(RESPONSE_FINAL);
                    });
                }
                Ok(())
            }
        }
    }
}

struct Loader {
    mode: Mode,
    exec: Arc<Exec>,
}

impl LibraryLoader for Loader {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        Ok(Arc::new(Lib {
            path: path.to_path_buf(),
            mode: self.mode,
            exec: self.exec.clone(),
        }))
    }
}

/// Counts what the frontend sees.
#[derive(Default)]
pub(super) struct Frontend {
    allocs: AtomicUsize,
    frees: AtomicUsize,
    releases: AtomicUsize,
    responses: Mutex<Vec<(bool, u32, Option<Error>)>>,
}

struct Alloc(Arc<Frontend>);
impl ResponseAllocator for Alloc {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn alloc(&self, _: &CStr, size: usize, t: MemoryType, id: i64) -> Result<AllocatedBuffer> {
        let n = self.0.allocs.fetch_add(1, Ordering::SeqCst);
        Ok(AllocatedBuffer {
            addr: crate::engine::buffer::Addr::of((0x1000 + n * 64) as *const u8),
            byte_size: size,
            memory_type: t,
            memory_type_id: id,
            buffer_userp: crate::engine::buffer::Addr::of(n as *const u8),
        })
    }
    fn release(&self, _: &AllocatedBuffer) -> Result<()> {
        self.0.frees.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn query(
        &self,
        _: Option<&CStr>,
        _: Option<usize>,
        t: MemoryType,
        id: i64,
    ) -> Result<(MemoryType, i64)> {
        Ok((t, id))
    }
}

struct Complete(Arc<Frontend>);
impl ResponseCallback for Complete {
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        let error = response.as_ref().and_then(|r| r.error().cloned());
        self.0
            .responses
            .lock()
            .unwrap()
            .push((response.is_some(), flags, error));
        drop(response);
    }
}

struct Release(Arc<Frontend>);
impl ReleaseCallback for Release {
    fn release(&self, request: Box<InferenceRequest>, flags: u32) {
        assert_eq!(flags & RELEASE_ALL, RELEASE_ALL);
        self.0.releases.fetch_add(1, Ordering::SeqCst);
        drop(request);
    }
}

fn server(f: &Fixture, mode: Mode, extra: &str) -> (Arc<Server>, Arc<Exec>) {
    f.model("m", "mock", &[1], extra);
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["m".into()];
    o.exit_timeout_secs = 2;
    let exec = Arc::new(Exec::default());
    let s = Server::new(
        o,
        Arc::new(Loader {
            mode,
            exec: exec.clone(),
        }),
    )
    .unwrap();
    (s, exec)
}

pub(super) fn request(s: &Server, fe: &Arc<Frontend>, batch: Option<i64>) -> Box<InferenceRequest> {
    let mut r = Box::new(InferenceRequest::new(s.get_model("m", -1).unwrap(), -1));
    let shape: Vec<i64> = batch.into_iter().chain([4]).collect();
    let elems: i64 = shape.iter().product();
    r.add_input("IN", DataType::Fp32, &shape).unwrap();
    let data: Arc<[u8]> = vec![0u8; elems as usize * 4].into();
    r.append_input_data("IN", DataBuffer::owned(data), None)
        .unwrap();
    r.set_release_callback(Arc::new(Release(fe.clone())));
    r.set_response_callback(Arc::new(Alloc(fe.clone())), Arc::new(Complete(fe.clone())));
    r
}

#[test]
fn one_response_one_release_and_buffers_returned() {
    let f = Fixture::new("infer-basic");
    let (s, _) = server(&f, Mode::Respond, "");
    let fe = Arc::new(Frontend::default());
    for _ in 0..5 {
        s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    }
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 5));
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 5));
    for (has, flags, err) in fe.responses.lock().unwrap().iter() {
        assert!(*has);
        assert_eq!(*flags, RESPONSE_FINAL);
        assert!(err.is_none());
    }
    assert_eq!(fe.allocs.load(Ordering::SeqCst), 5);
    assert_eq!(fe.frees.load(Ordering::SeqCst), 5);
    let m = s.get_model("m", 1).unwrap();
    assert!(wait_until(|| m.uses() == 0));
}

#[test]
fn invalid_requests_come_back_without_callbacks() {
    let f = Fixture::new("infer-invalid");
    let (s, _) = server(&f, Mode::Respond, "");
    let fe = Arc::new(Frontend::default());
    let mut r = request(&s, &fe, None);
    r.remove_all_inputs();
    r.add_input("IN", DataType::Int32, &[4]).unwrap();
    let (e, back) = s.infer(r).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "[request id: <id_unknown>] inference input 'IN' data-type is 'INT32', but model 'm' expects 'FP32'"
    );
    let mut r = back;
    r.remove_all_inputs();
    r.add_input("IN", DataType::Fp32, &[5]).unwrap();
    let (e, back) = s.infer(r).unwrap_err();
    assert!(
        e.message()
            .starts_with("[request id: <id_unknown>] unexpected shape for input 'IN' for model 'm'. Expected [4], got [5]."),
        "{}",
        e.message()
    );
    let mut r = back;
    r.remove_all_inputs();
    r.set_id("abc");
    let (e, _) = s.infer(r).unwrap_err();
    assert_eq!(
        e.message(),
        "[request id: abc] expected 1 inputs but got 0 inputs for model 'm'. Got input(s) [], but missing required input(s) ['IN']. Please provide all required input(s)."
    );
    let mut r = request(&s, &fe, None);
    r.remove_all_input_data("IN").unwrap();
    let (e, _) = s.infer(r).unwrap_err();
    assert_eq!(
        e.message(),
        "[request id: <id_unknown>] input byte size mismatch for input 'IN' for model 'm'. Expected 16, got 0"
    );
    assert_eq!(fe.releases.load(Ordering::SeqCst), 0);
    assert!(fe.responses.lock().unwrap().is_empty());
}

#[test]
fn execute_errors_become_error_responses() {
    let f = Fixture::new("infer-fail");
    let (s, _) = server(&f, Mode::Fail, "");
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 1));
    let responses = fe.responses.lock().unwrap();
    assert_eq!(responses.len(), 1);
    let (has, flags, err) = &responses[0];
    assert!(*has);
    assert_eq!(*flags, RESPONSE_FINAL);
    assert_eq!(err.as_ref().unwrap().message(), "mock execute failure");
    let stats = s.model_statistics("m", 1).unwrap();
    assert_eq!(
        stats["model_stats"][0]["inference_stats"]["fail"]["count"],
        1
    );
}

#[test]
fn dynamic_batching_groups_requests() {
    let f = Fixture::new("infer-batch");
    let (s, exec) = server(
        &f,
        Mode::Respond,
        "dynamic_batching { max_queue_delay_microseconds: 500000 }",
    );
    // Rewrite as a batching model: max_batch_size 4.
    std::fs::write(
        f.repo.join("m/config.pbtxt"),
        "name: \"m\" backend: \"mock\" max_batch_size: 4\n\
         input [{ name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] }]\n\
         output [{ name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] }]\n\
         dynamic_batching { max_queue_delay_microseconds: 500000 }",
    )
    .unwrap();
    s.load_model("m").unwrap();
    let fe = Arc::new(Frontend::default());
    exec.batches.lock().unwrap().clear();
    for _ in 0..4 {
        s.infer(request(&s, &fe, Some(1)))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 4));
    assert_eq!(*exec.batches.lock().unwrap(), vec![4]);
    let (e, _) = s.infer(request(&s, &fe, Some(5))).unwrap_err();
    assert_eq!(
        e.message(),
        "[request id: <id_unknown>] inference request batch-size must be <= 4 for 'm'"
    );
}

#[test]
fn decoupled_responses_then_final_flag() {
    let f = Fixture::new("infer-decoupled");
    let (s, _) = server(
        &f,
        Mode::Decoupled,
        "model_transaction_policy { decoupled: true }",
    );
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 4));
    let r = fe.responses.lock().unwrap();
    assert!(r[..3].iter().all(|(has, flags, _)| *has && *flags == 0));
    assert_eq!((r[3].0, r[3].1), (false, RESPONSE_FINAL));
    assert_eq!(fe.releases.load(Ordering::SeqCst), 1);
}

#[test]
fn queue_timeout_rejects_waiting_requests() {
    let f = Fixture::new("infer-timeout");
    let (s, exec) = server(
        &f,
        Mode::Respond,
        "dynamic_batching { default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 50000 } }",
    );
    let fe = Arc::new(Frontend::default());
    let gate = exec.gate.lock().unwrap();
    // The first request occupies the only instance; the second waits past its timeout.
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    drop(gate);
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 2));
    let r = fe.responses.lock().unwrap();
    let errors: Vec<String> = r
        .iter()
        .filter_map(|(_, _, e)| e.as_ref().map(|e| e.message().to_owned()))
        .collect();
    assert_eq!(errors, vec!["Request timeout expired".to_owned()]);
}

#[test]
fn unload_waits_for_requests_in_flight() {
    let f = Fixture::new("infer-unload");
    let (s, exec) = server(&f, Mode::Hold, "");
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| exec.held.lock().unwrap().len() == 1));
    s.unload_model("m").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let state = |s: &Server| s.repository().snapshot().get("m").unwrap().versions[&1].state;
    assert_eq!(state(&s), ModelState::Unloading);
    // Readiness answers while the unload waits.
    assert_eq!(s.model_is_ready("m", 1), Ok(false));
    assert_eq!(s.is_ready(), Ok(false));
    for r in exec.held.lock().unwrap().drain(..) {
        r.release(RELEASE_ALL);
    }
    assert!(wait_until(|| state(&s) == ModelState::Unavailable));
    assert_eq!(s.is_ready(), Ok(true));
    assert_eq!(fe.releases.load(Ordering::SeqCst), 1);
}

#[test]
fn a_request_held_past_the_exit_timeout_frees_the_slot_but_delays_finalize() {
    let f = Fixture::new("infer-stuck");
    let (s, exec) = server(&f, Mode::Hold, "");
    s.set_exit_timeout(1);
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| exec.held.lock().unwrap().len() == 1));
    let t = std::time::Instant::now();
    s.unload_model("m").unwrap();
    assert!(wait_until(|| {
        s.repository().snapshot().get("m").unwrap().versions[&1].state == ModelState::Unavailable
    }));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    // The slot is free (a new load works) but the old instance is not finalized under the
    // backend's feet while it still holds the request.
    s.load_model("m").unwrap();
    assert_eq!(s.model_is_ready("m", 1), Ok(true));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(exec.finalized.load(Ordering::SeqCst), 0);
    for r in exec.held.lock().unwrap().drain(..) {
        r.release(RELEASE_ALL);
    }
    assert_eq!(fe.releases.load(Ordering::SeqCst), 1);
    assert!(wait_until(|| exec.finalized.load(Ordering::SeqCst) == 1));
    assert_eq!(exec.finalized_while_executing.load(Ordering::SeqCst), 0);
}

#[test]
fn a_reload_returns_without_waiting_for_the_old_versions_requests() {
    let f = Fixture::new("reload-stuck");
    let (s, exec) = server(&f, Mode::Hold, "");
    s.set_exit_timeout(30);
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| exec.held.lock().unwrap().len() == 1));
    // A changed configuration reloads the model.
    f.model(
        "m",
        "mock",
        &[1],
        "parameters { key: \"k\" value: { string_value: \"v\" } }",
    );
    let t = std::time::Instant::now();
    s.load_model("m").unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(s.model_is_ready("m", 1), Ok(true));
    assert_eq!(exec.finalized.load(Ordering::SeqCst), 0);
    for r in exec.held.lock().unwrap().drain(..) {
        r.release(RELEASE_ALL);
    }
    assert!(wait_until(|| exec.finalized.load(Ordering::SeqCst) == 1));
    s.stop().unwrap();
    assert_eq!(exec.finalized.load(Ordering::SeqCst), 2);
}

const PANIC_PARAMETER: &str =
    "parameters { key: \"test.panic_before_execute\" value: { string_value: \"1\" } }";

#[test]
fn a_panic_on_an_instance_thread_fails_the_batch_and_the_model_not_the_server() {
    let f = Fixture::new("infer-panic");
    // The engine panics on this model's instance thread before the backend gets the batch.
    let (s, _exec) = server(&f, Mode::Respond, PANIC_PARAMETER);
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 1));
    let responses = fe.responses.lock().unwrap().clone();
    assert_eq!(responses.len(), 1);
    let err = responses[0].2.clone().expect("an error response");
    assert_eq!(err.code(), Code::Internal);
    let slot_state = || {
        let t = s.repository().snapshot();
        let slot = &t.get("m").unwrap().versions[&1];
        (slot.state, slot.reason.clone())
    };
    assert!(wait_until(|| slot_state().0 == ModelState::Unavailable));
    let (_, reason) = slot_state();
    assert!(reason.contains("injected panic"), "{reason}");
    assert_eq!(s.is_ready(), Ok(false));
    // Unloading and stopping still finish.
    s.unload_model("m").unwrap();
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}

const WARMUP: &str = "model_warmup [{ name: \"w\" batch_size: 2 count: 3 \
    inputs { key: \"IN\" value: { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } }]";

#[test]
fn warmup_runs_each_sample_before_the_model_is_ready() {
    let f = Fixture::new("warmup-ok");
    let (s, exec) = server(&f, Mode::Respond, WARMUP);
    assert_eq!(*exec.batches.lock().unwrap(), vec![2, 2, 2]);
    assert_eq!(s.model_is_ready("m", 1), Ok(true));
}

#[test]
fn a_failing_warmup_fails_the_load_cleanly() {
    let f = Fixture::new("warmup-fail");
    let (s, _) = server(&f, Mode::Fail, WARMUP);
    assert_eq!(s.model_is_ready("m", 1), Ok(false));
    let index = s.model_index(false).unwrap();
    assert_eq!(index[0]["state"], "UNAVAILABLE");
    assert_eq!(
        index[0]["reason"],
        "Invalid argument: failed to run warmup sample 'w': mock execute failure; mock execute failure; "
    );
    let e = s.load_model("m").unwrap_err();
    assert!(
        e.message().contains("failed to run warmup sample 'w'"),
        "{}",
        e.message()
    );
}

const SEQUENCE: &str = "sequence_batching { max_sequence_idle_microseconds: 5000000 \
    control_input [ \
      { name: \"START\" control [{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] }] }, \
      { name: \"END\" control [{ kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] }] }, \
      { name: \"CORRID\" control [{ kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 }] } ] \
    state [{ input_name: \"STATE_IN\" output_name: \"STATE_OUT\" data_type: TYPE_INT32 dims: [ 1 ] }] }";

fn seq_request(s: &Server, fe: &Arc<Frontend>, corr: u64, flags: u32) -> Box<InferenceRequest> {
    let mut r = request(s, fe, None);
    r.correlation_id = crate::engine::infer::CorrelationId::U64(corr);
    r.flags = flags;
    r
}

#[test]
fn sequences_get_controls_and_carry_implicit_state() {
    let f = Fixture::new("seq");
    let (s, exec) = server(&f, Mode::Sequence, SEQUENCE);
    let fe = Arc::new(Frontend::default());
    let send = |corr, flags| {
        s.infer(seq_request(&s, &fe, corr, flags))
            .map_err(|(e, _)| e)
            .unwrap()
    };
    // Two interleaved sequences.
    send(7, 1);
    send(9, 1);
    send(7, 0);
    send(9, 2);
    send(7, 2);
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 5));
    let seen = exec.seen.lock().unwrap().clone();
    let of = |corr: u64| -> Vec<(i32, i32, u64, i32)> {
        seen.iter()
            .filter(|x| x.0 == corr)
            .map(|x| (x.1, x.2, x.3, x.4))
            .collect()
    };
    // (START, END, CORRID, state input): the state counts up within each sequence.
    assert_eq!(of(7), vec![(1, 0, 7, 0), (0, 0, 7, 1), (0, 1, 7, 2)]);
    assert_eq!(of(9), vec![(1, 0, 9, 0), (0, 1, 9, 1)]);
    // After END the sequence is gone: a request without START is refused.
    let (e, _) = s.infer(seq_request(&s, &fe, 7, 0)).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "inference request for sequence 7 to model 'm' must specify the START flag on the first request of the sequence"
    );
    // A new sequence with the same id starts from the initial state again.
    send(7, 3);
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 6));
    assert_eq!(exec.seen.lock().unwrap().last().unwrap().4, 0);
}

fn run_concurrently(f: &Fixture, rate_limit: bool) -> usize {
    f.model(
        "m",
        "mock",
        &[1],
        "instance_group [{ count: 3 kind: KIND_CPU rate_limiter { resources [{ name: \"R\" count: 1 }] } }]",
    );
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["m".into()];
    o.rate_limit_exec_count = rate_limit;
    o.rate_limit_resources = vec![("R".into(), 1, -1)];
    let exec = Arc::new(Exec::default());
    let s = Server::new(
        o,
        Arc::new(Loader {
            mode: Mode::Slow,
            exec: exec.clone(),
        }),
    )
    .unwrap();
    let fe = Arc::new(Frontend::default());
    for _ in 0..9 {
        s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    }
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 9));
    exec.max_inside.load(Ordering::SeqCst)
}

#[test]
fn the_rate_limiter_serializes_instances_sharing_a_resource() {
    let limited = run_concurrently(&Fixture::new("rl-on"), true);
    assert_eq!(limited, 1);
    let free = run_concurrently(&Fixture::new("rl-off"), false);
    assert!(
        free > 1,
        "three instances without rate limiting overlap: {free}"
    );
}

/// A server whose model "m" executes requests on the caller's thread when it can.
fn caller_executes_server(f: &Fixture, mode: Mode) -> (Arc<Server>, Arc<Exec>, Arc<Frontend>) {
    let (s, exec) = server(f, mode, "");
    s.get_model("m", 1)
        .unwrap()
        .scheduler()
        .unwrap()
        .set_caller_executes(true);
    (s, exec, Arc::new(Frontend::default()))
}

#[test]
fn caller_thread_execution_runs_inline_and_never_twice_at_once() {
    let f = Fixture::new("infer-caller-exec");
    let (s, exec, fe) = caller_executes_server(&f, Mode::Slow);
    // Idle instance, empty queue: executed (and released) before infer returns, on this thread.
    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
    assert_eq!(fe.releases.load(Ordering::SeqCst), 1);
    assert_eq!(fe.responses.lock().unwrap().len(), 1);
    assert_eq!(
        exec.threads.lock().unwrap().as_slice(),
        &[std::thread::current().id()]
    );
    // Callers racing for the one instance: the losers queue for the instance thread; the
    // instance still executes one batch at a time.
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..3 {
                    s.infer(request(&s, &fe, None)).map_err(|(e, _)| e).unwrap();
                }
            });
        }
    });
    assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == 13));
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 13));
    assert_eq!(exec.max_inside.load(Ordering::SeqCst), 1);
    let m = s.get_model("m", 1).unwrap();
    assert!(wait_until(|| m.uses() == 0));
}

#[test]
fn unload_waits_for_an_execution_on_a_callers_thread() {
    let f = Fixture::new("infer-caller-exec-unload");
    let (s, exec, fe) = caller_executes_server(&f, Mode::SlowTail);
    let state = |s: &Server| s.repository().snapshot().get("m").unwrap().versions[&1].state;
    std::thread::scope(|sc| {
        let caller = sc.spawn(|| s.infer(request(&s, &fe, None)).map_err(|(e, _)| e));
        // Released and answered, but the backend's execute is still running on the caller.
        assert!(wait_until(|| exec.inside.load(Ordering::SeqCst) == 1));
        assert_eq!(fe.releases.load(Ordering::SeqCst), 1);
        s.unload_model("m").unwrap();
        // The model is finalized only after that execute returned.
        assert!(wait_until(|| state(&s) == ModelState::Unavailable));
        assert_eq!(exec.inside.load(Ordering::SeqCst), 0);
        caller.join().unwrap().unwrap();
    });
}

/// A request whose deadline passes while the backend holds it gets its final error response
/// at the deadline; what the backend sends later is dropped, and the release still comes.
#[test]
fn a_held_request_gets_a_final_error_at_its_deadline() {
    let f = Fixture::new("infer-deadline");
    let (s, exec) = server(&f, Mode::Hold, "");
    let fe = Arc::new(Frontend::default());
    for _ in 0..4 {
        let mut r = request(&s, &fe, None);
        r.timeout_us = 100_000;
        s.infer(r).map_err(|(e, _)| e).unwrap();
    }
    assert!(wait_until(|| exec.held.lock().unwrap().len() == 4));
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 4));
    for (has_response, flags, err) in fe.responses.lock().unwrap().iter() {
        assert!(*has_response);
        assert_eq!(*flags, RESPONSE_FINAL);
        let err = err.as_ref().expect("an error response");
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(err.message(), "Request timeout expired");
    }
    assert_eq!(fe.releases.load(Ordering::SeqCst), 0);
    // The backend answers late and releases: the late responses are dropped (their buffers go
    // back to the allocator), the releases arrive.
    for r in exec.held.lock().unwrap().drain(..) {
        assert!(r.is_cancelled(), "the deadline cancels the request");
        let factory = r.response_factory().unwrap().clone();
        let mut resp = factory.create();
        let i = resp.add_output("OUT", DataType::Fp32, &[4]).unwrap();
        resp.output_mut(i)
            .unwrap()
            .allocate(16, MemoryType::Cpu, 0)
            .unwrap();
        r.release(RELEASE_ALL);
        resp.send(RESPONSE_FINAL);
    }
    assert_eq!(fe.releases.load(Ordering::SeqCst), 4);
    assert_eq!(fe.responses.lock().unwrap().len(), 4);
    assert_eq!(
        fe.allocs.load(Ordering::SeqCst),
        fe.frees.load(Ordering::SeqCst)
    );
    let m = s.get_model("m", 1).unwrap();
    assert!(wait_until(|| m.uses() == 0));
    s.stop().unwrap();
}
