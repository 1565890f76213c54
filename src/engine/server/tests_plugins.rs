//! Engine tests of repository agents and the response cache, with mock agents, a mock cache,
//! a mock backend that computes its output from its input, and mock host memory.

use crate::engine::buffer::Addr;
use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::tests::{wait_until, Fixture};
use super::{Plugins, Server};
use crate::engine::backend::{BackendLibrary, ExecuteResult, LibraryLoader};
use crate::engine::cache::{CacheLibrary, CacheLoader, OutputMemory};
use crate::engine::infer::{
    AllocatedBuffer, DataBuffer, InferenceRequest, InferenceResponse, ReleaseCallback,
    ResponseAllocator, ResponseCallback, RELEASE_ALL, RESPONSE_FINAL,
};
use crate::engine::model::{Entered, ModelState};
use crate::engine::repoagent::{
    Action, Agent, AgentLibrary, AgentLoader, AgentModel, ArtifactType,
};
use crate::engine::types::{DataType, MemoryType, ModelControlMode};
use crate::engine::{Code, Error, Result};

// ---- host memory shared by the mock frontend, backend and cache glue ----

#[derive(Default)]
struct Memory {
    next: AtomicUsize,
    bufs: Mutex<HashMap<Addr, Vec<u8>>>,
}

impl Memory {
    fn alloc(&self, size: usize) -> Addr {
        let n = 0x10_0000 + self.next.fetch_add(1, Ordering::SeqCst) * 0x1000;
        let addr = Addr::of(n as *const u8);
        self.bufs.lock().unwrap().insert(addr, vec![0; size]);
        addr
    }
    fn get(&self, addr: Addr) -> Vec<u8> {
        self.bufs.lock().unwrap()[&addr].clone()
    }
}

struct Mem(Arc<Memory>);
impl OutputMemory for Mem {
    fn read(&self, b: &AllocatedBuffer) -> Option<Vec<u8>> {
        self.0.bufs.lock().unwrap().get(&b.addr).cloned()
    }
    fn write(&self, b: &AllocatedBuffer, data: &[u8]) -> Result<()> {
        let mut bufs = self.0.bufs.lock().unwrap();
        let buf = bufs
            .get_mut(&b.addr)
            .ok_or_else(|| Error::internal("unknown buffer"))?;
        buf.copy_from_slice(data);
        Ok(())
    }
}

// ---- backend: OUT = IN with every byte + 1; counts executions ----

struct Lib {
    path: PathBuf,
    mem: Arc<Memory>,
    executed: Arc<AtomicUsize>,
}

impl BackendLibrary for Lib {
    fn path(&self) -> &Path {
        &self.path
    }
    fn execute(&self, _: &Entered<'_>, requests: Vec<Box<InferenceRequest>>) -> ExecuteResult {
        for r in requests {
            self.executed.fetch_add(1, Ordering::SeqCst);
            let data: Vec<u8> = r.inputs()[0].buffers[0]
                .owned
                .as_deref()
                .unwrap()
                .iter()
                .map(|b| b.wrapping_add(1))
                .collect();
            let factory = r.response_factory().unwrap().clone();
            let mut resp = factory.create();
            let i = resp.add_output("OUT", DataType::Fp32, &[4]).unwrap();
            let buf = resp
                .output_mut(i)
                .unwrap()
                .allocate(16, MemoryType::Cpu, 0)
                .unwrap();
            self.mem.bufs.lock().unwrap().insert(buf.addr, data);
            r.release(RELEASE_ALL);
            resp.send(RESPONSE_FINAL);
        }
        Ok(())
    }
}

struct Loader {
    mem: Arc<Memory>,
    executed: Arc<AtomicUsize>,
    fail_model_init: bool,
}

impl LibraryLoader for Loader {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        if self.fail_model_init {
            return Err(Error::internal("mock backend cannot open"));
        }
        Ok(Arc::new(Lib {
            path: path.to_path_buf(),
            mem: self.mem.clone(),
            executed: self.executed.clone(),
        }))
    }
}

// ---- cache: a map of key → buffers ----

#[derive(Default)]
struct Store {
    entries: Mutex<HashMap<String, Vec<Vec<u8>>>>,
    lookups: AtomicUsize,
    finalized: AtomicUsize,
}

