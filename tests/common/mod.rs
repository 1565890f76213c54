//! Shared by the corpus tests that compare our engine with answers recorded from the real
//! Triton 2.51 core: a stand-in for the python backend and the HTTP status mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tritonserver::engine::backend::{BackendLibrary, LibraryLoader};
use tritonserver::engine::model::Model;
use tritonserver::engine::{Code, Result};

/// Stands in for the python backend: accepts any model and, like the python backend, hands the
/// configuration back through `TRITONBACKEND_ModelSetConfig` when auto-complete is on.
pub struct PythonLike {
    path: PathBuf,
}

impl BackendLibrary for PythonLike {
    fn path(&self) -> &Path {
        &self.path
    }
    fn model_initialize(&self, m: &Model) -> Result<()> {
        if m.auto_complete() {
            m.set_config_from_backend(&m.config_json()?)?;
        }
        Ok(())
    }
}

/// Opens a [`PythonLike`] library for any path.
#[derive(Default)]
pub struct AnyLibrary {
    opened: Mutex<HashMap<PathBuf, Arc<dyn BackendLibrary>>>,
}

impl LibraryLoader for AnyLibrary {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        Ok(self
            .opened
            .lock()
            .unwrap()
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                Arc::new(PythonLike {
                    path: path.to_path_buf(),
                })
            })
            .clone())
    }
}

/// The HTTP status the real frontend answers for an error code.
pub fn http_status(code: Code) -> u64 {
    match code {
        Code::Internal => 500,
        Code::NotFound => 404,
        Code::Unavailable => 503,
        _ => 400,
    }
}
