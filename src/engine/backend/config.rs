//! Backend command-line configuration (`--backend-config`), resolved per backend.

use std::collections::BTreeMap;

/// Settings given with `TRITONSERVER_ServerOptionsSetBackendConfig`, by backend name; the empty
/// name holds the global settings every backend sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendCmdlineConfig {
    settings: BTreeMap<String, Vec<(String, String)>>,
}

/// The setting a backend gets unless the configuration gives it.
const DEFAULTS: [(&str, &str); 1] = [("default-max-batch-size", "4")];

impl BackendCmdlineConfig {
    /// Add (or, for a repeated key, add again: the last one wins) a setting.
    pub fn add(&mut self, backend: &str, key: &str, value: &str) {
        self.settings
            .entry(backend.to_owned())
            .or_default()
            .push((key.to_owned(), value.to_owned()));
    }

    /// The value of a global setting, if given.
    pub fn global(&self, key: &str) -> Option<&str> {
        self.settings.get("").and_then(|s| {
            s.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        })
    }

    /// The configuration a backend sees, as `{"cmdline": {...}}`: the global settings, overridden
    /// by the backend's own, in key order, followed by the defaults it did not set.
    pub fn resolve(&self, backend: &str) -> serde_json::Value {
        let mut merged: BTreeMap<&str, &str> = BTreeMap::new();
        for name in ["", backend] {
            if let Some(s) = self.settings.get(name) {
                for (k, v) in s {
                    merged.insert(k, v);
                }
            }
        }
        let mut cmdline = serde_json::Map::new();
        for (k, v) in &merged {
            cmdline.insert((*k).to_owned(), serde_json::Value::from(*v));
        }
        for (k, v) in DEFAULTS {
            if !merged.contains_key(k) {
                cmdline.insert(k.to_owned(), serde_json::Value::from(v));
            }
        }
        serde_json::json!({ "cmdline": cmdline })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_overrides_global_and_defaults_come_last() {
        let mut c = BackendCmdlineConfig::default();
        c.add("", "backend-directory", "/b");
        c.add("", "shm-default-byte-size", "1");
        c.add("python", "shm-default-byte-size", "2");
        c.add("python", "a-key", "x");
        let py = c.resolve("python");
        assert_eq!(
            py.to_string(),
            r#"{"cmdline":{"a-key":"x","backend-directory":"/b","shm-default-byte-size":"2","default-max-batch-size":"4"}}"#
        );
        let other = c.resolve("onnxruntime");
        assert_eq!(other["cmdline"]["shm-default-byte-size"], "1");
        assert_eq!(c.global("backend-directory"), Some("/b"));
        assert_eq!(c.global("nope"), None);
    }

    #[test]
    fn explicit_default_max_batch_size_is_kept() {
        let mut c = BackendCmdlineConfig::default();
        c.add("x", "default-max-batch-size", "8");
        assert_eq!(
            c.resolve("x").to_string(),
            r#"{"cmdline":{"default-max-batch-size":"8"}}"#
        );
    }
}
