//! Engine tests with mock backends: model namespacing (the same model name in two
//! repositories, one model per repository).

use std::path::{Path, PathBuf};

use super::tests::{wait_until, Fixture};
use super::Server;
use crate::engine::model::ModelState;
use crate::engine::types::ModelControlMode;
use crate::engine::Code;

/// A model directory in `repo` whose one input and output are named `tensor`.
fn model_in(repo: &Path, name: &str, backend: &str, versions: &[i64], tensor: &str) {
    let dir = repo.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for v in versions {
        std::fs::create_dir_all(dir.join(v.to_string())).unwrap();
    }
    std::fs::write(
        dir.join("config.pbtxt"),
        format!(
            "name: \"{name}\"\nbackend: \"{backend}\"\nmax_batch_size: 0\n\
             input [{{ name: \"{tensor}\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
             output [{{ name: \"{tensor}_OUT\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n"
        ),
    )
    .unwrap();
}

/// An ensemble in `repo` chaining `steps`, each step reading and writing tensors named `IN`
/// and `IN_OUT`.
fn ensemble_in(repo: &Path, name: &str, steps: &[&str]) {
    let dir = repo.join(name);
    std::fs::create_dir_all(dir.join("1")).unwrap();
    let mut text = format!(
        "name: \"{name}\"\nplatform: \"ensemble\"\nmax_batch_size: 0\n\
         input [{{ name: \"X\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
         output [{{ name: \"Y\" data_type: TYPE_FP32 dims: [ 4 ] }}]\n\
         ensemble_scheduling {{ step [\n"
    );
    let n = steps.len();
    for (i, s) in steps.iter().enumerate() {
        let input = if i == 0 {
            "X".to_owned()
        } else {
            format!("t{i}")
        };
        let output = if i + 1 == n {
            "Y".to_owned()
        } else {
            format!("t{}", i + 1)
        };
        text.push_str(&format!(
            "{}{{ model_name: \"{s}\" model_version: -1 input_map {{ key: \"IN\" value: \
             \"{input}\" }} output_map {{ key: \"IN_OUT\" value: \"{output}\" }} }}\n",
            if i > 0 { "," } else { "" }
        ));
    }
    text.push_str("] }\n");
    std::fs::write(dir.join("config.pbtxt"), text).unwrap();
}

/// Two more repositories next to the fixture's: `a` (the fixture's own) and `b`.
fn repos(f: &Fixture) -> (PathBuf, PathBuf) {
    let b = f.root.join("repo_b");
    std::fs::create_dir_all(&b).unwrap();
    (f.repo.clone(), b)
}

fn start(
    f: &Fixture,
    mode: ModelControlMode,
    paths: &[&Path],
    namespacing: bool,
) -> std::sync::Arc<Server> {
    let mut opts = f.options(mode);
    opts.repository_paths = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    opts.model_namespacing = namespacing;
    f.start(opts).unwrap()
}

fn ns(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

const AMBIGUOUS: &str = "There are 2 identifiers of model 'm' in global map, model namespace \
                         must be provided to resolve ambiguity.";

#[test]
fn same_name_in_two_repositories_loads_both() {
    let f = Fixture::new("ns-both");
    let (a, b) = repos(&f);
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "mock", &[1, 2], "IN_B");
    model_in(&b, "only_b", "mock", &[3], "IN");
    // Repositories given b first: the index is ordered by repository path, then name.
    let s = start(&f, ModelControlMode::None, &[&b, &a], true);
    assert_eq!(s.is_ready(), Ok(true));
    // The fixture's `repo` sorts before `repo_b`: a's `m` (version 1) comes first, then b's
    // (version 2, the latest), with no field telling them apart, as upstream.
    assert_eq!(
        s.model_index(false).unwrap(),
        serde_json::json!([
            {"name": "m", "version": "1", "state": "READY"},
            {"name": "m", "version": "2", "state": "READY"},
            {"name": "only_b", "version": "3", "state": "READY"},
        ])
    );
    // By-name calls on the ambiguous name fail as upstream's do.
    let e = s.get_model("m", -1).unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::InvalidArg, AMBIGUOUS));
    assert_eq!(
        s.model_config_json("m", -1, 1).unwrap_err().message(),
        AMBIGUOUS
    );
    assert_eq!(s.model_metadata("m", -1).unwrap_err().message(), AMBIGUOUS);
    assert_eq!(s.model_is_ready("m", -1), Ok(false));
    assert_eq!(
        s.model_statistics("m", -1).unwrap_err().message(),
        "requested model 'm' is not available"
    );
    // Statistics of every model list both `m` (upstream 2.51 fails this call with namespacing
    // on, a defect not copied).
    let all = s.model_statistics("", -1).unwrap();
    let names: Vec<&str> = all["model_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "m").count(), 2, "{names:?}");
    // A unique name resolves.
    assert_eq!(s.get_model("only_b", -1).unwrap().version(), 3);
    assert_eq!(s.model_is_ready("only_b", 3), Ok(true));
    assert_eq!(
        s.model_metadata("only_b", -1).unwrap()["versions"],
        serde_json::json!(["3"])
    );
    assert_eq!(
        s.model_statistics("only_b", -1).unwrap()["model_stats"][0]["name"],
        "only_b"
    );
    // Unknown names.
    let e = s.get_model("zzz", -1).unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArg,
            "Request for unknown model: 'zzz' is not found"
        )
    );
    assert_eq!(s.model_is_ready("zzz", -1), Ok(false));
    s.stop().unwrap();
}

#[test]
fn namespacing_off_keeps_duplicates_unavailable() {
    let f = Fixture::new("ns-off");
    let (a, b) = repos(&f);
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "mock", &[1], "IN");
    let s = start(&f, ModelControlMode::None, &[&a, &b], false);
    assert_eq!(
        s.model_index(false).unwrap(),
        serde_json::json!([{"name": "m", "state": "UNAVAILABLE",
                            "reason": "model appears in two or more repositories"}])
    );
    let e = s.get_model("m", -1).unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::NotFound,
            "Request for unknown model: 'm' is not found"
        )
    );
    s.stop().unwrap();
}

