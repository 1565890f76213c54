//! Reading repository directories: model directories and version directories.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Result};

/// Directory names inside a model directory that are never versions.
const NOT_VERSIONS: [&str; 3] = ["warmup", "initial_state", "configs"];

/// Model name checks applied before a name touches the file system: no empty names, no path
/// separators, no `.` or `..`, no NUL.
pub fn validate_model_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(Error::invalid_arg(format!(
            "invalid model name '{name}': a model name must be a single directory name"
        )));
    }
    Ok(())
}

/// Every model directory of the given repositories, by name (hidden entries skipped).
pub fn model_dirs(paths: &[PathBuf]) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for repo in paths {
        let Ok(rd) = std::fs::read_dir(repo) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            out.entry(name).or_default().push(e.path());
        }
    }
    out
}

/// The version numbers found in a model directory, skipping (with a warning) names that are not
/// plain numbers or that have leading zeros.
pub fn version_dirs(model_dir: &Path) -> Result<BTreeSet<i64>> {
    let rd = std::fs::read_dir(model_dir).map_err(|e| {
        Error::internal(format!(
            "failed to open directory '{}': {e}",
            model_dir.display()
        ))
    })?;
    let mut out = BTreeSet::new();
    for e in rd.flatten() {
        if !e.path().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || NOT_VERSIONS.contains(&name.as_str()) {
            continue;
        }
        if name.len() > 1 && name.starts_with('0') {
            crate::log_warn!(
                "ignore version directory '{name}' which contains leading zeros in its directory name"
            );
            continue;
        }
        match name.parse::<i64>() {
            Ok(v) if name.bytes().all(|b| b.is_ascii_digit()) => {
                out.insert(v);
            }
            _ => crate::log_warn!(
                "ignore version directory '{name}' which fails to convert to integral number"
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
            assert!(validate_model_name(bad).is_err(), "{bad:?}");
        }
        for good in ["m", "a.b", "model_1", "..x"] {
            assert!(validate_model_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn versions_skip_non_numeric_and_leading_zeros() {
        let d = std::env::temp_dir().join(format!("tc-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for v in ["1", "3", "10", "007", "0", "x1", "1x", "configs", "warmup"] {
            std::fs::create_dir_all(d.join(v)).unwrap();
        }
        std::fs::write(d.join("2"), b"a file, not a version").unwrap();
        let got: Vec<i64> = version_dirs(&d).unwrap().into_iter().collect();
        assert_eq!(got, vec![0, 1, 3, 10]);
        let repos = model_dirs(std::slice::from_ref(&d));
        assert!(repos.contains_key("1") && !repos.contains_key("2"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