struct Cache(Arc<Store>);
impl CacheLibrary for Cache {
    fn lookup(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        self.0.lookups.fetch_add(1, Ordering::SeqCst);
        self.0
            .entries
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::not_found("key not found"))
    }
    fn insert(&self, key: &str, buffers: Vec<Vec<u8>>) -> Result<()> {
        let mut e = self.0.entries.lock().unwrap();
        if e.contains_key(key) {
            return Err(Error::already_exists("key exists"));
        }
        e.insert(key.to_owned(), buffers);
        Ok(())
    }
}
impl Drop for Cache {
    fn drop(&mut self) {
        self.0.finalized.fetch_add(1, Ordering::SeqCst);
    }
}

struct CacheOpen {
    store: Arc<Store>,
    config: Mutex<Option<String>>,
}
impl CacheLoader for CacheOpen {
    fn open(&self, _: &Path, config: &str) -> Result<Arc<dyn CacheLibrary>> {
        if config == "bad" {
            return Err(Error::invalid_arg("mock cache refuses the config"));
        }
        *self.config.lock().unwrap() = Some(config.to_owned());
        Ok(Arc::new(Cache(self.store.clone())))
    }
}

// ---- agents: record every call; optionally fail or move the model ----

#[derive(Default)]
struct AgentRec {
    calls: Mutex<Vec<String>>,
    fail_on: Mutex<Option<Action>>,
    /// On LOAD: copy the model into a temporary directory, rename version 1 to 7, and point
    /// the model there.
    relocate: Mutex<bool>,
    acquired: Mutex<Vec<PathBuf>>,
}

struct ALib {
    path: PathBuf,
    rec: Arc<AgentRec>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

impl AgentLibrary for ALib {
    fn path(&self) -> &Path {
        &self.path
    }
    fn initialize(&self, a: &Agent) -> Result<()> {
        self.rec
            .calls
            .lock()
            .unwrap()
            .push(format!("init {}", a.name()));
        Ok(())
    }
    fn finalize(&self, a: &Agent) -> Result<()> {
        self.rec
            .calls
            .lock()
            .unwrap()
            .push(format!("fini {}", a.name()));
        Ok(())
    }
    fn model_initialize(&self, _: &Agent, m: &AgentModel) -> Result<()> {
        let p = m.parameters();
        self.rec
            .calls
            .lock()
            .unwrap()
            .push(format!("model_init {p:?}"));
        Ok(())
    }
    fn model_finalize(&self, _: &Agent, _: &AgentModel) -> Result<()> {
        self.rec.calls.lock().unwrap().push("model_fini".into());
        Ok(())
    }
    fn model_action(&self, _: &Agent, m: &AgentModel, action: Action) -> Result<()> {
        self.rec.calls.lock().unwrap().push(action.name().into());
        if *self.rec.fail_on.lock().unwrap() == Some(action) {
            return Err(Error::internal(format!("agent refuses {}", action.name())));
        }
        if action == Action::Load && *self.rec.relocate.lock().unwrap() {
            let (_, from) = m.location_string();
            m.acquire_location(ArtifactType::Filesystem)?;
            let to = m.acquired_location().unwrap();
            copy_dir(Path::new(&from), &to);
            std::fs::rename(to.join("1"), to.join("7")).unwrap();
            m.set_location(ArtifactType::Filesystem, &to.to_string_lossy())?;
            self.rec.acquired.lock().unwrap().push(to);
        }
        Ok(())
    }
}

struct AOpen(Arc<AgentRec>);
impl AgentLoader for AOpen {
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>> {
        Ok(Arc::new(ALib {
            path: path.to_path_buf(),
            rec: self.0.clone(),
        }))
    }
}

// ---- frontend ----

/// A received response: its error and its outputs (name, shape, data).
type Received = (Option<Error>, Vec<(String, Vec<i64>, Vec<u8>)>);

#[derive(Default)]
struct Frontend {
    releases: AtomicUsize,
    responses: Mutex<Vec<Received>>,
}

struct Alloc(Arc<Memory>);
impl ResponseAllocator for Alloc {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn alloc(&self, _: &CStr, size: usize, t: MemoryType, id: i64) -> Result<AllocatedBuffer> {
        Ok(AllocatedBuffer {
            addr: self.0.alloc(size),
            byte_size: size,
            memory_type: t,
            memory_type_id: id,
            buffer_userp: Addr::NULL,
        })
    }
    fn release(&self, _: &AllocatedBuffer) -> Result<()> {
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

struct Complete(Arc<Frontend>, Arc<Memory>);
impl ResponseCallback for Complete {
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        assert_eq!(flags, RESPONSE_FINAL);
        let r = response.unwrap();
        let outs = r
            .outputs()
            .iter()
            .map(|o| {
                let data = self.1.get(o.buffer.as_ref().unwrap().addr);
                (o.name().to_owned(), o.shape.clone(), data)
            })
            .collect();
        self.0
            .responses
            .lock()
            .unwrap()
            .push((r.error().cloned(), outs));
    }
}

struct Release(Arc<Frontend>);
impl ReleaseCallback for Release {
    fn release(&self, _: Box<InferenceRequest>, flags: u32) {
        assert_eq!(flags, RELEASE_ALL);
        self.0.releases.fetch_add(1, Ordering::SeqCst);
    }
}

struct Env {
    f: Fixture,
    mem: Arc<Memory>,
    executed: Arc<AtomicUsize>,
    store: Arc<Store>,
    agents: Arc<AgentRec>,
    cache_config: Arc<CacheOpen>,
}

impl Env {
    fn new(tag: &str) -> Env {
        let f = Fixture::new(tag);
        for (kind, file) in [
            ("caches/local", "libtritoncache_local.so"),
            ("agents/check", "libtritonrepoagent_check.so"),
        ] {
            std::fs::create_dir_all(f.root.join(kind)).unwrap();
            std::fs::write(f.root.join(kind).join(file), b"").unwrap();
        }
        let store = Arc::new(Store::default());
        Env {
            f,
            mem: Arc::new(Memory::default()),
            executed: Arc::new(AtomicUsize::new(0)),
            cache_config: Arc::new(CacheOpen {
                store: store.clone(),
                config: Mutex::new(None),
            }),
            store,
            agents: Arc::new(AgentRec::default()),
        }
    }

