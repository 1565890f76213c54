//! Model namespacing, our core against the real Triton 2.51 core.
//!
//! The expected files come from `tests/models/record-namespacing.sh`, which runs the real 2.51
//! server with `--model-namespacing=true` over the two repositories of
//! tests/models/namespacing (the model name `shared` is in both, with different inputs; the
//! ensembles `ens` and `ens_b` use it from their own repository) and drives it through its HTTP
//! frontend, step by step (steps-*.txt). Here our engine replays the same steps, with a mock
//! backend library standing in for the python backend, and each answer is compared with the
//! recorded one: HTTP status, error text, and the JSON bodies.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tritonserver::engine::model::ModelState;
use tritonserver::engine::server::{Options, Server};
use tritonserver::engine::types::ModelControlMode;
use tritonserver::engine::Error;

fn ns_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/namespacing")
}

/// Replace the repository paths as the recording script does.
fn normalize(v: Value) -> Value {
    let dir = ns_dir();
    let text = v
        .to_string()
        .replace(
            &dir.join("repo_a").to_string_lossy().to_string(),
            "@REPO_A@",
        )
        .replace(
            &dir.join("repo_b").to_string_lossy().to_string(),
            "@REPO_B@",
        );
    serde_json::from_str(&text).unwrap()
}

fn error(e: Error) -> Value {
    json!({ "http": http_status(e.code()), "error": e.message() })
}

fn with_body(r: std::result::Result<Value, Error>) -> Value {
    match r {
        Ok(body) => json!({ "http": 200, "body": body }),
        Err(e) => error(e),
    }
}

fn done(r: std::result::Result<(), Error>) -> Value {
    match r {
        Ok(()) => json!({ "http": 200 }),
        Err(e) => error(e),
    }
}

/// Which model versions statistics report (the counters are not compared).
fn stats(r: std::result::Result<Value, Error>) -> Value {
    match r {
        Ok(body) => {
            let versions: Vec<Value> = body["model_stats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| json!([s["name"], s["version"]]))
                .collect();
            json!({ "http": 200, "versions": versions })
        }
        Err(e) => error(e),
    }
}

/// Wait until no model version is unloading (upstream's step sleeps instead).
fn wait_unloaded(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let table = server.repository().snapshot();
        let busy = table.models.values().any(|e| {
            e.versions
                .values()
                .any(|s| s.state == ModelState::Unloading)
        });
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("models still unloading");
}

/// One step, answered as the HTTP frontend would.
fn step(server: &Server, line: &str) -> Value {
    let (op, model) = line.split_once(' ').unwrap_or((line, ""));
    let r = match op {
        "index" => with_body(server.model_index(false)),
        "index_ready" => with_body(server.model_index(true)),
        "health" => match server.is_ready() {
            Ok(true) => json!({ "http": 200 }),
            Ok(false) => json!({ "http": 400, "error": "" }),
            Err(e) => error(e),
        },
        "wait" => {
            wait_unloaded(server);
            json!({ "http": 200 })
        }
        "load" => done(server.load_model(model)),
        "unload" => done(server.unload_model(model)),
        "config" => with_body(
            server
                .model_config_json(model, -1, 1)
                .map(|s| serde_json::from_str(&s).unwrap()),
        ),
        "metadata" => with_body(server.model_metadata(model, -1)),
        // The frontend answers any model that is not ready with this text.
        "ready" => match server.model_is_ready(model, -1) {
            Ok(true) => json!({ "http": 200 }),
            Ok(false) => json!({ "http": 400, "error": "Model version not ready" }),
            Err(e) => error(e),
        },
        "stats" => stats(server.model_statistics(model, -1)),
        "stats_all" => stats(server.model_statistics("", -1)),
        _ => panic!("unknown step {line:?}"),
    };
    let mut rec = json!({ "step": line });
    for (k, v) in r.as_object().unwrap() {
        rec[k] = v.clone();
    }
    normalize(rec)
}

/// Steps (`<session>:<index>`) where our core knowingly differs, with the reason.
const KNOWN: [(&str, &str); 2] = [
    (
        "explicit:19",
        "2.51 fails statistics of every model with namespacing on (a defect); ours lists them",
    ),
    (
        "none:9",
        "2.51 fails statistics of every model with namespacing on (a defect); ours lists them",
    ),
];

fn replay(session: &str, mode: ModelControlMode, problems: &mut Vec<String>) -> usize {
    let root = std::env::temp_dir().join(format!("tc-ns-{session}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("backends/python")).unwrap();
    std::fs::write(root.join("backends/python/libtriton_python.so"), b"").unwrap();
    let opts = Options {
        // In the order the recording gives them: upstream orders repositories by path.
        repository_paths: vec![
            ns_dir().join("repo_b").to_string_lossy().into_owned(),
            ns_dir().join("repo_a").to_string_lossy().into_owned(),
        ],
        model_namespacing: true,
        backend_dir: root.join("backends").to_string_lossy().into_owned(),
        control_mode: mode,
        strict_model_config: false,
        exit_on_error: false,
        log: tritonserver::engine::log::Settings {
            info: false,
            warn: false,
            error: false,
            ..Default::default()
        },
        ..Options::default()
    };
    let server = Server::new(opts, Arc::new(AnyLibrary::default())).unwrap();
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(ns_dir().join(format!("expected/{session}.json"))).unwrap(),
    )
    .unwrap();
    let steps: Vec<String> = std::fs::read_to_string(ns_dir().join(format!("steps-{session}.txt")))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        steps.len(),
        expected.len(),
        "{session}: re-record the expected file"
    );
    for (i, (line, exp)) in steps.iter().zip(&expected).enumerate() {
        let ours = step(&server, line);
        if &ours != exp && !KNOWN.iter().any(|(s, _)| *s == format!("{session}:{i}")) {
            problems.push(format!(
                "[{session}] step {i} `{line}` differs\n  expected: {exp}\n  ours:     {ours}"
            ));
        }
    }
    server.stop().unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    steps.len()
}

#[test]
fn namespacing_matches_real_triton_2_51() {
    let mut problems = Vec::new();
    let mut compared = 0;
    compared += replay("explicit", ModelControlMode::Explicit, &mut problems);
    compared += replay("none", ModelControlMode::None, &mut problems);
    assert!(
        problems.is_empty(),
        "{} of {compared} steps differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

use common::{http_status, AnyLibrary};
