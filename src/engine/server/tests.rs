//! Engine tests with mock backends: lifecycle, readiness rules, load and unload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Options, Server};
use crate::engine::backend::{Backend, BackendLibrary, LibraryLoader};
use crate::engine::model::{Entered, Finalizing, Initializing, Model};
use crate::engine::types::ModelControlMode;
use crate::engine::{Code, Error, Result};

/// What a mock backend does; shared so tests can flip behaviour at run time.
#[derive(Default)]
struct MockState {
    /// Instance names that report not ready.
    not_ready: Mutex<Vec<String>>,
    fail_model_init: AtomicBool,
    calls: Mutex<Vec<String>>,
    has_ready_hook: AtomicBool,
    backend_inits: AtomicUsize,
    backend_finis: AtomicUsize,
    /// How long each readiness hook call sleeps (ms).
    hook_sleep_ms: AtomicU64,
    /// Readiness hook calls running now.
    in_hook: AtomicUsize,
    /// Lifetime probes: calls that reached an instance whose state was already poisoned by its
    /// finalize, and finalizations that ran while a hook call was inside.
    poisoned_calls: AtomicUsize,
    finalized_during_hook: AtomicUsize,
    /// Most hook calls seen inside one instance at once, and hook calls made.
    max_in_one_hook: AtomicUsize,
    hook_calls: AtomicUsize,
    /// Instance initializations fail (a restart that cannot succeed).
    fail_instance_init: AtomicBool,
    /// Finalizing an instance makes it healthy again (its "stub" is replaced on restart).
    heal_on_finalize: AtomicBool,
    /// A newly initialized instance is sick at once (a stub that dies right after starting).
    sick_after_init: AtomicBool,
    /// Instances whose hook hangs for `hook_sleep_ms` (all of them when empty).
    slow_instances: Mutex<Vec<String>>,
}

const ALIVE: u64 = 0xA11CE;
const POISON: u64 = 0xDEAD;

/// An instance's probe value (ALIVE from initialize, POISON from finalize).
fn probe(i: &crate::engine::model::Instance) -> u64 {
    let addr = i.state() as usize;
    PROBES.lock().unwrap().get(&addr).map_or(0, |p| p.0)
}

/// The probe values by state address (the engine forbids unsafe, so the "state" pointer is an
/// address into this table).
/// (probe value, hook calls inside) by state address.
static PROBES: std::sync::LazyLock<Mutex<HashMap<usize, (u64, usize)>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_PROBE: AtomicUsize = AtomicUsize::new(0x1000);

struct MockLibrary {
    path: PathBuf,
    state: Arc<MockState>,
}

impl MockLibrary {
    fn record(&self, s: String) {
        self.state.calls.lock().unwrap().push(s);
    }
}

impl BackendLibrary for MockLibrary {
    fn path(&self) -> &Path {
        &self.path
    }
    fn initialize(&self, b: &Backend) -> Result<()> {
        self.state.backend_inits.fetch_add(1, Ordering::SeqCst);
        self.record(format!("init {}", b.name()));
        Ok(())
    }
    fn finalize(&self, b: &Backend) -> Result<()> {
        self.state.backend_finis.fetch_add(1, Ordering::SeqCst);
        self.record(format!("fini {}", b.name()));
        Ok(())
    }
    fn model_initialize(&self, m: &Model) -> Result<()> {
        self.record(format!("model_init {} {}", m.name(), m.version()));
        if self.state.fail_model_init.load(Ordering::SeqCst) {
            return Err(Error::internal("mock model init failure"));
        }
        Ok(())
    }
    fn model_finalize(&self, m: &Model) -> Result<()> {
        self.record(format!("model_fini {} {}", m.name(), m.version()));
        Ok(())
    }
    fn instance_initialize(&self, i: &Initializing<'_>) -> Result<()> {
        self.record(format!("inst_init {}", i.name()));
        if self.state.fail_instance_init.load(Ordering::SeqCst) {
            return Err(Error::internal("mock instance init failure"));
        }
        if self.state.sick_after_init.load(Ordering::SeqCst) {
            self.state
                .not_ready
                .lock()
                .unwrap()
                .push(i.name().to_owned());
        }
        let addr = NEXT_PROBE.fetch_add(8, Ordering::SeqCst);
        PROBES.lock().unwrap().insert(addr, (ALIVE, 0));
        i.set_state(addr as *mut std::ffi::c_void);
        Ok(())
    }
    fn instance_finalize(&self, i: &Finalizing<'_>) -> Result<()> {
        self.record(format!("inst_fini {}", i.name()));
        let mut probes = PROBES.lock().unwrap();
        let p = probes.entry(i.state() as usize).or_default();
        if p.1 > 0 {
            self.state
                .finalized_during_hook
                .fetch_add(1, Ordering::SeqCst);
        }
        p.0 = POISON;
        drop(probes);
        if self.state.heal_on_finalize.load(Ordering::SeqCst) {
            self.state
                .not_ready
                .lock()
                .unwrap()
                .retain(|n| n != i.name());
        }
        Ok(())
    }
    fn instance_ready(&self, i: &Entered<'_>) -> Result<()> {
        if !self.state.has_ready_hook.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.state.in_hook.fetch_add(1, Ordering::SeqCst);
        self.state.hook_calls.fetch_add(1, Ordering::SeqCst);
        {
            let mut probes = PROBES.lock().unwrap();
            let p = probes.entry(i.state() as usize).or_default();
            p.1 += 1;
            self.state.max_in_one_hook.fetch_max(p.1, Ordering::SeqCst);
        }
        let slow = self.state.slow_instances.lock().unwrap().clone();
        let sleep = if slow.is_empty() || slow.iter().any(|n| n == i.name()) {
            self.state.hook_sleep_ms.load(Ordering::SeqCst)
        } else {
            0
        };
        if sleep > 0 {
            std::thread::sleep(Duration::from_millis(sleep));
        }
        if probe(i) != ALIVE {
            self.state.poisoned_calls.fetch_add(1, Ordering::SeqCst);
        }
        PROBES
            .lock()
            .unwrap()
            .entry(i.state() as usize)
            .or_default()
            .1 -= 1;
        self.state.in_hook.fetch_sub(1, Ordering::SeqCst);
        if self
            .state
            .not_ready
            .lock()
            .unwrap()
            .iter()
            .any(|n| n == i.name())
        {
            return Err(Error::unavailable(format!("{} is sick", i.name())));
        }
        Ok(())
    }
}

struct MockLoader {
    state: Arc<MockState>,
    opened: Mutex<HashMap<PathBuf, Arc<dyn BackendLibrary>>>,
}