    fn options(&self, models: &[&str]) -> super::Options {
        let mut o = self.f.options(ModelControlMode::Explicit);
        o.startup_models = models.iter().map(|s| s.to_string()).collect();
        o.repoagent_dir = self.f.root.join("agents").to_string_lossy().into_owned();
        o.cache_dir = self.f.root.join("caches").to_string_lossy().into_owned();
        o
    }

    fn start_with(&self, o: super::Options, fail_backend: bool) -> Result<Arc<Server>> {
        Server::new_with_plugins(
            o,
            Arc::new(Loader {
                mem: self.mem.clone(),
                executed: self.executed.clone(),
                fail_model_init: fail_backend,
            }),
            Plugins {
                agents: Arc::new(AOpen(self.agents.clone())),
                caches: self.cache_config.clone(),
                memory: Arc::new(Mem(self.mem.clone())),
            },
        )
    }

    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.agents.calls.lock().unwrap())
    }
}

fn request(
    s: &Server,
    fe: &Arc<Frontend>,
    mem: &Arc<Memory>,
    model: &str,
    fill: u8,
) -> Box<InferenceRequest> {
    let mut r = Box::new(InferenceRequest::new(s.get_model(model, -1).unwrap(), -1));
    r.add_input("IN", DataType::Fp32, &[4]).unwrap();
    let data: Arc<[u8]> = vec![fill; 16].into();
    r.append_input_data("IN", DataBuffer::owned(data), None)
        .unwrap();
    r.set_release_callback(Arc::new(Release(fe.clone())));
    r.set_response_callback(
        Arc::new(Alloc(mem.clone())),
        Arc::new(Complete(fe.clone(), mem.clone())),
    );
    r
}

const CACHED: &str = "response_cache { enable: true }\n";
const AGENT: &str =
    "model_repository_agents { agents [{ name: \"check\" parameters { key: \"k\" value: \"v\" } }] }\n";

