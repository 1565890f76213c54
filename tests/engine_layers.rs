//! The engine's layers (README "Layout"): each component of `src/engine` may use components of
//! its own layer or below, never above; outside the runtime layer no two components use each
//! other, directly or through others. This reads the sources, so a change that reaches up a
//! layer (a model asking the server for something) fails here.
//!
//! The runtime layer is the in-memory serving machinery, whose types refer to each other by
//! nature: a request targets a model version, a version executes requests through its backend
//! on its instances, the scheduler queues requests for a version's instances, the sequence
//! batcher binds requests to sequences, the response cache answers requests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers from the ground up; components of `src/engine` (a file or a directory).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "ground",
        &[
            "sync",
            "error",
            "types",
            "buffer",
            "message",
            "parameters",
            "log",
            "workers",
            "trace",
            "metrics",
            "ratelimit",
        ],
    ),
    ("plugins", &["repoagent"]),
    (
        "runtime",
        &[
            "backend",
            "model",
            "infer",
            "scheduler",
            "sequence",
            "cache",
        ],
    ),
    ("repository", &["repository"]),
    ("server", &["server"]),
];

fn layer_of(component: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, cs)| cs.contains(&component))
}

/// Source without comments and without inline test modules.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let l = line.split("//").next().unwrap_or_default();
        out.push_str(l);
        out.push('\n');
    }
    match out.find("#[cfg(test)]\nmod tests {") {
        Some(i) => out[..i].to_owned(),
        None => out,
    }
}

/// component -> the components it names.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs")
                || name.starts_with("tests")
                || name == "mod.rs" && dir == root
            {
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap();
            let first = rel.components().next().unwrap();
            let component = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            // How many `super::` steps stay inside the component.
            let depth = rel.components().count() - 1 - usize::from(name == "mod.rs");
            let text = code(&std::fs::read_to_string(&p).unwrap());
            let deps = out.entry(component.clone()).or_default();
            for (i, _) in text.match_indices("crate::engine::") {
                let t: String = text[i + 15..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                deps.insert(t);
            }
            for (i, _) in text.match_indices("super::") {
                if i >= 7 && &text[i - 7..i] == "super::" {
                    continue;
                }
                let mut j = i;
                let mut steps = 0;
                while text[j..].starts_with("super::") {
                    steps += 1;
                    j += 7;
                }
                if steps > depth {
                    let t: String = text[j..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    deps.insert(t);
                }
            }
            deps.retain(|d| d != &component && layer_of(d).is_some());
        }
    }
    out
}

#[test]
fn components_use_only_their_layer_or_below() {
    let uses = uses();
    for c in uses.keys() {
        assert!(
            layer_of(c).is_some(),
            "src/engine/{c} belongs to no layer: add it to LAYERS (and to README 'Layout')"
        );
    }
    let mut wrong = Vec::new();
    for (c, deps) in &uses {
        let lc = layer_of(c).unwrap();
        for d in deps {
            if layer_of(d).unwrap() > lc {
                wrong.push(format!(
                    "{c} ({}) uses {d} ({})",
                    LAYERS[lc].0,
                    LAYERS[layer_of(d).unwrap()].0
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "uses reaching up a layer: {wrong:#?}");
}

#[test]
fn no_component_cycles_outside_the_runtime_layer() {
    let uses = uses();
    let runtime = LAYERS.iter().position(|(n, _)| *n == "runtime").unwrap();
    for (c, _) in uses.iter().filter(|(c, _)| layer_of(c) != Some(runtime)) {
        // Everything reachable from c must not lead back to c.
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = uses[c].iter().collect();
        while let Some(d) = todo.pop() {
            assert!(d != c, "src/engine/{c} reaches itself through its uses");
            if seen.insert(d.clone()) {
                todo.extend(uses.get(d).into_iter().flatten());
            }
        }
    }
}
