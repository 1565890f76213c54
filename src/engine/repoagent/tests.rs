//! Agent model lifecycle rules with a recording mock agent library.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;
use crate::engine::Code;

#[derive(Default)]
struct Rec {
    calls: Mutex<Vec<String>>,
}

struct Lib {
    path: PathBuf,
    rec: Arc<Rec>,
}

impl AgentLibrary for Lib {
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
    fn model_initialize(&self, _: &Agent, _: &AgentModel) -> Result<()> {
        self.rec.calls.lock().unwrap().push("model_init".into());
        Ok(())
    }
    fn model_finalize(&self, _: &Agent, _: &AgentModel) -> Result<()> {
        self.rec.calls.lock().unwrap().push("model_fini".into());
        Ok(())
    }
    fn model_action(&self, _: &Agent, _: &AgentModel, action: Action) -> Result<()> {
        self.rec.calls.lock().unwrap().push(action.name().into());
        Ok(())
    }
}

struct Loader(Arc<Rec>);
impl AgentLoader for Loader {
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>> {
        Ok(Arc::new(Lib {
            path: path.to_path_buf(),
            rec: self.0.clone(),
        }))
    }
}

fn manager(tag: &str) -> (AgentManager, Arc<Rec>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tc-agents-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a").join(library_name("a")), b"").unwrap();
    let rec = Arc::new(Rec::default());
    (
        AgentManager::new(Arc::new(Loader(rec.clone())), &dir),
        rec,
        dir,
    )
}

fn calls(rec: &Rec) -> Vec<String> {
    std::mem::take(&mut *rec.calls.lock().unwrap())
}

#[test]
fn lifecycle_order_is_enforced_and_completed_on_drop() {
    let (m, rec, dir) = manager("order");
    let agent = m.get_or_create("a").unwrap();
    assert!(Arc::ptr_eq(&agent, &m.get_or_create("a").unwrap()));
    let model = AgentModel::create(
        agent,
        ArtifactType::Filesystem,
        "/models/x",
        pb::ModelConfig::default(),
        vec![("k".into(), "v".into())],
    )
    .unwrap();
    assert_eq!(calls(&rec), ["init a", "model_init"]);
    // Only LOAD can start; nothing else before it.
    let e = model.invoke(Action::Unload).unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(e.message().contains("Unexpected lifecycle start state"));
    assert!(model.set_location(ArtifactType::Filesystem, "/y").is_err());
    model.invoke(Action::Load).unwrap();
    model.set_location(ArtifactType::Filesystem, "/y").unwrap();
    assert_eq!(model.location_string().1, "/y");
    let e = model.invoke(Action::Load).unwrap_err();
    assert!(e
        .message()
        .contains("from TRITONREPOAGENT_ACTION_LOAD to TRITONREPOAGENT_ACTION_LOAD"));
    model.invoke(Action::LoadComplete).unwrap();
    let e = model
        .set_location(ArtifactType::Filesystem, "/z")
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    drop(model);
    assert_eq!(
        calls(&rec),
        [
            "TRITONREPOAGENT_ACTION_LOAD",
            "TRITONREPOAGENT_ACTION_LOAD_COMPLETE",
            "TRITONREPOAGENT_ACTION_UNLOAD",
            "TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE",
            "model_fini"
        ]
    );
    m.clear();
    assert_eq!(calls(&rec), ["fini a"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn parameters_config_and_temporary_locations() {
    let (m, _rec, dir) = manager("params");
    let cfg = pb::ModelConfig {
        name: "x".into(),
        ..Default::default()
    };
    let model = AgentModel::create(
        m.get_or_create("a").unwrap(),
        ArtifactType::Filesystem,
        "/models/x",
        cfg,
        vec![("k1".into(), "v1".into()), ("k2".into(), "v2".into())],
    )
    .unwrap();
    assert_eq!(model.parameter_count(), 2);
    assert!(model.parameter(1).is_ok());
    assert_eq!(model.parameter(2).unwrap_err().code(), Code::InvalidArg);
    let json: serde_json::Value = serde_json::from_str(&model.config_json(1).unwrap()).unwrap();
    assert_eq!(json["name"], "x");
    assert_eq!(model.config_json(2).unwrap_err().code(), Code::InvalidArg);
    assert_eq!(
        model
            .acquire_location(ArtifactType::RemoteFilesystem)
            .unwrap_err()
            .code(),
        Code::InvalidArg
    );
    let p1 = model.acquire_location(ArtifactType::Filesystem).unwrap();
    let p2 = model.acquire_location(ArtifactType::Filesystem).unwrap();
    assert_eq!(p1, p2, "the same directory until released");
    let tmp = model.acquired_location().unwrap();
    assert!(tmp.is_dir());
    model.release_location().unwrap();
    assert!(!tmp.exists());
    assert_eq!(
        model.release_location().unwrap_err().code(),
        Code::Unavailable
    );
    model.acquire_location(ArtifactType::Filesystem).unwrap();
    let tmp = model.acquired_location().unwrap();
    drop(model);
    assert!(!tmp.exists(), "dropped with the model");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn lists_invoke_in_order_and_complete_unload_on_drop() {
    let (m, rec, dir) = manager("list");
    let cfg: pb::ModelConfig = triton_model_config::parse_pbtxt(
        "name: \"x\"\nmodel_repository_agents { agents [{ name: \"a\" }, { name: \"a\" parameters { key: \"p\" value: \"q\" } }] }",
        Path::new("config.pbtxt"),
    )
    .unwrap();
    assert_eq!(AgentModelList::configured(&cfg).len(), 2);
    let list = AgentModelList::load(&m, &cfg, Path::new("/models/x"), "").unwrap();
    calls(&rec);
    list.invoke(Action::LoadComplete).unwrap();
    list.invoke(Action::Unload).unwrap();
    list.invoke(Action::Unload).unwrap(); // a second UNLOAD is ignored
    drop(list);
    assert_eq!(
        calls(&rec),
        [
            "TRITONREPOAGENT_ACTION_LOAD_COMPLETE",
            "TRITONREPOAGENT_ACTION_LOAD_COMPLETE",
            "TRITONREPOAGENT_ACTION_UNLOAD",
            "TRITONREPOAGENT_ACTION_UNLOAD",
            "TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE",
            "TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE",
            "model_fini",
            "model_fini"
        ]
    );
    let e = AgentModelList::load(
        &AgentManager::new(Arc::new(NoAgents), &dir),
        &pb::ModelConfig {
            model_repository_agents: Some(pb::ModelRepositoryAgents {
                agents: vec![pb::model_repository_agents::Agent {
                    name: "missing".into(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        },
        Path::new("/models/x"),
        "",
    )
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert!(e
        .message()
        .starts_with("unable to find 'libtritonrepoagent_missing.so' for repo agent 'missing'"));
    let _ = std::fs::remove_dir_all(dir);
}