#[test]
fn cache_hit_answers_without_executing() {
    let env = Env::new("cache-hit");
    env.f.model("m", "mock", &[1], CACHED);
    env.f.model("plain", "mock", &[1], "");
    let mut o = env.options(&["m", "plain"]);
    o.cache_configs
        .insert("local".into(), "{\"size\": 1048576}".into());
    let s = env.start_with(o, false).unwrap();
    assert_eq!(
        env.cache_config.config.lock().unwrap().as_deref(),
        Some("{\"size\": 1048576}")
    );
    assert_eq!(s.response_cache().unwrap().name(), "local");
    let fe = Arc::new(Frontend::default());
    // Miss, then hit for the same input; another input misses again.
    for (i, fill) in [3u8, 3, 3, 9].into_iter().enumerate() {
        s.infer(request(&s, &fe, &env.mem, "m", fill))
            .map_err(|(e, _)| e)
            .unwrap();
        assert!(wait_until(|| fe.releases.load(Ordering::SeqCst) == i + 1
            && fe.responses.lock().unwrap().len() == i + 1));
    }
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 4));
    assert_eq!(env.executed.load(Ordering::SeqCst), 2);
    assert_eq!(env.store.entries.lock().unwrap().len(), 2);
    let responses = fe.responses.lock().unwrap().clone();
    for (i, fill) in [(0, 4u8), (1, 4), (2, 4), (3, 10)] {
        let (err, outs) = &responses[i];
        assert!(err.is_none());
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].0, "OUT");
        assert_eq!(outs[0].1, vec![4]);
        assert_eq!(outs[0].2, vec![fill; 16], "response {i}");
    }
    let m = s.get_model("m", 1).unwrap();
    assert!(wait_until(|| m.uses() == 0));
    let stats = s.model_statistics("m", 1).unwrap();
    let inf = &stats["model_stats"][0]["inference_stats"];
    assert_eq!(inf["cache_hit"]["count"], 2);
    assert_eq!(inf["cache_miss"]["count"], 2);
    // The mock backend reports no statistics: the successes are the two hits.
    assert_eq!(inf["success"]["count"], 2);
    // Hits count no inference (upstream); the mock backend reports no batches.
    assert_eq!(stats["model_stats"][0]["inference_count"], 0);
    // A model without response_cache never looks up.
    let lookups = env.store.lookups.load(Ordering::SeqCst);
    s.infer(request(&s, &fe, &env.mem, "plain", 3))
        .map_err(|(e, _)| e)
        .unwrap();
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 5));
    assert_eq!(env.store.lookups.load(Ordering::SeqCst), lookups);
    assert_eq!(env.executed.load(Ordering::SeqCst), 3);
    s.stop().unwrap();
    drop(s);
    drop(m);
    assert_eq!(env.store.finalized.load(Ordering::SeqCst), 1);
}

#[test]
fn reused_request_gets_a_fresh_key() {
    let env = Env::new("cache-reuse");
    env.f.model("m", "mock", &[1], CACHED);
    let mut o = env.options(&["m"]);
    o.cache_configs.insert("local".into(), "{}".into());
    let s = env.start_with(o, false).unwrap();
    let fe = Arc::new(Frontend::default());
    let mut r = request(&s, &fe, &env.mem, "m", 1);
    // Keep the request object across uses: the release callback gets it back.
    struct Keep(Arc<Frontend>, Mutex<Option<Box<InferenceRequest>>>);
    impl ReleaseCallback for Keep {
        fn release(&self, r: Box<InferenceRequest>, _: u32) {
            self.0.releases.fetch_add(1, Ordering::SeqCst);
            *self.1.lock().unwrap() = Some(r);
        }
    }
    let keep = Arc::new(Keep(fe.clone(), Mutex::new(None)));
    r.set_release_callback(keep.clone());
    s.infer(r).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| keep.1.lock().unwrap().is_some()));
    let mut r = keep.1.lock().unwrap().take().unwrap();
    r.remove_all_input_data("IN").unwrap();
    let data: Arc<[u8]> = vec![5u8; 16].into();
    r.append_input_data("IN", DataBuffer::owned(data), None)
        .unwrap();
    s.infer(r).map_err(|(e, _)| e).unwrap();
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 2));
    assert_eq!(env.executed.load(Ordering::SeqCst), 2);
    // Two keys, each with its own response: the first use's wrapper did not insert again.
    let entries = env.store.entries.lock().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(fe.responses.lock().unwrap()[1].1[0].2, vec![6u8; 16]);
    drop(entries);
    s.stop().unwrap();
}

#[test]
fn cache_configuration_errors_fail_server_creation() {
    let env = Env::new("cache-config");
    env.f.model("m", "mock", &[1], CACHED);
    let mut o = env.options(&["m"]);
    o.cache_configs.insert("local".into(), "bad".into());
    let e = env.start_with(o.clone(), false).unwrap_err();
    assert_eq!(e.message(), "mock cache refuses the config");
    o.cache_configs.insert("redis".into(), "{}".into());
    let e = env.start_with(o.clone(), false).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    o.cache_configs.clear();
    o.cache_configs.insert("nope".into(), "{}".into());
    let e = env.start_with(o.clone(), false).unwrap_err();
    assert!(e
        .message()
        .starts_with("unable to find 'libtritoncache_nope.so' for cache"));
    // Without a cache, a model that enables it just runs.
    o.cache_configs.clear();
    let s = env.start_with(o, false).unwrap();
    assert!(s.response_cache().is_none());
    let fe = Arc::new(Frontend::default());
    s.infer(request(&s, &fe, &env.mem, "m", 1))
        .map_err(|(e, _)| e)
        .unwrap();
    assert!(wait_until(|| fe.responses.lock().unwrap().len() == 1));
    s.stop().unwrap();
}