impl LibraryLoader for MockLoader {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        let mut opened = self.opened.lock().unwrap();
        Ok(opened
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                Arc::new(MockLibrary {
                    path: path.to_path_buf(),
                    state: self.state.clone(),
                })
            })
            .clone())
    }
}

pub(super) struct Fixture {
    pub(super) root: PathBuf,
    pub(super) repo: PathBuf,
    state: Arc<MockState>,
}

impl Fixture {
    pub(super) fn new(tag: &str) -> Fixture {
        let root = std::env::temp_dir().join(format!(
            "tc-engine-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(root.join("backends/mock")).unwrap();
        std::fs::write(root.join("backends/mock/libtriton_mock.so"), b"").unwrap();
        let state = Arc::new(MockState::default());
        state.has_ready_hook.store(true, Ordering::SeqCst);
        Fixture { root, repo, state }
    }

    pub(super) fn model(&self, name: &str, backend: &str, versions: &[i64], extra: &str) {
        let dir = self.repo.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for v in versions {
            std::fs::create_dir_all(dir.join(v.to_string())).unwrap();
        }
        std::fs::write(
            dir.join("config.pbtxt"),
            format!(
                "name: \"{name}\"\nbackend: \"{backend}\"\nmax_batch_size: 0\n\
                 input [{{ name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
                 output [{{ name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n{extra}"
            ),
        )
        .unwrap();
    }

    pub(super) fn options(&self, mode: ModelControlMode) -> Options {
        Options {
            repository_paths: vec![self.repo.to_string_lossy().into_owned()],
            backend_dir: self.root.join("backends").to_string_lossy().into_owned(),
            control_mode: mode,
            exit_on_error: false,
            exit_timeout_secs: 5,
            // Every check asks the backend (tests flip the mock's answers and look at once).
            readiness: crate::engine::model::ReadinessSettings {
                reuse: Duration::ZERO,
                ..Default::default()
            },
            log: crate::engine::log::Settings {
                info: false,
                warn: false,
                error: false,
                ..Default::default()
            },
            ..Options::default()
        }
    }

    pub(super) fn start(&self, opts: Options) -> Result<Arc<Server>> {
        Server::new(
            opts,
            Arc::new(MockLoader {
                state: self.state.clone(),
                opened: Mutex::new(HashMap::new()),
            }),
        )
    }

    fn calls(&self) -> Vec<String> {
        self.state.calls.lock().unwrap().clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub(super) fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn loads_all_models_and_is_ready() {
    let f = Fixture::new("all");
    f.model(
        "a",
        "mock",
        &[1],
        "instance_group [{ count: 2 kind: KIND_CPU }]",
    );
    f.model("b", "mock", &[1, 2], "");
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    assert_eq!(s.is_live(), Ok(true));
    assert_eq!(s.is_ready(), Ok(true));
    assert_eq!(s.model_is_ready("a", -1), Ok(true));
    assert_eq!(s.model_is_ready("a", 1), Ok(true));
    // latest{1} is the default policy: only version 2 of b.
    assert_eq!(s.model_is_ready("b", 2), Ok(true));
    assert_eq!(s.model_is_ready("b", 1), Ok(false));
    assert_eq!(s.model_is_ready("nope", -1), Ok(false));
    let calls = f.calls();
    assert!(calls.contains(&"inst_init a_0_0".to_owned()), "{calls:?}");
    assert!(calls.contains(&"inst_init a_0_1".to_owned()), "{calls:?}");
    assert!(calls.contains(&"inst_init b_0".to_owned()), "{calls:?}");
    // One backend object for both models.
    assert_eq!(f.state.backend_inits.load(Ordering::SeqCst), 1);
    s.stop().unwrap();
    assert!(s.is_live().is_err());
    assert_eq!(s.is_ready().unwrap_err().code(), Code::Unavailable);
    drop(s);
    assert_eq!(f.state.backend_finis.load(Ordering::SeqCst), 1);
    // Instances finalize before their model, in reverse order.
    let calls = f.calls();
    let pos = |c: &str| calls.iter().position(|x| x == c).unwrap();
    assert!(pos("inst_fini a_0_1") < pos("inst_fini a_0_0"));
    assert!(pos("inst_fini a_0_0") < pos("model_fini a 1"));
    assert!(pos("model_fini a 1") < pos("fini mock"));
}

#[test]
fn runtime_readiness_follows_the_backend_hook() {
    let f = Fixture::new("hook");
    f.model("a", "mock", &[1], "");
    f.model("b", "mock", &[1], "");
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    assert_eq!(s.is_ready(), Ok(true));
    f.state.not_ready.lock().unwrap().push("a_0".into());
    assert_eq!(s.model_is_ready("a", -1), Ok(false));
    assert_eq!(s.model_is_ready("b", -1), Ok(true));
    assert_eq!(s.is_ready(), Ok(false));
    let why = s.readiness().unwrap().unwrap_err();
    assert_eq!(why.model, "a");
    assert!(why.reason.contains("a_0 is sick"), "{why:?}");
    assert_eq!(s.is_live(), Ok(true));
    f.state.not_ready.lock().unwrap().clear();
    assert_eq!(s.is_ready(), Ok(true));
    // Without the hook every instance is ready.
    f.state.not_ready.lock().unwrap().push("a_0".into());
    f.state.has_ready_hook.store(false, Ordering::SeqCst);
    assert_eq!(s.is_ready(), Ok(true));
}

#[test]
fn non_strict_readiness_is_server_state_only() {
    let f = Fixture::new("nonstrict");
    f.model("a", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::None);
    o.strict_readiness = false;
    let s = f.start(o).unwrap();
    f.state.not_ready.lock().unwrap().push("a_0".into());
    assert_eq!(s.is_ready(), Ok(true));
    assert_eq!(s.model_is_ready("a", -1), Ok(false));
}

#[test]
fn unload_does_not_count_and_reload_gives_fresh_instances() {
    let f = Fixture::new("unload");
    f.model("a", "mock", &[1], "");
    f.model("b", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["*".into()];
    let s = f.start(o).unwrap();
    f.state.not_ready.lock().unwrap().push("a_0".into());
    assert_eq!(s.is_ready(), Ok(false));
    s.unload_model("a").unwrap();
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    assert_eq!(s.model_is_ready("a", -1), Ok(false));
    let index = s.model_index(false).unwrap();
    let a = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["state"], "UNAVAILABLE");
    assert_eq!(a["reason"], "unloaded");
    assert_eq!(a["version"], "1");
    f.state.not_ready.lock().unwrap().clear();
    s.load_model("a").unwrap();
    assert_eq!(s.model_is_ready("a", 1), Ok(true));
    assert_eq!(s.is_ready(), Ok(true));
    let ready_only = s.model_index(true).unwrap();
    assert_eq!(ready_only.as_array().unwrap().len(), 2);
    // Unloading an unknown model is a no-op.
    s.unload_model("never-there").unwrap();
}

#[test]
fn failed_load_blocks_strict_readiness_until_unloaded() {
    let f = Fixture::new("failed");
    f.model("good", "mock", &[1], "");
    f.model("bad", "no_such_backend", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["good".into()];
    let s = f.start(o).unwrap();
    assert_eq!(s.is_ready(), Ok(true));
    let e = s.load_model("bad").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert!(
        e.message().starts_with(
            "load failed for model 'bad': version 1 is at UNAVAILABLE state: Invalid argument: unable to find backend library for backend 'no_such_backend'"
        ),
        "{}",
        e.message()
    );
    assert_eq!(s.is_ready(), Ok(false));
    assert_eq!(s.model_is_ready("good", -1), Ok(true));
    s.unload_model("bad").unwrap();
    assert_eq!(s.is_ready(), Ok(true));
    let e = s.load_model("not-in-repo").unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert_eq!(
        e.message(),
        "failed to load 'not-in-repo', failed to poll from model repository"
    );
    assert_eq!(s.load_model("../x").unwrap_err().code(), Code::InvalidArg);
}

#[test]
fn failing_model_initialize_makes_that_model_unavailable() {
    let f = Fixture::new("modelinit");
    f.model("a", "mock", &[1], "");
    f.state.fail_model_init.store(true, Ordering::SeqCst);
    let mut o = f.options(ModelControlMode::None);
    o.exit_on_error = true;
    let e = f.start(o).unwrap_err();
    assert_eq!(e.message(), "failed to load all models");
    // A list of startup models gets the load error itself.
    let mut o = f.options(ModelControlMode::Explicit);
    o.exit_on_error = true;
    o.startup_models = vec!["a".into()];
    let e = f.start(o).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "load failed for model 'a': version 1 is at UNAVAILABLE state: Internal: mock model init failure;\n"
    );
    f.state.fail_model_init.store(false, Ordering::SeqCst);
    f.model("b", "mock", &[1], "");
    f.state.fail_model_init.store(true, Ordering::SeqCst);
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    assert_eq!(s.is_ready(), Ok(false));
    let index = s.model_index(false).unwrap();
    for e in index.as_array().unwrap() {
        assert_eq!(e["state"], "UNAVAILABLE");
        assert!(e["reason"]
            .as_str()
            .unwrap()
            .contains("mock model init failure"));
    }
    // A model whose ModelInitialize failed is not finalized.
    assert!(!f.calls().iter().any(|c| c.starts_with("model_fini")));
}

#[test]
fn explicit_load_is_refused_in_none_mode() {
    let f = Fixture::new("modes");
    f.model("a", "mock", &[1], "");
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    let e = s.load_model("a").unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(
        e.message(),
        "explicit model load / unload is not allowed if polling is enabled"
    );
    assert_eq!(s.unload_model("a").unwrap_err().code(), Code::Unavailable);
}

#[test]
fn missing_config_needs_the_backend_to_complete_it() {
    let f = Fixture::new("noconfig");
    std::fs::create_dir_all(f.repo.join("x.mock/1")).unwrap();
    // Auto-complete on: the model is polled, but the backend never completes the configuration.
    let mut o = f.options(ModelControlMode::None);
    o.strict_model_config = false;
    let s = f.start(o).unwrap();
    let index = s.model_index(false).unwrap();
    let e = &index.as_array().unwrap()[0];
    assert_eq!(e["name"], "x.mock");
    assert_eq!(e["state"], "UNAVAILABLE");
    assert_eq!(
        e["reason"],
        "Not found: model configuration is not provided for model 'x.mock'"
    );
    drop(s);
    // Strict: the poll fails, so the model is not tracked (upstream lists the name only) and
    // does not count for readiness.
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    let index = s.model_index(false).unwrap();
    assert_eq!(index, serde_json::json!([{ "name": "x.mock" }]));
    assert_eq!(s.is_ready(), Ok(true));
}

#[test]
fn readiness_never_waits_behind_a_load() {
    // A backend whose ModelInitialize blocks until released: readiness keeps answering.
    struct Slow {
        path: PathBuf,
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
    }
    impl BackendLibrary for Slow {
        fn path(&self) -> &Path {
            &self.path
        }
        fn model_initialize(&self, m: &Model) -> Result<()> {
            if m.name() == "slow" {
                let (lock, cv) = &*self.gate;
                let mut open = lock.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
            }
            Ok(())
        }
    }
    struct SlowLoader(Arc<(Mutex<bool>, std::sync::Condvar)>);
    impl LibraryLoader for SlowLoader {
        fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
            Ok(Arc::new(Slow {
                path: path.to_path_buf(),
                gate: self.0.clone(),
            }))
        }
    }
    let f = Fixture::new("slow");
    f.model("fast", "mock", &[1], "");
    f.model("slow", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["fast".into()];
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let s = Server::new(o, Arc::new(SlowLoader(gate.clone()))).unwrap();
    let loader = {
        let s = s.clone();
        std::thread::spawn(move || s.load_model("slow"))
    };
    assert!(
        wait_until(|| s.is_ready() == Ok(false)),
        "LOADING counts as not ready"
    );
    for _ in 0..100 {
        let t = Instant::now();
        assert_eq!(s.model_is_ready("fast", -1), Ok(true));
        assert!(s.is_ready().is_ok());
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    loader.join().unwrap().unwrap();
    assert_eq!(s.is_ready(), Ok(true));
}

// ---- repository: polling, load parameters, registered repositories, ensembles ----

fn index_of(s: &Server) -> Vec<serde_json::Value> {
    s.model_index(false).unwrap().as_array().unwrap().clone()
}

fn state_of(s: &Server, name: &str, version: &str) -> Option<(String, String)> {
    index_of(s)
        .into_iter()
        .find(|e| e["name"] == name && e["version"] == version)
        .map(|e| {
            (
                e["state"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

fn count_calls(f: &Fixture, call: &str) -> usize {
    f.calls().iter().filter(|c| *c == call).count()
}

/// A file system time step, so that modification times surely differ.
fn tick() {
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn poll_adds_changes_and_removes_models_and_versions() {
    let f = Fixture::new("poll");
    f.model("a", "mock", &[1], "");
    let s = f.start(f.options(ModelControlMode::Poll)).unwrap();
    assert_eq!(s.model_is_ready("a", 1), Ok(true));
    // Nothing changed: nothing reloads.
    s.poll_repository().unwrap();
    assert_eq!(count_calls(&f, "model_init a 1"), 1);
    // A new model.
    tick();
    f.model("b", "mock", &[1], "");
    s.poll_repository().unwrap();
    assert_eq!(s.model_is_ready("b", 1), Ok(true));
    // A new version: latest(1) moves to it, the old one is unloaded.
    tick();
    std::fs::create_dir_all(f.repo.join("a/2")).unwrap();
    s.poll_repository().unwrap();
    assert_eq!(s.model_is_ready("a", 2), Ok(true));
    assert!(wait_until(
        || state_of(&s, "a", "1") == Some(("UNAVAILABLE".into(), "unloaded".into()))
    ));
    // A broken configuration leaves the serving version in place.
    tick();
    std::fs::write(f.repo.join("b/config.pbtxt"), "name: \"b\" backend: ").unwrap();
    s.poll_repository().unwrap();
    assert_eq!(s.model_is_ready("b", 1), Ok(true));
    assert_eq!(count_calls(&f, "model_init b 1"), 1);
    // A fixed, changed configuration reloads.
    tick();
    f.model(
        "b",
        "mock",
        &[1],
        "parameters { key: \"k\" value { string_value: \"v\" } }",
    );
    s.poll_repository().unwrap();
    assert_eq!(count_calls(&f, "model_init b 1"), 2);
    let cfg: serde_json::Value =
        serde_json::from_str(&s.model_config_json("b", -1, 1).unwrap()).unwrap();
    assert_eq!(cfg["parameters"]["k"]["string_value"], "v");
    // A removed model is unloaded and leaves the index.
    std::fs::remove_dir_all(f.repo.join("a")).unwrap();
    s.poll_repository().unwrap();
    assert!(wait_until(|| s.model_is_ready("a", -1) == Ok(false)));
    assert!(index_of(&s).iter().all(|e| e["name"] != "a"));
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    // A removed version goes too.
    tick();
    f.model("c", "mock", &[1, 2], "version_policy { all { } }");
    s.poll_repository().unwrap();
    assert_eq!(s.model_is_ready("c", 1), Ok(true));
    tick();
    std::fs::remove_dir_all(f.repo.join("c/1")).unwrap();
    s.poll_repository().unwrap();
    assert!(wait_until(
        || state_of(&s, "c", "1") == Some(("UNAVAILABLE".into(), "unloaded".into()))
    ));
    assert_eq!(s.model_is_ready("c", 2), Ok(true));
}

#[test]
fn poll_is_refused_outside_poll_mode_and_the_thread_polls() {
    let f = Fixture::new("pollmode");
    f.model("a", "mock", &[1], "");
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    let e = s.poll_repository().unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(e.message(), "polling is disabled");
    assert!(s.start_poll_thread(Duration::from_millis(5)).is_err());
    drop(s);
    let s = f.start(f.options(ModelControlMode::Poll)).unwrap();
    let poller = s.start_poll_thread(Duration::from_millis(10)).unwrap();
    f.model("late", "mock", &[1], "");
    assert!(wait_until(|| s.model_is_ready("late", 1) == Ok(true)));
    poller.stop();
}

#[test]
fn load_parameters_config_override_and_files() {
    use crate::engine::parameters::Parameter;
    let f = Fixture::new("params");
    f.model("a", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["a".into()];
    let s = f.start(o).unwrap();
    // A configuration override replaces the file, and always reloads.
    let json = r#"{"name":"a","backend":"mock","max_batch_size":4,
        "input":[{"name":"IN","data_type":"TYPE_FP32","dims":[4]}],
        "output":[{"name":"OUT","data_type":"TYPE_FP32","dims":[4]}]}"#;
    s.load_model_with_parameters("a", &[Parameter::string("config", json).unwrap()])
        .unwrap();
    assert_eq!(s.model_batch_flags("a", -1), Ok(2));
    assert_eq!(count_calls(&f, "model_init a 1"), 2);
    // Loading without it goes back to the file.
    s.load_model("a").unwrap();
    assert_eq!(s.model_batch_flags("a", -1), Ok(1));
    assert_eq!(count_calls(&f, "model_init a 1"), 3);
    // Bad parameters fail the poll.
    let e = s
        .load_model_with_parameters("a", &[Parameter::int("nope", 1).unwrap()])
        .unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert_eq!(
        e.message(),
        "failed to load 'a', failed to poll from model repository: Unrecognized load parameter 'nope' with type 'INT'"
    );
    let e = s
        .load_model_with_parameters(
            "a",
            &[Parameter::string("config", "{\"bogus\":1}").unwrap()],
        )
        .unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(
        e.message().contains("Invalid config override"),
        "{}",
        e.message()
    );
    assert_eq!(
        s.model_is_ready("a", 1),
        Ok(true),
        "a failed load keeps serving"
    );
    // Files: the model lives in a private directory, even when the repository lacks it.
    let json = r#"{"name":"f","backend":"mock","max_batch_size":0,
        "input":[{"name":"IN","data_type":"TYPE_FP32","dims":[4]}],
        "output":[{"name":"OUT","data_type":"TYPE_FP32","dims":[4]}]}"#;
    s.load_model_with_parameters(
        "f",
        &[
            Parameter::string("config", json).unwrap(),
            Parameter::bytes("file:1/weights.bin", b"abc").unwrap(),
        ],
    )
    .unwrap();
    let m = s.get_model("f", 1).unwrap();
    let dir = m.model_dir();
    assert!(!dir.starts_with(&f.repo));
    assert_eq!(std::fs::read(dir.join("1/weights.bin")).unwrap(), b"abc");
    drop(m);
    s.unload_model("f").unwrap();
    assert!(
        wait_until(|| !dir.exists()),
        "the private directory goes with the model"
    );
    for bad in ["file:../escape", "file:/tmp/abs", "file:1/../../x"] {
        let e = s
            .load_model_with_parameters(
                "g",
                &[
                    Parameter::string("config", json).unwrap(),
                    Parameter::bytes(bad, b"x").unwrap(),
                ],
            )
            .unwrap_err();
        assert_eq!(e.code(), Code::Internal, "{bad}");
        assert!(
            e.message().contains("must stay within model directory"),
            "{}",
            e.message()
        );
    }
    assert!(!f.root.join("escape").exists() && !f.repo.join("escape").exists());
}

#[test]
fn registered_repositories_and_name_mappings() {
    let f = Fixture::new("register");
    f.model("a", "mock", &[1], "");
    let extra = f.root.join("extra");
    std::fs::create_dir_all(extra.join("sub/1")).unwrap();
    std::fs::write(
        extra.join("sub/config.pbtxt"),
        "backend: \"mock\"\nmax_batch_size: 0\n\
         input [{ name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] }]\n\
         output [{ name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] }]\n",
    )
    .unwrap();
    let extra_s = extra.to_string_lossy().into_owned();
    let none = f.start(f.options(ModelControlMode::None)).unwrap();
    let e = none
        .register_model_repository(&extra_s, &Default::default())
        .unwrap_err();
    assert_eq!(e.code(), Code::Unsupported);
    assert_eq!(
        e.message(),
        "repository registration is not allowed if model control mode is not EXPLICIT"
    );
    drop(none);
    let s = f.start(f.options(ModelControlMode::Explicit)).unwrap();
    let mapping: std::collections::BTreeMap<String, String> =
        [("mapped".to_owned(), "sub".to_owned())].into();
    s.register_model_repository(&extra_s, &mapping).unwrap();
    let e = s
        .register_model_repository(&extra_s, &Default::default())
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let e = s
        .register_model_repository("/no/such/dir", &Default::default())
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "failed to register '/no/such/dir', repository not found"
    );
    s.load_model("mapped").unwrap();
    assert_eq!(s.model_is_ready("mapped", 1), Ok(true));
    let cfg: serde_json::Value =
        serde_json::from_str(&s.model_config_json("mapped", 1, 1).unwrap()).unwrap();
    assert_eq!(cfg["name"], "mapped");
    // The mapped directory is known by its mapped name only.
    assert!(s.load_model("sub").is_err());
    let names: Vec<String> = index_of(&s)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"mapped".to_owned()) && !names.contains(&"sub".to_owned()));
    s.unregister_model_repository(&extra_s).unwrap();
    assert_eq!(
        s.model_is_ready("mapped", 1),
        Ok(true),
        "loaded models stay"
    );
    let e = s.unregister_model_repository(&extra_s).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    let bad: std::collections::BTreeMap<String, String> =
        [("m".to_owned(), "../sub".to_owned())].into();
    assert_eq!(
        s.register_model_repository(&extra_s, &bad)
            .unwrap_err()
            .code(),
        Code::InvalidArg
    );
}

fn ensemble(f: &Fixture, name: &str, steps: &[&str]) {
    let dir = f.repo.join(name);
    std::fs::create_dir_all(dir.join("1")).unwrap();
    let mut text = format!(
        "name: \"{name}\"\nplatform: \"ensemble\"\nmax_batch_size: 0\n\
         input [{{ name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
         output [{{ name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
         ensemble_scheduling {{ step [\n"
    );
    let n = steps.len();
    for (i, s) in steps.iter().enumerate() {
        let input = if i == 0 {
            "IN".to_owned()
        } else {
            format!("t{i}")
        };
        let output = if i + 1 == n {
            "OUT".to_owned()
        } else {
            format!("t{}", i + 1)
        };
        text.push_str(&format!(
            "{}{{ model_name: \"{s}\" model_version: -1 input_map {{ key: \"IN\" value: \"{input}\" }} \
             output_map {{ key: \"OUT\" value: \"{output}\" }} }}\n",
            if i > 0 { "," } else { "" }
        ));
    }
    text.push_str("] }\n");
    std::fs::write(dir.join("config.pbtxt"), text).unwrap();
}

#[test]
fn ensembles_load_composing_models_and_unload_dependents() {
    let f = Fixture::new("ensemble");
    f.model("x", "mock", &[1], "");
    f.model("y", "mock", &[1], "");
    ensemble(&f, "ens", &["x", "y"]);
    let s = f.start(f.options(ModelControlMode::Explicit)).unwrap();
    s.load_model("ens").unwrap();
    for m in ["ens", "x", "y"] {
        assert_eq!(s.model_is_ready(m, 1), Ok(true), "{m}");
    }
    assert_eq!(s.model_transaction_flags("ens", -1), Ok(1));
    let md = s.model_metadata("ens", -1).unwrap();
    assert_eq!(md["platform"], "ensemble");
    // Unloading with dependents takes the composing models loaded only for it.
    s.load_model("y").unwrap(); // now explicitly loaded
    s.unload_model_and_dependents("ens").unwrap();
    assert!(wait_until(|| s.model_is_ready("x", 1) == Ok(false)));
    assert_eq!(s.model_is_ready("ens", 1), Ok(false));
    assert_eq!(
        s.model_is_ready("y", 1),
        Ok(true),
        "explicitly loaded: stays"
    );
    // Unloading a composing model unloads the ensembles using it (nested ones too)...
    s.load_model("ens").unwrap();
    ensemble(&f, "outer", &["ens"]);
    s.load_model("outer").unwrap();
    ensemble(&f, "byreq", &["x"]);
    s.load_model("byreq").unwrap();
    s.unload_model("x").unwrap();
    for m in ["ens", "outer", "byreq"] {
        assert!(wait_until(|| s.model_is_ready(m, 1) == Ok(false)), "{m}");
    }
    // ...and loading it again loads them again, as upstream, except one unloaded by request
    // since.
    s.unload_model("byreq").unwrap();
    s.load_model("x").unwrap();
    for m in ["x", "ens", "outer"] {
        assert_eq!(s.model_is_ready(m, 1), Ok(true), "{m}");
    }
    assert_eq!(s.model_is_ready("byreq", 1), Ok(false));
    // An ensemble whose other composing model is still unloaded waits for it.
    s.unload_model("y").unwrap();
    assert!(wait_until(|| s.model_is_ready("ens", 1) == Ok(false)));
    s.unload_model("x").unwrap();
    assert!(wait_until(|| s.model_is_ready("x", 1) == Ok(false)));
    s.load_model("x").unwrap();
    assert_eq!(s.model_is_ready("ens", 1), Ok(false), "y is still unloaded");
    s.load_model("y").unwrap();
    assert_eq!(s.model_is_ready("ens", 1), Ok(true));
    assert_eq!(s.model_is_ready("outer", 1), Ok(true));
    // Broken ensembles.
    ensemble(&f, "e_missing", &["nope"]);
    let e = s.load_model("e_missing").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "load failed for model 'e_missing': ensemble e_missing contains models that are not available or ambiguous: nope\n"
    );
    f.model("bad", "no_such_backend", &[1], "");
    ensemble(&f, "e_bad", &["bad"]);
    let e = s.load_model("e_bad").unwrap_err();
    assert!(
        e.message().starts_with(
            "load failed for model 'e_bad': ensemble 'e_bad' depends on 'bad' which has no loaded version. Model 'bad' loading failed with error: version 1 is at UNAVAILABLE state"
        ),
        "{}",
        e.message()
    );
    ensemble(&f, "c1", &["c2"]);
    ensemble(&f, "c2", &["c1"]);
    let e = s.load_model("c1").unwrap_err();
    assert!(
        e.message()
            .contains("circular dependency between ensembles"),
        "{}",
        e.message()
    );
    assert!(index_of(&s).contains(&serde_json::json!({"name": "e_missing"})));
}

#[test]
fn model_information_errors() {
    let f = Fixture::new("info");
    f.model(
        "a",
        "mock",
        &[1],
        "max_batch_size: 2\nmodel_transaction_policy { decoupled: true }",
    );
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    assert_eq!(s.model_transaction_flags("a", 1), Ok(2));
    assert_eq!(s.model_batch_flags("a", 1), Ok(2));
    let e = s.model_config_json("a", 1, 2).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert_eq!(
        e.message(),
        "model configuration version 2 not supported, supported versions are: 1"
    );
    let e = s.model_metadata("zz", -1).unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "Request for unknown model: 'zz' is not found");
    let e = s.model_metadata("a", 7).unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        e.message(),
        "Request for unknown model: 'a' version 7 is not found"
    );
    let md = s.model_metadata("a", 1).unwrap();
    assert_eq!(md["inputs"][0]["shape"], serde_json::json!([-1, 4]));
    assert_eq!(md["versions"], serde_json::json!(["1"]));
    s.stop().unwrap();
    // While exiting, lookups still run (to finish sequences) but nothing is loaded any more.
    assert_eq!(
        s.model_metadata("a", 1).unwrap_err().message(),
        "Request for unknown model: 'a' version 1 is not at ready state"
    );
}

#[test]
fn readiness_report_lists_every_instance_that_is_not_ready() {
    let f = Fixture::new("report");
    f.model(
        "a",
        "mock",
        &[1],
        "instance_group [{ count: 2 kind: KIND_CPU }]",
    );
    f.model("b", "mock", &[1], "");
    f.model("c", "mock", &[1], "");
    let s = f.start(f.options(ModelControlMode::None)).unwrap();
    assert_eq!(
        s.readiness_report().unwrap(),
        serde_json::json!({"ready": true, "not_ready": []})
    );
    f.state.not_ready.lock().unwrap().extend([
        "a_0_0".to_owned(),
        "a_0_1".to_owned(),
        "c_0".to_owned(),
    ]);
    let report = s.readiness_report().unwrap();
    assert_eq!(report["ready"], false);
    let items = report["not_ready"].as_array().unwrap();
    let got: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["instance"].as_str().unwrap().to_owned(),
                i["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a_0_0".to_owned(), "a_0_0 is sick".to_owned()),
            ("a_0_1".to_owned(), "a_0_1 is sick".to_owned()),
            ("c_0".to_owned(), "c_0 is sick".to_owned()),
        ]
    );
    assert!(items
        .iter()
        .all(|i| i["state"] == "READY" && i["version"] == "1"));
    // The health check itself stops at the first problem.
    assert_eq!(s.not_ready(true).unwrap().len(), 1);
}

#[test]
fn host_policy_settings_reach_the_instances() {
    let f = Fixture::new("hostpolicy");
    f.model(
        "a",
        "mock",
        &[1],
        "instance_group [{ count: 1 kind: KIND_CPU }]",
    );
    let mut o = f.options(ModelControlMode::None);
    o.host_policies.insert(
        "cpu".into(),
        [("numa-node".to_owned(), "0".to_owned())]
            .into_iter()
            .collect(),
    );
    let s = f.start(o).unwrap();
    let m = s.get_model("a", 1).unwrap();
    assert_eq!(
        m.instances()[0].host_policy().as_str(),
        r#"{"cpu":{"numa-node":"0"}}"#
    );
}

#[test]
fn failed_loads_are_retried_as_configured() {
    let f = Fixture::new("retry");
    f.model("a", "mock", &[1], "");
    f.state.fail_model_init.store(true, Ordering::SeqCst);
    let mut o = f.options(ModelControlMode::None);
    o.model_load_retry_count = 2;
    let s = f.start(o).unwrap();
    let attempts = f
        .calls()
        .iter()
        .filter(|c| c.as_str() == "model_init a 1")
        .count();
    assert_eq!(attempts, 3);
    assert_eq!(s.model_is_ready("a", 1), Ok(false));
}

/// Readiness threads hammer the server while the model is reloaded and unloaded: no hook call
/// reaches a finalized instance and no finalize runs while a hook call is inside.
#[test]
fn readiness_never_reaches_a_finalized_instance_under_churn() {
    let f = Fixture::new("churn-ready");
    f.model(
        "m",
        "mock",
        &[1],
        "instance_group [{ count: 2 kind: KIND_CPU }]",
    );
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["m".into()];
    let s = f.start(o).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = s.is_ready();
                    let _ = s.model_is_ready("m", -1);
                    let _ = s.readiness_report();
                }
            })
        })
        .collect();
    for i in 0..60 {
        // A changed configuration makes each load a reload.
        f.model(
            "m",
            "mock",
            &[1],
            &format!("instance_group [{{ count: 2 kind: KIND_CPU }}] parameters {{ key: \"i\" value: {{ string_value: \"{i}\" }} }}"),
        );
        s.load_model("m").unwrap();
        if i % 3 == 0 {
            s.unload_model("m").unwrap();
            s.load_model("m").unwrap();
        }
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    s.stop().unwrap();
    assert_eq!(f.state.poisoned_calls.load(Ordering::SeqCst), 0);
    assert_eq!(f.state.finalized_during_hook.load(Ordering::SeqCst), 0);
    let count = |prefix: &str| f.calls().iter().filter(|c| c.starts_with(prefix)).count();
    let inits = count("inst_init ");
    assert_eq!(inits, count("inst_fini "), "every instance finalized once");
    assert!(inits >= 2 * 80, "{inits}");
}

/// A reader held inside the hook while the model is unloaded, reloaded or the server stops:
/// the operation returns, but the instance is finalized only after the hook call returns.
#[test]
fn a_hook_call_in_flight_delays_finalize_until_it_returns() {
    for op in ["unload", "reload", "stop"] {
        let f = Fixture::new(&format!("held-hook-{op}"));
        f.model("m", "mock", &[1], "");
        let mut o = f.options(ModelControlMode::Explicit);
        o.startup_models = vec!["m".into()];
        let s = f.start(o).unwrap();
        f.state.hook_sleep_ms.store(300, Ordering::SeqCst);
        let reader = {
            let s = s.clone();
            std::thread::spawn(move || s.model_is_ready("m", 1))
        };
        assert!(wait_until(|| f.state.in_hook.load(Ordering::SeqCst) == 1));
        let t = Instant::now();
        match op {
            "unload" => s.unload_model("m").unwrap(),
            "reload" => {
                f.model(
                    "m",
                    "mock",
                    &[1],
                    "parameters { key: \"x\" value: { string_value: \"y\" } }",
                );
                s.load_model("m").unwrap();
            }
            _ => s.stop().unwrap(),
        }
        let took = t.elapsed();
        let answer = reader.join().unwrap();
        assert_eq!(answer, Ok(true), "{op}");
        assert!(wait_until(|| count_calls(&f, "inst_fini m_0") == 1), "{op}");
        assert_eq!(
            f.state.finalized_during_hook.load(Ordering::SeqCst),
            0,
            "{op}"
        );
        assert_eq!(f.state.poisoned_calls.load(Ordering::SeqCst), 0, "{op}");
        // Only a stop waits (for the finalization); unload and reload return at once.
        if op != "stop" {
            assert!(took < Duration::from_millis(250), "{op} took {took:?}");
        }
        f.state.hook_sleep_ms.store(0, Ordering::SeqCst);
        s.stop().unwrap();
    }
}

/// Once a version is retired its readiness answers "unloading" without calling the backend.
#[test]
fn readiness_of_an_unloading_model_does_not_call_the_backend() {
    let f = Fixture::new("unloading-ready");
    f.model("m", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["m".into()];
    let s = f.start(o).unwrap();
    let m = s.get_model("m", 1).unwrap();
    s.unload_model("m").unwrap();
    assert!(m.is_retired());
    let before = f.state.in_hook.load(Ordering::SeqCst);
    let problems = m.instances_not_ready(false);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].1.message(),
        crate::engine::model::REASON_UNLOADING
    );
    assert_eq!(f.state.in_hook.load(Ordering::SeqCst), before);
    s.stop().unwrap();
}

/// Two ensembles that use each other, loaded from two threads at once: both loads fail with
/// the cycle, neither deadlocks.
#[test]
fn concurrent_loads_of_mutually_referencing_ensembles_fail_cleanly() {
    let f = Fixture::new("ensemble-cycle-threads");
    ensemble(&f, "x1", &["x2"]);
    ensemble(&f, "x2", &["x1"]);
    let s = f.start(f.options(ModelControlMode::Explicit)).unwrap();
    for _ in 0..20 {
        let loads: Vec<_> = ["x1", "x2"]
            .into_iter()
            .map(|name| {
                let s = s.clone();
                std::thread::spawn(move || s.load_model(name))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !loads.iter().all(|t| t.is_finished()) {
            assert!(Instant::now() < deadline, "the loads deadlocked");
            std::thread::sleep(Duration::from_millis(2));
        }
        for t in loads {
            let e = t.join().unwrap().unwrap_err();
            assert!(
                e.message()
                    .contains("circular dependency between ensembles"),
                "{}",
                e.message()
            );
        }
    }
    s.stop().unwrap();
}

fn bounded_options(f: &Fixture, timeout_ms: u64) -> Options {
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["m".into()];
    o.readiness.hook_timeout = Duration::from_millis(timeout_ms);
    o
}

/// A hook that hangs: every caller answers NOT READY with the timeout reason within the
/// deadline, one hook call at a time per instance; once the hook answers again, READY.
#[test]
fn a_hung_hook_answers_not_ready_within_the_deadline_from_every_caller() {
    let f = Fixture::new("hung-hook");
    f.model("m", "mock", &[1], "");
    let s = f.start(bounded_options(&f, 200)).unwrap();
    assert_eq!(s.is_ready(), Ok(true));
    f.state.hook_sleep_ms.store(1500, Ordering::SeqCst);
    let calls_before = f.state.hook_calls.load(Ordering::SeqCst);
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = s.is_ready();
                (r, t.elapsed())
            })
        })
        .collect();
    for c in callers {
        let (r, took) = c.join().unwrap();
        assert_eq!(r, Ok(false));
        assert!(took < Duration::from_millis(250), "took {took:?}");
    }
    // While the call is outstanding, later callers answer at once from that state.
    let t = Instant::now();
    let report = s.readiness_report().unwrap();
    assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
    assert_eq!(
        report["not_ready"][0]["reason"],
        "readiness check of instance m_0 did not answer within 200 ms"
    );
    assert_eq!(report["not_ready"][0]["check_timeouts"], 1);
    assert_eq!(
        f.state.hook_calls.load(Ordering::SeqCst) - calls_before,
        1,
        "one hook call for all callers"
    );
    assert_eq!(f.state.max_in_one_hook.load(Ordering::SeqCst), 1);
    // The hook answers again: READY once the hung call has returned.
    f.state.hook_sleep_ms.store(0, Ordering::SeqCst);
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}

/// Callers arriving together share one hook call (answers are reused for `reuse`).
#[test]
fn concurrent_checks_share_one_hook_call() {
    let f = Fixture::new("shared-hook");
    f.model("m", "mock", &[1], "");
    let mut o = bounded_options(&f, 2000);
    o.readiness.reuse = Duration::from_secs(60);
    let s = f.start(o).unwrap();
    f.state.hook_sleep_ms.store(100, Ordering::SeqCst);
    let before = f.state.hook_calls.load(Ordering::SeqCst);
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.model_is_ready("m", 1))
        })
        .collect();
    for c in callers {
        assert_eq!(c.join().unwrap(), Ok(true));
    }
    assert_eq!(s.is_ready(), Ok(true));
    assert!(f.state.hook_calls.load(Ordering::SeqCst) - before <= 1);
    s.stop().unwrap();
}

const RESTART: &str =
    "parameters [{ key: \"triton_core.instance_restart\" value: { string_value: \"true\" } }, \
    { key: \"triton_core.instance_restart_after_failures\" value: { string_value: \"2\" } }, \
    { key: \"triton_core.instance_restart_max_attempts\" value: { string_value: \"2\" } }, \
    { key: \"triton_core.instance_restart_backoff_base_ms\" value: { string_value: \"10\" } }]";

/// An instance failing its checks is finalized and initialized again, and ready again.
#[test]
fn a_failing_instance_is_restarted_when_the_model_asks_for_it() {
    let f = Fixture::new("restart-ok");
    f.model("m", "mock", &[1], RESTART);
    let s = f.start(bounded_options(&f, 2000)).unwrap();
    assert_eq!(s.is_ready(), Ok(true));
    f.state.heal_on_finalize.store(true, Ordering::SeqCst);
    f.state.not_ready.lock().unwrap().push("m_0".into());
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    assert_eq!(count_calls(&f, "inst_fini m_0"), 1);
    assert_eq!(count_calls(&f, "inst_init m_0"), 2);
    let m = s.get_model("m", 1).unwrap();
    let r = m.instances()[0].ready_cell().report();
    assert_eq!((r.restarts, r.restart_failures), (1, 0));
    assert_eq!(r.transitions, 2, "ready -> not ready -> ready: {r:?}");
    let metrics = s.metrics_text();
    assert!(
        metrics.contains("nv_instance_restarts{instance=\"m_0\",model=\"m\",version=\"1\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("nv_instance_ready{instance=\"m_0\",model=\"m\",version=\"1\"} 1"));
    s.stop().unwrap();
}

/// A restart that keeps failing gives up after the attempt cap: the instance stays NOT READY
/// with the reason, and requests to the model get UNAVAILABLE instead of waiting.
#[test]
fn a_restart_that_keeps_failing_gives_up_and_says_why() {
    let f = Fixture::new("restart-fail");
    f.model("m", "mock", &[1], RESTART);
    let s = f.start(bounded_options(&f, 2000)).unwrap();
    f.state.fail_instance_init.store(true, Ordering::SeqCst);
    f.state.not_ready.lock().unwrap().push("m_0".into());
    let reason = || {
        s.readiness_report().unwrap()["not_ready"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(wait_until(
        || reason().contains("could not be restarted after 2 attempt(s)")
    ));
    assert_eq!(s.is_ready(), Ok(false));
    let m = s.get_model("m", 1).unwrap();
    let r = m.instances()[0].ready_cell().report();
    assert_eq!((r.restarts, r.restart_failures), (0, 2));
    let fe = Arc::new(super::tests_infer::Frontend::default());
    let e = s
        .infer(super::tests_infer::request(&s, &fe, None))
        .map(|_| ())
        .unwrap_err()
        .0;
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    assert!(
        e.message()
            .contains("no instance of model 'm' can execute requests"),
        "{}",
        e.message()
    );
    s.stop().unwrap();
}

/// Without the policy (the default) a failing instance is only reported, never restarted; with
/// the monitor on, a restart happens without anyone asking.
#[test]
fn restarts_are_off_by_default_and_the_monitor_needs_no_caller() {
    let f = Fixture::new("restart-off");
    f.model("m", "mock", &[1], "");
    let s = f.start(bounded_options(&f, 2000)).unwrap();
    f.state.not_ready.lock().unwrap().push("m_0".into());
    for _ in 0..5 {
        assert_eq!(s.is_ready(), Ok(false));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(count_calls(&f, "inst_fini m_0"), 0);
    s.stop().unwrap();

    let f = Fixture::new("restart-monitor");
    f.model("m", "mock", &[1], RESTART);
    let mut o = bounded_options(&f, 2000);
    o.readiness.monitor_interval = Some(Duration::from_millis(10));
    let s = f.start(o).unwrap();
    f.state.heal_on_finalize.store(true, Ordering::SeqCst);
    f.state.not_ready.lock().unwrap().push("m_0".into());
    assert!(wait_until(|| count_calls(&f, "inst_init m_0") == 2));
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}

/// A stub that dies right after every start is a crash loop, not a healed instance: the
/// restarts count as one streak of attempts and stop at the cap, with the reason.
#[test]
fn a_crash_loop_stops_restarting_at_the_attempt_cap() {
    let f = Fixture::new("restart-loop");
    f.model("m", "mock", &[1], RESTART);
    let s = f.start(bounded_options(&f, 2000)).unwrap();
    f.state.heal_on_finalize.store(true, Ordering::SeqCst);
    f.state.sick_after_init.store(true, Ordering::SeqCst);
    f.state.not_ready.lock().unwrap().push("m_0".into());
    let reason = || {
        s.readiness_report().unwrap()["not_ready"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        wait_until(|| reason().contains("could not be restarted after 2 attempt(s)")),
        "{}",
        reason()
    );
    let inits = count_calls(&f, "inst_init m_0");
    assert_eq!(inits, 3, "the first start and 2 restarts");
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..10 {
        assert_eq!(s.is_ready(), Ok(false));
    }
    assert_eq!(count_calls(&f, "inst_init m_0"), inits, "no more restarts");
    s.stop().unwrap();
}

/// One model's hung hook does not make another model not ready: the rest of the batch of
/// checks goes on without the thread stuck in the hung hook.
#[test]
fn a_hung_hook_does_not_hold_up_the_other_models_checks() {
    let f = Fixture::new("hung-other");
    f.model("a", "mock", &[1], "");
    f.model("b", "mock", &[1], "");
    let mut o = f.options(ModelControlMode::Explicit);
    o.startup_models = vec!["a".into(), "b".into()];
    o.readiness.hook_timeout = Duration::from_millis(300);
    let s = f.start(o).unwrap();
    f.state.slow_instances.lock().unwrap().push("a_0".into());
    f.state.hook_sleep_ms.store(1500, Ordering::SeqCst);
    let report = s.readiness_report().unwrap();
    let names: Vec<&str> = report["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["a_0"], "{report}");
    assert_eq!(s.model_is_ready("b", 1), Ok(true));
    f.state.hook_sleep_ms.store(0, Ordering::SeqCst);
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}

/// An execution the backend refuses (a dead stub) makes the instance be checked at once: with
/// restarts on, a dead instance is restarted without anyone probing readiness.
#[test]
fn failed_executions_prompt_a_check_and_a_restart() {
    let f = Fixture::new("restart-exec");
    f.model("m", "mock", &[1], RESTART);
    let s = f.start(bounded_options(&f, 2000)).unwrap();
    f.state.heal_on_finalize.store(true, Ordering::SeqCst);
    f.state.not_ready.lock().unwrap().push("m_0".into());
    let fe = Arc::new(super::tests_infer::Frontend::default());
    // The mock's Execute refuses every batch.
    for _ in 0..2 {
        s.infer(super::tests_infer::request(&s, &fe, None))
            .map_err(|(e, _)| e)
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(wait_until(|| count_calls(&f, "inst_init m_0") == 2));
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}
