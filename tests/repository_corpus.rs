//! Our core against the real Triton 2.51 core on the model corpus of tests/models.
//!
//! The expected files come from `tests/models/record-expected.sh`, which runs the real 2.51
//! server (EXPLICIT mode, python backend) over tests/models/corpus and tests/models/corpus2,
//! loading the models of tests/models/load-order.txt one by one. Here our engine does the same
//! with a mock backend library that stands in for the python backend: it accepts any library
//! path and, like the python backend, hands the configuration back through
//! `TRITONBACKEND_ModelSetConfig` when auto-complete is on. Config, metadata and index JSON and
//! load results are then compared field by field.
//!
//! Deliberate differences (see `known_difference`): where upstream reports only "failed to poll
//! from model repository" and leaves the cause in its log, our message continues with ": " and
//! the cause (file, line, problem). The error code and the upstream text before that are equal.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tritonserver::engine::server::{Options, Server};
use tritonserver::engine::types::ModelControlMode;
use tritonserver::engine::Error;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

const POLL_FAILURE: &str = "failed to poll from model repository";

/// Our error compared with upstream's: the same text, or upstream's poll-failure text followed
/// by our explanation.
fn known_difference(expected: &str, ours: &str) -> bool {
    expected.ends_with(POLL_FAILURE) && ours.starts_with(&format!("{expected}: "))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn load_order() -> Vec<String> {
    std::fs::read_to_string(models_dir().join("load-order.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Replace the corpus paths as the recording script does.
fn normalize(v: Value) -> Value {
    let dir = models_dir();
    let text = v
        .to_string()
        .replace(
            &dir.join("corpus2").to_string_lossy().to_string(),
            "@CORPUS2@",
        )
        .replace(
            &dir.join("corpus").to_string_lossy().to_string(),
            "@CORPUS@",
        );
    serde_json::from_str(&text).unwrap()
}

fn as_http(r: std::result::Result<Value, Error>) -> Value {
    match r {
        Ok(v) => v,
        Err(e) => serde_json::json!({ "http": http_status(e.code()), "error": e.message() }),
    }
}

fn compare_mode(mode: &str, strict: bool, problems: &mut Vec<String>) -> usize {
    let root = std::env::temp_dir().join(format!("tc-corpus-{mode}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("backends/python")).unwrap();
    std::fs::write(root.join("backends/python/libtriton_python.so"), b"").unwrap();
    let opts = Options {
        repository_paths: vec![
            models_dir().join("corpus").to_string_lossy().into_owned(),
            models_dir().join("corpus2").to_string_lossy().into_owned(),
        ],
        backend_dir: root.join("backends").to_string_lossy().into_owned(),
        control_mode: ModelControlMode::Explicit,
        strict_model_config: strict,
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
    let expected_dir = models_dir().join("expected").join(mode);
    let mut compared = 0;
    for name in load_order() {
        let expected = read_json(&expected_dir.join(format!("{name}.json")));
        let mut problem = |what: &str, exp: &Value, got: &Value| {
            problems.push(format!(
                "[{mode}] {name}: {what} differs\n  expected: {exp}\n  ours:     {got}"
            ));
        };
        // Load result.
        let load = server.load_model(&name);
        let exp_http = expected["load"]["http"].as_u64().unwrap();
        let exp_err = expected["load"]["error"].as_str().unwrap();
        match &load {
            Ok(()) if exp_http == 200 => {}
            Ok(()) => problem("load", &expected["load"], &Value::from("ok")),
            Err(e) => {
                let same_code = http_status(e.code()) == exp_http;
                let msg = normalize(Value::from(e.message()));
                let msg = msg.as_str().unwrap();
                if !same_code || !(msg == exp_err || known_difference(exp_err, msg)) {
                    problem(
                        "load",
                        &expected["load"],
                        &serde_json::json!({"http": http_status(e.code()), "error": msg}),
                    );
                }
            }
        }
        // Configuration and metadata.
        let config = as_http(
            server
                .model_config_json(&name, -1, 1)
                .map(|s| serde_json::from_str(&s).unwrap()),
        );
        if normalize(config.clone()) != expected["config"] {
            problem("config", &expected["config"], &config);
        }
        let metadata = as_http(server.model_metadata(&name, -1));
        if normalize(metadata.clone()) != expected["metadata"] {
            problem("metadata", &expected["metadata"], &metadata);
        }
        compared += 1;
    }
    let index = read_json(&expected_dir.join("_index.json"));
    for (key, ready) in [("all", false), ("ready", true)] {
        let ours = normalize(server.model_index(ready).unwrap());
        if ours != index[key] {
            let exp: Vec<&Value> = index[key].as_array().unwrap().iter().collect();
            let got: Vec<&Value> = ours.as_array().unwrap().iter().collect();
            for e in &exp {
                if !got.contains(e) {
                    problems.push(format!("[{mode}] index {key}: missing {e}"));
                }
            }
            for g in &got {
                if !exp.contains(g) {
                    problems.push(format!("[{mode}] index {key}: unexpected {g}"));
                }
            }
            if problems.is_empty() {
                problems.push(format!("[{mode}] index {key}: order differs"));
            }
        }
    }
    server.stop().unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    compared
}

#[test]
fn corpus_matches_real_triton_2_51() {
    assert!(
        std::fs::read_dir(models_dir().join("corpus"))
            .unwrap()
            .count()
            >= 25,
        "the corpus has at least 25 model directories"
    );
    let mut problems = Vec::new();
    let mut compared = 0;
    compared += compare_mode("strict_off", false, &mut problems);
    compared += compare_mode("strict_on", true, &mut problems);
    assert!(
        problems.is_empty(),
        "{} of {compared} model comparisons differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

use common::{http_status, AnyLibrary};