#[test]
fn strict_readiness_counts_every_namespace() {
    let f = Fixture::new("ns-ready");
    let (a, b) = repos(&f);
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "nope", &[1], "IN");
    let s = start(&f, ModelControlMode::None, &[&a, &b], true);
    let why = s.readiness().unwrap().unwrap_err();
    assert_eq!((why.model.as_str(), why.namespace.clone()), ("m", ns(&b)));
    let report = s.readiness_report().unwrap();
    assert_eq!(report["not_ready"][0]["model"], format!("{}::m", ns(&b)));
    assert_eq!(report["not_ready"][0]["state"], "UNAVAILABLE");
    // The failed load stays tracked: the name is still ambiguous.
    assert_eq!(s.get_model("m", -1).unwrap_err().message(), AMBIGUOUS);
    s.stop().unwrap();
}

#[test]
fn explicit_load_and_unload_cover_every_model_of_the_name() {
    let f = Fixture::new("ns-explicit");
    let (a, b) = repos(&f);
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "mock", &[2], "IN");
    model_in(&b, "bad", "nope", &[1], "IN");
    model_in(&a, "bad", "mock", &[1], "IN");
    let s = start(&f, ModelControlMode::Explicit, &[&a, &b], true);
    s.load_model("m").unwrap();
    let versions: Vec<_> = s
        .model_index(true)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].clone())
        .collect();
    assert_eq!(versions, [serde_json::json!("1"), serde_json::json!("2")]);
    // A load error names the model with its namespace; the other repository's model loads.
    let e = s.load_model("bad").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArg);
    assert!(
        e.message().starts_with(&format!(
            "load failed for model '{}::bad': version 1 is at UNAVAILABLE",
            ns(&b)
        )),
        "{}",
        e.message()
    );
    // Unloading by name unloads both; the name is then known but has no model.
    s.unload_model("m").unwrap();
    assert!(wait_until(|| {
        s.repository().snapshot().named("m").all(|(_, e)| {
            e.versions
                .values()
                .all(|v| v.state == ModelState::Unavailable)
        })
    }));
    let e = s.get_model("m", -1).unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::NotFound,
            "Identifier of model 'm' is not found in global map"
        )
    );
    // Loading again brings both back.
    s.load_model("m").unwrap();
    assert_eq!(s.repository().snapshot().named("m").count(), 2);
    assert_eq!(s.get_model("m", -1).unwrap_err().message(), AMBIGUOUS);
    let e = s.load_model("nope").unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Internal,
            "failed to load 'nope', failed to poll from model repository"
        )
    );
    s.stop().unwrap();
}

