//! Finding the library that serves a model, with upstream's search order.
//!
//! For backend `B` the library is `libtriton_B.so` (or the config's `runtime`), searched in the
//! model's version directory, the model directory, then `<backend-directory>/B`. When no such
//! library exists but `<backend-directory>/B/model.py` does, `B` is a python-based backend served
//! by `libtriton_python.so` (also searched in `<backend-directory>/python`).

use std::path::{Component, Path, PathBuf};

use crate::engine::error::{Error, Result};

/// The file a python-based backend provides.
pub const PYTHON_RUNTIME: &str = "model.py";

/// Where a model's backend library is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLibrary {
    /// The shared library to open.
    pub library_path: PathBuf,
    /// What `TRITONBACKEND_BackendArtifacts` reports: the library's directory, or for a
    /// python-based backend the directory holding its `model.py`.
    pub artifacts_dir: PathBuf,
    /// Whether the backend is python-based (served by the python backend library).
    pub python_based: bool,
    /// The runtime to record in the model configuration when it was empty (python-based
    /// backends get `model.py`).
    pub runtime: Option<String>,
}

impl ResolvedLibrary {
    /// Models whose libraries share this key share one backend object.
    pub fn share_key(&self) -> PathBuf {
        if self.python_based {
            self.artifacts_dir.join(PYTHON_RUNTIME)
        } else {
            self.library_path.clone()
        }
    }
}

fn cpp_library_name(backend: &str) -> String {
    format!("libtriton_{backend}.so")
}

fn find_in(paths: &[PathBuf], file: &str) -> Option<(PathBuf, PathBuf)> {
    paths.iter().find_map(|dir| {
        let full = dir.join(file);
        full.exists().then(|| (dir.clone(), full))
    })
}

/// Whether `file` (relative) would leave the directory it is joined to.
fn escapes(file: &str) -> bool {
    let p = Path::new(file);
    p.is_absolute()
        || p.components()
            .try_fold(0i32, |depth, c| {
                let d = match c {
                    Component::ParentDir => depth - 1,
                    Component::Normal(_) => depth + 1,
                    _ => depth,
                };
                (d >= 0).then_some(d)
            })
            .is_none()
}

/// Find the library for `backend`, as configured for the model in `model_dir`, version `version`.
pub fn resolve_backend_library(
    model_name: &str,
    backend: &str,
    runtime: &str,
    model_dir: &Path,
    version: i64,
    backend_dir: &Path,
) -> Result<ResolvedLibrary> {
    let mut search = vec![
        model_dir.join(version.to_string()),
        model_dir.to_path_buf(),
        backend_dir.join(backend),
    ];
    let mut python_dir: Option<PathBuf> = None;
    let mut new_runtime = None;
    let libname = if runtime.is_empty() {
        let cpp = cpp_library_name(backend);
        if let Some((dir, full)) = find_in(&search, &cpp) {
            return Ok(ResolvedLibrary {
                library_path: full,
                artifacts_dir: dir,
                python_based: false,
                runtime: None,
            });
        }
        let based = backend_dir.join(backend);
        if !based.join(PYTHON_RUNTIME).exists() {
            return Err(Error::invalid_arg(format!(
                "unable to find backend library for backend '{backend}', try specifying runtime on the model configuration."
            )));
        }
        python_dir = Some(based);
        new_runtime = Some(PYTHON_RUNTIME.to_owned());
        PYTHON_RUNTIME.to_owned()
    } else {
        runtime.to_owned()
    };
    let python_based = libname == PYTHON_RUNTIME;
    let cpp_name = if python_based {
        search.push(backend_dir.join("python"));
        cpp_library_name("python")
    } else {
        libname.clone()
    };
    if escapes(&cpp_name) {
        return Err(Error::invalid_arg(format!(
            "backend library name '{cpp_name}' escapes backend directory, for model '{model_name}', check model config runtime field"
        )));
    }
    let Some((dir, full)) = find_in(&search, &cpp_name) else {
        let searched: String = search
            .iter()
            .map(|p| format!("'{}' ", p.display()))
            .collect();
        return Err(Error::invalid_arg(format!(
            "unable to find backend library '{cpp_name}' for model '{model_name}', searched: {searched}"
        )));
    };
    let artifacts_dir = if python_based {
        match python_dir {
            Some(d) => d,
            None => {
                let d = backend_dir.join(backend);
                let script = d.join(PYTHON_RUNTIME);
                if !script.exists() {
                    return Err(Error::invalid_arg(format!(
                        "unable to find Python backend based backend library '{libname}' for model '{model_name}', searched: '{}'",
                        script.display()
                    )));
                }
                d
            }
        }
    } else {
        dir
    };
    Ok(ResolvedLibrary {
        library_path: full,
        artifacts_dir,
        python_based,
        runtime: new_runtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tc-resolve-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn search_order_version_then_model_then_backend_dir() {
        let root = tmp("order");
        let model = root.join("repo/m");
        let bdir = root.join("backends");
        fs::create_dir_all(model.join("1")).unwrap();
        fs::create_dir_all(bdir.join("foo")).unwrap();
        fs::write(bdir.join("foo/libtriton_foo.so"), b"").unwrap();
        let r = resolve_backend_library("m", "foo", "", &model, 1, &bdir).unwrap();
        assert_eq!(r.library_path, bdir.join("foo/libtriton_foo.so"));
        assert!(!r.python_based);
        fs::write(model.join("libtriton_foo.so"), b"").unwrap();
        let r = resolve_backend_library("m", "foo", "", &model, 1, &bdir).unwrap();
        assert_eq!(r.artifacts_dir, model);
        fs::write(model.join("1/libtriton_foo.so"), b"").unwrap();
        let r = resolve_backend_library("m", "foo", "", &model, 1, &bdir).unwrap();
        assert_eq!(r.artifacts_dir, model.join("1"));
    }

    #[test]
    fn missing_backend_is_invalid_arg() {
        let root = tmp("missing");
        let e = resolve_backend_library("m", "nope", "", &root, 1, &root).unwrap_err();
        assert_eq!(e.code(), crate::engine::Code::InvalidArg);
        assert!(e.message().contains("backend 'nope'"), "{}", e.message());
    }

    #[test]
    fn python_based_backend_uses_python_library() {
        let root = tmp("pybased");
        let bdir = root.join("backends");
        fs::create_dir_all(bdir.join("vllm")).unwrap();
        fs::create_dir_all(bdir.join("python")).unwrap();
        fs::write(bdir.join("vllm/model.py"), b"").unwrap();
        fs::write(bdir.join("python/libtriton_python.so"), b"").unwrap();
        let r = resolve_backend_library("m", "vllm", "", &root.join("m"), 1, &bdir).unwrap();
        assert!(r.python_based);
        assert_eq!(r.library_path, bdir.join("python/libtriton_python.so"));
        assert_eq!(r.artifacts_dir, bdir.join("vllm"));
        assert_eq!(r.runtime.as_deref(), Some("model.py"));
        assert_eq!(r.share_key(), bdir.join("vllm/model.py"));
    }

    #[test]
    fn runtime_cannot_escape() {
        let root = tmp("escape");
        let e = resolve_backend_library("m", "x", "../../libc.so", &root, 1, &root).unwrap_err();
        assert!(e.message().contains("escapes"), "{}", e.message());
        assert!(escapes("/abs.so"));
        assert!(!escapes("sub/../lib.so"));
    }
}
