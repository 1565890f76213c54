//! The TRITONREPOAGENT_* functions called directly: NULL arguments, lifecycle errors, what an
//! agent sees from inside its ModelAction, and a server whose model names a missing agent.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::{Arc, Mutex};

use tritonserver::capi::repoagent::*;
use tritonserver::capi::server::error::{
    TRITONSERVER_Error, TRITONSERVER_ErrorCode, TRITONSERVER_ErrorDelete, TRITONSERVER_ErrorMessage,
};
use tritonserver::capi::server::message::{
    TRITONSERVER_Message, TRITONSERVER_MessageDelete, TRITONSERVER_MessageSerializeToJson,
};
use tritonserver::capi::server::options::*;
use tritonserver::capi::server::server::*;
use tritonserver::capi::types::TRITONSERVER_ModelControlMode;
use tritonserver::engine::repoagent::{
    Action, Agent, AgentLibrary, AgentLoader, AgentManager, AgentModel, ArtifactType,
};
use tritonserver::engine::Result;

const INTERNAL: u32 = 1;
const INVALID_ARG: u32 = 3;
const UNAVAILABLE: u32 = 4;
const FILESYSTEM: TRITONREPOAGENT_ArtifactType = TRITONREPOAGENT_ArtifactType(0);

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

fn cstr(p: *const c_char) -> String {
    // SAFETY: a NUL-terminated string lent by the library.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// An agent that, on LOAD, reads its location and parameters and moves the model through the
/// C functions, as a real agent does.
struct Lib {
    path: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
}

impl AgentLibrary for Lib {
    fn path(&self) -> &Path {
        &self.path
    }
    fn initialize(&self, _: &Agent) -> Result<()> {
        Ok(())
    }
    fn finalize(&self, _: &Agent) -> Result<()> {
        Ok(())
    }
    fn model_initialize(&self, _: &Agent, _: &AgentModel) -> Result<()> {
        Ok(())
    }
    fn model_finalize(&self, _: &Agent, _: &AgentModel) -> Result<()> {
        Ok(())
    }
    fn model_action(&self, a: &Agent, m: &AgentModel, action: Action) -> Result<()> {
        let ap = std::ptr::from_ref(a).cast_mut();
        let mp = std::ptr::from_ref(m).cast_mut();
        let mut seen = self.seen.lock().unwrap();
        if action == Action::Load {
            let mut ty = TRITONREPOAGENT_ArtifactType(9);
            let mut loc: *const c_char = null();
            // SAFETY: live handles the core passed in; valid out-pointers.
            ok(unsafe { TRITONREPOAGENT_ModelRepositoryLocation(ap, mp, &mut ty, &mut loc) });
            seen.push(format!("{} {}", ty.0, cstr(loc)));
            let to = CString::new("/moved/here").unwrap();
            // SAFETY: as above; the string outlives the call.
            ok(unsafe { TRITONREPOAGENT_ModelRepositoryUpdate(ap, mp, FILESYSTEM, to.as_ptr()) });
        } else {
            seen.push(action.name().to_owned());
        }
        Ok(())
    }
}

struct Loader(Arc<Mutex<Vec<String>>>);
impl AgentLoader for Loader {
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>> {
        Ok(Arc::new(Lib {
            path: path.to_path_buf(),
            seen: self.0.clone(),
        }))
    }
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tc-capi-agent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn agent_model(dir: &Path, seen: &Arc<Mutex<Vec<String>>>) -> (Arc<Agent>, Box<AgentModel>) {
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/libtritonrepoagent_a.so"), b"").unwrap();
    let m = AgentManager::new(Arc::new(Loader(seen.clone())), dir);
    let agent = m.get_or_create("a").unwrap();
    let cfg =
        triton_model_config::parse_pbtxt("name: \"m\"\nmax_batch_size: 4", Path::new("c")).unwrap();
    let model = AgentModel::create(
        agent.clone(),
        ArtifactType::Filesystem,
        "/models/m",
        cfg,
        vec![("key".into(), "value".into())],
    )
    .unwrap();
    (agent, model)
}

#[test]
fn null_arguments_name_function_and_parameter() {
    let dir = temp("null");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (agent, model) = agent_model(&dir, &seen);
    let a = Arc::as_ptr(&agent).cast_mut();
    let m = std::ptr::from_ref(&*model).cast_mut();
    let mut ty = TRITONREPOAGENT_ArtifactType(0);
    let mut loc: *const c_char = null();
    let mut count = 0u32;
    // SAFETY: deliberately NULL arguments; every other argument is valid.
    unsafe {
        let (c, msg) = err(TRITONREPOAGENT_ApiVersion(null_mut(), &mut count)).unwrap();
        assert_eq!(c, INVALID_ARG);
        assert_eq!(msg, "TRITONREPOAGENT_ApiVersion: 'major' must not be NULL");
        let (c, msg) = err(TRITONREPOAGENT_ModelRepositoryLocation(
            a,
            null_mut(),
            &mut ty,
            &mut loc,
        ))
        .unwrap();
        assert_eq!(c, INVALID_ARG);
        assert_eq!(
            msg,
            "TRITONREPOAGENT_ModelRepositoryLocation: 'model' must not be NULL"
        );
        let (c, msg) = err(TRITONREPOAGENT_ModelRepositoryLocation(
            a,
            m,
            null_mut(),
            &mut loc,
        ))
        .unwrap();
        assert_eq!(c, INVALID_ARG);
        assert!(msg.ends_with("'artifact_type' must not be NULL"));
        assert_eq!(
            err(TRITONREPOAGENT_ModelParameterCount(
                null_mut(),
                m,
                &mut count
            ))
            .unwrap()
            .1,
            "TRITONREPOAGENT_ModelParameterCount: 'agent' must not be NULL"
        );
        assert_eq!(
            err(TRITONREPOAGENT_ModelRepositoryUpdate(
                a,
                m,
                FILESYSTEM,
                null()
            ))
            .unwrap()
            .1,
            "TRITONREPOAGENT_ModelRepositoryUpdate: 'location' must not be NULL"
        );
        assert_eq!(
            err(TRITONREPOAGENT_ModelState(m, null_mut())).unwrap().1,
            "TRITONREPOAGENT_ModelState: 'state' must not be NULL"
        );
        assert_eq!(
            err(TRITONREPOAGENT_SetState(null_mut(), null_mut()))
                .unwrap()
                .1,
            "TRITONREPOAGENT_SetState: 'agent' must not be NULL"
        );
        let mut msg_out: *mut TRITONSERVER_Message = null_mut();
        assert_eq!(
            err(TRITONREPOAGENT_ModelConfig(a, null_mut(), 1, &mut msg_out))
                .unwrap()
                .0,
            INVALID_ARG
        );
        assert!(msg_out.is_null(), "out-parameters only on success");
    }
    drop(model);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn helpers_report_what_the_core_knows() {
    let dir = temp("helpers");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (agent, model) = agent_model(&dir, &seen);
    let a = Arc::as_ptr(&agent).cast_mut();
    let m = std::ptr::from_ref(&*model).cast_mut();
    // SAFETY: live handles and valid out-pointers throughout.
    unsafe {
        let (mut major, mut minor) = (9u32, 9u32);
        ok(TRITONREPOAGENT_ApiVersion(&mut major, &mut minor));
        assert_eq!((major, minor), (0, 1));

        let mut count = 0u32;
        ok(TRITONREPOAGENT_ModelParameterCount(a, m, &mut count));
        assert_eq!(count, 1);
        let (mut k, mut v): (*const c_char, *const c_char) = (null(), null());
        ok(TRITONREPOAGENT_ModelParameter(a, m, 0, &mut k, &mut v));
        assert_eq!((cstr(k), cstr(v)), ("key".to_owned(), "value".to_owned()));
        let (c, msg) = err(TRITONREPOAGENT_ModelParameter(a, m, 1, &mut k, &mut v)).unwrap();
        assert_eq!(
            (c, msg.as_str()),
            (INVALID_ARG, "index out of range for model parameters")
        );

        let mut message: *mut TRITONSERVER_Message = null_mut();
        ok(TRITONREPOAGENT_ModelConfig(a, m, 1, &mut message));
        let (mut base, mut size): (*const c_char, usize) = (null(), 0);
        ok(TRITONSERVER_MessageSerializeToJson(
            message, &mut base, &mut size,
        ));
        let json: serde_json::Value =
            serde_json::from_slice(std::slice::from_raw_parts(base.cast(), size)).unwrap();
        assert_eq!(json["name"], "m");
        assert_eq!(json["max_batch_size"], 4);
        ok(TRITONSERVER_MessageDelete(message));
        assert_eq!(
            err(TRITONREPOAGENT_ModelConfig(a, m, 2, &mut message))
                .unwrap()
                .0,
            INVALID_ARG
        );

        let mut state: *mut c_void = 0x99 as *mut c_void;
        ok(TRITONREPOAGENT_ModelState(m, &mut state));
        assert!(state.is_null());
        ok(TRITONREPOAGENT_ModelSetState(m, 0x42 as *mut c_void));
        ok(TRITONREPOAGENT_ModelState(m, &mut state));
        assert_eq!(state as usize, 0x42);
        ok(TRITONREPOAGENT_SetState(a, 0x43 as *mut c_void));
        ok(TRITONREPOAGENT_State(a, &mut state));
        assert_eq!(state as usize, 0x43);

        // Temporary locations: FILESYSTEM only, the same until released, released once.
        let mut loc: *const c_char = null();
        let (c, _) = err(TRITONREPOAGENT_ModelRepositoryLocationAcquire(
            a,
            m,
            TRITONREPOAGENT_ArtifactType(1),
            &mut loc,
        ))
        .unwrap();
        assert_eq!(c, INVALID_ARG);
        assert!(err(TRITONREPOAGENT_ModelRepositoryLocationAcquire(
            a,
            m,
            TRITONREPOAGENT_ArtifactType(7),
            &mut loc,
        ))
        .is_some());
        ok(TRITONREPOAGENT_ModelRepositoryLocationAcquire(
            a, m, FILESYSTEM, &mut loc,
        ));
        let tmp = PathBuf::from(cstr(loc));
        assert!(tmp.is_dir());
        ok(TRITONREPOAGENT_ModelRepositoryLocationRelease(a, m, loc));
        assert!(!tmp.exists());
        let (c, msg) = err(TRITONREPOAGENT_ModelRepositoryLocationRelease(
            a,
            m,
            c"x".as_ptr(),
        ))
        .unwrap();
        assert_eq!(
            (c, msg.as_str()),
            (UNAVAILABLE, "No mutable location to be deleted")
        );
    }
    drop(model);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn location_updates_only_during_load() {
    let dir = temp("update");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (agent, model) = agent_model(&dir, &seen);
    let a = Arc::as_ptr(&agent).cast_mut();
    let m = std::ptr::from_ref(&*model).cast_mut();
    let to = CString::new("/elsewhere").unwrap();
    // SAFETY: live handles and a valid string.
    let (c, msg) =
        err(unsafe { TRITONREPOAGENT_ModelRepositoryUpdate(a, m, FILESYSTEM, to.as_ptr()) })
            .unwrap();
    assert_eq!(c, INVALID_ARG);
    assert_eq!(
        msg,
        "location can only be updated during TRITONREPOAGENT_ACTION_LOAD, current action type \
         is not set"
    );
    // From inside LOAD the agent sees the repository location and may move the model.
    model.invoke(Action::Load).unwrap();
    assert_eq!(seen.lock().unwrap()[0], "0 /models/m");
    assert_eq!(model.location_string().1, "/moved/here");
    let (c, msg) = err(model_invoke_as_error(&model, Action::Unload)).unwrap();
    assert_eq!(c, INTERNAL);
    assert!(msg.contains("from TRITONREPOAGENT_ACTION_LOAD to TRITONREPOAGENT_ACTION_UNLOAD"));
    drop(model);
    assert_eq!(seen.lock().unwrap()[1], "TRITONREPOAGENT_ACTION_LOAD_FAIL");
    let _ = std::fs::remove_dir_all(dir);
}

/// An engine error as the C error object an agent would see.
fn model_invoke_as_error(model: &AgentModel, action: Action) -> *mut TRITONSERVER_Error {
    match model.invoke(action) {
        Ok(()) => null_mut(),
        Err(e) => TRITONSERVER_Error::into_raw(e),
    }
}

#[test]
fn a_model_naming_a_missing_agent_fails_its_load() {
    let dir = temp("server");
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("m/1")).unwrap();
    std::fs::write(
        repo.join("m/config.pbtxt"),
        "name: \"m\"\nbackend: \"none\"\nmodel_repository_agents { agents [{ name: \"absent\" }] }\n",
    )
    .unwrap();
    let path = CString::new(repo.to_string_lossy().as_bytes()).unwrap();
    let agents = CString::new(dir.join("agents").to_string_lossy().as_bytes()).unwrap();
    // SAFETY: valid options and strings; the server and options are deleted once.
    unsafe {
        let mut o = null_mut();
        ok(TRITONSERVER_ServerOptionsNew(&mut o));
        ok(TRITONSERVER_ServerOptionsSetModelRepositoryPath(
            o,
            path.as_ptr(),
        ));
        ok(TRITONSERVER_ServerOptionsSetRepoAgentDirectory(
            o,
            agents.as_ptr(),
        ));
        ok(TRITONSERVER_ServerOptionsSetModelControlMode(
            o,
            TRITONSERVER_ModelControlMode(2),
        ));
        ok(TRITONSERVER_ServerOptionsSetLogError(o, false));
        ok(TRITONSERVER_ServerOptionsSetLogInfo(o, false));
        let mut s = null_mut();
        ok(TRITONSERVER_ServerNew(&mut s, o));
        ok(TRITONSERVER_ServerOptionsDelete(o));
        let name = c"m";
        let (c, msg) = err(TRITONSERVER_ServerLoadModel(s, name.as_ptr())).unwrap();
        assert_eq!(c, INVALID_ARG);
        assert!(
            msg.contains("unable to find 'libtritonrepoagent_absent.so' for repo agent 'absent'"),
            "{msg}"
        );
        let mut ready = true;
        ok(TRITONSERVER_ServerModelIsReady(
            s,
            name.as_ptr(),
            1,
            &mut ready,
        ));
        assert!(!ready);
        ok(TRITONSERVER_ServerDelete(s));
    }
    let _ = std::fs::remove_dir_all(dir);
}
