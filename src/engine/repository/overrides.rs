//! Load parameters: a `config` JSON override and `file:<path>` contents written into a private
//! temporary model directory.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use triton_model_config as mc;

use crate::engine::error::{Error, Result};
use crate::engine::parameters::Parameter;
use crate::engine::types::ParameterType;

/// The prefix of file override parameters.
pub const FILE_PREFIX: &str = "file:";

/// What the parameters of one load ask for.
#[derive(Debug, Clone, Default)]
pub struct LoadOverrides {
    /// The `config` parameter: a JSON model configuration replacing the file.
    pub config_json: Option<String>,
    /// `file:<relative path>` parameters with their contents.
    pub files: Vec<(String, Vec<u8>)>,
}

impl LoadOverrides {
    /// Sort load parameters as upstream does: `config` (STRING) and `file:*`; any other name, or
    /// `config` of another type, is not recognized. The first `config` wins.
    pub fn from_parameters(params: &[Parameter]) -> Result<LoadOverrides> {
        let mut out = LoadOverrides::default();
        for p in params {
            let name = p.name();
            if name == "config" && p.kind() == ParameterType::String {
                if out.config_json.is_none() {
                    out.config_json = Some(p.as_str().unwrap_or_default().to_owned());
                }
            } else if let Some(rel) = name.strip_prefix(FILE_PREFIX) {
                let Some(bytes) = p.as_bytes() else {
                    return Err(Error::invalid_arg(format!(
                        "File parameter '{name}' must have bytes type for its value"
                    )));
                };
                out.files.push((rel.to_owned(), bytes.to_vec()));
            } else {
                return Err(Error::invalid_arg(format!(
                    "Unrecognized load parameter '{name}' with type '{}'",
                    p.kind().name()
                )));
            }
        }
        if !out.files.is_empty() && out.config_json.is_none() {
            return Err(Error::invalid_arg(
                "Load parameter 'config' must be specified for model file override",
            ));
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.config_json.is_none() && self.files.is_empty()
    }
}

/// A private directory holding a model written from `file:` parameters; removed on drop.
#[derive(Debug)]
pub struct OverrideDir {
    path: PathBuf,
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A relative path inside the override directory: no root, no `..`, no empty path.
fn checked_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty() && !rel.contains('\0')).then_some(out)
}

impl OverrideDir {
    /// Create the directory and write the configuration (as `config.pbtxt`) and every file.
    /// A path that would leave the directory is INVALID_ARG and nothing is written.
    pub fn create(overrides: &LoadOverrides, config: &mc::pb::ModelConfig) -> Result<OverrideDir> {
        let mut checked = Vec::new();
        for (rel, bytes) in &overrides.files {
            let Some(path) = checked_relative(rel) else {
                return Err(Error::invalid_arg(format!(
                    "Invalid file parameter '{FILE_PREFIX}{rel}' with normalized path '{rel}' \
                     must stay within model directory."
                )));
            };
            checked.push((rel, path, bytes));
        }
        let base = std::env::temp_dir().join(format!(
            "triton-core-override-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        create_private_dir(&base)?;
        let dir = OverrideDir { path: base };
        std::fs::write(dir.path.join("config.pbtxt"), mc::to_pbtxt(config))
            .map_err(|e| io_error(&dir.path, e))?;
        for (rel, path, bytes) in checked {
            let full = dir.path.join(&path);
            if let Some(parent) = full.parent() {
                if parent.exists() && !parent.is_dir() {
                    return Err(Error::invalid_arg(format!(
                        "Invalid file parameter '{FILE_PREFIX}{rel}', directory has been created \
                         as a file"
                    )));
                }
                std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            std::fs::write(&full, bytes).map_err(|e| io_error(&full, e))?;
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OverrideDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn io_error(p: &Path, e: std::io::Error) -> Error {
    Error::internal(format!("failed to write '{}': {e}", p.display()))
}

#[cfg(unix)]
fn create_private_dir(p: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(p)
        .map_err(|e| io_error(p, e))
}

#[cfg(not(unix))]
fn create_private_dir(p: &Path) -> Result<()> {
    std::fs::create_dir(p).map_err(|e| io_error(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Code;

    fn params(list: &[Parameter]) -> Result<LoadOverrides> {
        LoadOverrides::from_parameters(list)
    }

    #[test]
    fn sorting_parameters() {
        let e = params(&[Parameter::int("other", 1).unwrap()]).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArg);
        assert_eq!(
            e.message(),
            "Unrecognized load parameter 'other' with type 'INT'"
        );
        let e = params(&[Parameter::int("config", 1).unwrap()]).unwrap_err();
        assert_eq!(
            e.message(),
            "Unrecognized load parameter 'config' with type 'INT'"
        );
        let e = params(&[Parameter::string("file:a", "x").unwrap()]).unwrap_err();
        assert_eq!(
            e.message(),
            "File parameter 'file:a' must have bytes type for its value"
        );
        let e = params(&[Parameter::bytes("file:a", b"x").unwrap()]).unwrap_err();
        assert_eq!(
            e.message(),
            "Load parameter 'config' must be specified for model file override"
        );
        let o = params(&[
            Parameter::string("config", "{}").unwrap(),
            Parameter::bytes("file:1/model.py", b"x").unwrap(),
        ])
        .unwrap();
        assert_eq!(o.config_json.as_deref(), Some("{}"));
        assert_eq!(o.files.len(), 1);
    }

    #[test]
    fn paths_must_stay_inside() {
        for bad in ["../x", "/etc/passwd", "a/../../x", "", ".", "1/../.."] {
            assert!(checked_relative(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            checked_relative("1/./model.py").unwrap(),
            Path::new("1/model.py")
        );
        let o = LoadOverrides {
            config_json: Some("{}".into()),
            files: vec![("../escape".into(), b"x".to_vec())],
        };
        let e = OverrideDir::create(&o, &Default::default()).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArg);
        assert!(e.message().contains("must stay within model directory"));
    }

    #[test]
    fn writes_files_and_removes_them_on_drop() {
        let o = LoadOverrides {
            config_json: Some("{}".into()),
            files: vec![
                ("1/model.py".into(), b"print()".to_vec()),
                ("data/x.bin".into(), vec![0, 1, 2]),
            ],
        };
        let d = OverrideDir::create(&o, &Default::default()).unwrap();
        let p = d.path().to_path_buf();
        assert_eq!(std::fs::read(p.join("1/model.py")).unwrap(), b"print()");
        assert_eq!(std::fs::read(p.join("data/x.bin")).unwrap(), vec![0, 1, 2]);
        assert!(p.join("config.pbtxt").is_file());
        drop(d);
        assert!(!p.exists());
        let clash = LoadOverrides {
            config_json: Some("{}".into()),
            files: vec![("a".into(), vec![1]), ("a/b".into(), vec![2])],
        };
        let e = OverrideDir::create(&clash, &Default::default()).unwrap_err();
        assert!(e.message().contains("directory has been created as a file"));
    }
}