#[test]
fn ensemble_steps_resolve_in_their_own_namespace() {
    let f = Fixture::new("ns-ensemble");
    let (a, b) = repos(&f);
    let c = f.root.join("repo_c");
    std::fs::create_dir_all(&c).unwrap();
    // `m` in a and b, with different tensors: a's ensemble must use a's `m`.
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "mock", &[1], "OTHER");
    // `y` only in b: a's ensemble uses it from there.
    model_in(&b, "y", "mock", &[1], "IN");
    ensemble_in(&a, "ens", &["m", "y"]);
    // `z` in b and c, not in a: ambiguous for a's ensemble.
    model_in(&b, "z", "mock", &[1], "IN");
    model_in(&c, "z", "mock", &[1], "IN");
    ensemble_in(&a, "ens_z", &["z"]);
    let s = start(&f, ModelControlMode::Explicit, &[&a, &b, &c], true);
    s.load_model("ens").unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&s.model_config_json("ens", -1, 1).unwrap()).unwrap();
    let steps: Vec<(String, String)> = cfg["ensemble_scheduling"]["step"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            (
                st["model_name"].as_str().unwrap().to_owned(),
                st["model_namespace"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps, [("m".to_owned(), ns(&a)), ("y".to_owned(), ns(&b))]);
    // Both `m` were loaded (upstream polls every model of a step's name).
    assert_eq!(s.repository().snapshot().named("m").count(), 2);
    let e = s.load_model("ens_z").unwrap_err();
    assert_eq!(
        e.message(),
        format!(
            "load failed for model '{}::ens_z': ensemble {}::ens_z contains models that are not \
             available or ambiguous: z\n",
            ns(&a),
            ns(&a)
        )
    );
    // Unloading the composing model unloads the ensemble, which stays known by name.
    s.unload_model("y").unwrap();
    assert!(wait_until(|| s.model_is_ready("ens", -1) == Ok(false)));
    let e = s.get_model("ens", -1).unwrap_err();
    assert_eq!(
        (e.code(), e.message().to_owned()),
        (
            Code::NotFound,
            format!(
                "Request for unknown model: '{}::ens' has no available versions",
                ns(&a)
            )
        )
    );
    // a's `m` stays loaded: only the ensemble and `y` went.
    assert!(s
        .repository()
        .snapshot()
        .named("m")
        .all(|(_, e)| e.versions[&1].state == ModelState::Ready));
    s.stop().unwrap();
}

#[test]
fn polling_tracks_each_repository_separately() {
    let f = Fixture::new("ns-poll");
    let (a, b) = repos(&f);
    model_in(&a, "m", "mock", &[1], "IN");
    model_in(&b, "m", "mock", &[2], "IN");
    let s = start(&f, ModelControlMode::Poll, &[&a, &b], true);
    assert_eq!(s.get_model("m", -1).unwrap_err().message(), AMBIGUOUS);
    // b's `m` goes away: it is unloaded, a's stays and the name is no longer ambiguous.
    std::fs::remove_dir_all(b.join("m")).unwrap();
    s.poll_repository().unwrap();
    assert!(wait_until(|| s.get_model("m", -1).is_ok()));
    assert_eq!(s.get_model("m", -1).unwrap().version(), 1);
    assert!(wait_until(|| s.is_ready() == Ok(true)));
    s.stop().unwrap();
}