#[test]
fn agents_see_load_and_unload_in_upstream_order() {
    let env = Env::new("agents-order");
    env.f.model("a", "mock", &[1], AGENT);
    env.f.model("b", "mock", &[1], AGENT);
    let s = env.start_with(env.options(&["a"]), false).unwrap();
    assert_eq!(
        env.calls(),
        [
            "init check",
            "model_init [(\"k\", \"v\")]",
            "TRITONREPOAGENT_ACTION_LOAD",
            "TRITONREPOAGENT_ACTION_LOAD_COMPLETE"
        ]
    );
    s.load_model("b").unwrap();
    // One agent object per library: no second Initialize.
    assert_eq!(
        env.calls(),
        [
            "model_init [(\"k\", \"v\")]",
            "TRITONREPOAGENT_ACTION_LOAD",
            "TRITONREPOAGENT_ACTION_LOAD_COMPLETE"
        ]
    );
    s.unload_model("a").unwrap();
    assert!(wait_until(|| env.agents.calls.lock().unwrap().len() >= 3));
    assert_eq!(
        env.calls(),
        [
            "TRITONREPOAGENT_ACTION_UNLOAD",
            "TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE",
            "model_fini"
        ]
    );
    // Loading an unchanged model again does not involve the agents.
    s.load_model("b").unwrap();
    assert!(env.calls().is_empty());
    s.stop().unwrap();
    drop(s);
    let calls = env.calls();
    assert_eq!(calls.last().map(String::as_str), Some("fini check"));
    assert!(calls.contains(&"TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE".to_string()));
}

#[test]
fn agents_can_point_the_model_at_new_files() {
    let env = Env::new("agents-relocate");
    env.f.model("m", "mock", &[1], AGENT);
    *env.agents.relocate.lock().unwrap() = true;
    let s = env.start_with(env.options(&["m"]), false).unwrap();
    // The model loaded from the agent's directory, where the version is 7.
    let model = s.get_model("m", -1).unwrap();
    assert_eq!(model.version(), 7);
    let tmp = env.agents.acquired.lock().unwrap()[0].clone();
    assert!(tmp.is_dir());
    drop(model);
    s.unload_model("m").unwrap();
    assert!(
        wait_until(|| !tmp.exists()),
        "the acquired directory goes with the model"
    );
    s.stop().unwrap();
}

#[test]
fn a_failing_agent_fails_the_load_cleanly() {
    let env = Env::new("agents-fail");
    env.f.model("m", "mock", &[1], AGENT);
    *env.agents.fail_on.lock().unwrap() = Some(Action::Load);
    let s = env.start_with(env.options(&[]), false).unwrap();
    let e = s.load_model("m").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert!(
        e.message()
            .contains("agent refuses TRITONREPOAGENT_ACTION_LOAD"),
        "{}",
        e.message()
    );
    assert_eq!(
        env.calls(),
        [
            "init check",
            "model_init [(\"k\", \"v\")]",
            "TRITONREPOAGENT_ACTION_LOAD",
            "TRITONREPOAGENT_ACTION_LOAD_FAIL",
            "model_fini"
        ]
    );
    let entry = s.repository().snapshot().get("m").unwrap().clone();
    let slot = &entry.versions[&1];
    assert_eq!(slot.state, ModelState::Unavailable);
    assert!(slot.reason.contains("agent refuses"), "{}", slot.reason);
    assert!(!s.is_ready().unwrap());
    // A later load that succeeds replaces the failure.
    *env.agents.fail_on.lock().unwrap() = None;
    s.load_model("m").unwrap();
    assert!(s.model_is_ready("m", 1).unwrap());
    s.stop().unwrap();
}

#[test]
fn a_failing_backend_sends_load_fail_and_a_missing_agent_fails() {
    let env = Env::new("agents-backend");
    env.f.model("m", "mock", &[1], AGENT);
    env.f.model(
        "missing",
        "mock",
        &[1],
        "model_repository_agents { agents [{ name: \"nope\" }] }\n",
    );
    let s = env.start_with(env.options(&[]), true).unwrap();
    assert!(s.load_model("m").is_err());
    let calls = env.calls();
    assert_eq!(
        &calls[2..],
        [
            "TRITONREPOAGENT_ACTION_LOAD",
            "TRITONREPOAGENT_ACTION_LOAD_FAIL",
            "model_fini"
        ]
    );
    let e = s.load_model("missing").unwrap_err();
    assert!(
        e.message()
            .contains("unable to find 'libtritonrepoagent_nope.so' for repo agent 'nope'"),
        "{}",
        e.message()
    );
    s.stop().unwrap();
}
