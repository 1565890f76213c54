//! The repository and model-information functions of the C API called as C would: NULL
//! arguments, parameter objects, control-mode errors. (Loading real backends through the C API
//! is covered by the C tests; the engine tests cover the behaviour behind these functions.)
#![allow(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

use tritonserver::capi::server::error::*;
use tritonserver::capi::server::message::*;
use tritonserver::capi::server::options::*;
use tritonserver::capi::server::parameter::*;
use tritonserver::capi::server::repository::*;
use tritonserver::capi::server::server::*;
use tritonserver::capi::types::{TRITONSERVER_ModelControlMode, TRITONSERVER_ParameterType};

/// The code and message of an error (deleted), or None for success.
fn take(err: *mut TRITONSERVER_Error) -> Option<(u32, String)> {
    if err.is_null() {
        return None;
    }
    unsafe {
        let code = TRITONSERVER_ErrorCode(err).0;
        let msg = CStr::from_ptr(TRITONSERVER_ErrorMessage(err))
            .to_string_lossy()
            .into_owned();
        TRITONSERVER_ErrorDelete(err);
        Some((code, msg))
    }
}

const INVALID_ARG: u32 = 3;
const UNAVAILABLE: u32 = 4;
const UNSUPPORTED: u32 = 5;
const NOT_FOUND: u32 = 2;
const INTERNAL: u32 = 1;

struct TestServer {
    server: *mut TRITONSERVER_Server,
    dir: std::path::PathBuf,
}

impl TestServer {
    fn new(tag: &str, mode: u32) -> TestServer {
        let dir = std::env::temp_dir().join(format!("tc-capi-repo-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("repo")).unwrap();
        let repo = std::ffi::CString::new(dir.join("repo").to_string_lossy().as_bytes()).unwrap();
        unsafe {
            let mut opts = null_mut();
            assert!(take(TRITONSERVER_ServerOptionsNew(&mut opts)).is_none());
            assert!(take(TRITONSERVER_ServerOptionsSetModelRepositoryPath(
                opts,
                repo.as_ptr()
            ))
            .is_none());
            assert!(take(TRITONSERVER_ServerOptionsSetModelControlMode(
                opts,
                TRITONSERVER_ModelControlMode(mode)
            ))
            .is_none());
            for f in [
                TRITONSERVER_ServerOptionsSetLogInfo,
                TRITONSERVER_ServerOptionsSetLogWarn,
                TRITONSERVER_ServerOptionsSetLogError,
            ] {
                assert!(take(f(opts, false)).is_none());
            }
            let mut server = null_mut();
            assert!(take(TRITONSERVER_ServerNew(&mut server, opts)).is_none());
            assert!(take(TRITONSERVER_ServerOptionsDelete(opts)).is_none());
            TestServer { server, dir }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        unsafe {
            let _ = take(TRITONSERVER_ServerDelete(self.server));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn string_param(name: &CStr, value: &CStr) -> *mut TRITONSERVER_Parameter {
    unsafe {
        TRITONSERVER_ParameterNew(
            name.as_ptr(),
            TRITONSERVER_ParameterType(0),
            value.as_ptr().cast(),
        )
    }
}

#[test]
fn parameters() {
    unsafe {
        let s = string_param(c"config", c"{}");
        assert_eq!((*s).as_str(), Some("{}"));
        TRITONSERVER_ParameterDelete(s);
        let v: i64 = -7;
        let p = TRITONSERVER_ParameterNew(
            c"i".as_ptr(),
            TRITONSERVER_ParameterType(1),
            (&v as *const i64).cast(),
        );
        assert!(!p.is_null());
        TRITONSERVER_ParameterDelete(p);
        let b = true;
        let p = TRITONSERVER_ParameterNew(
            c"b".as_ptr(),
            TRITONSERVER_ParameterType(2),
            (&b as *const bool).cast(),
        );
        assert!(!p.is_null());
        TRITONSERVER_ParameterDelete(p);
        let d = 0.25f64;
        let p = TRITONSERVER_ParameterNew(
            c"d".as_ptr(),
            TRITONSERVER_ParameterType(3),
            (&d as *const f64).cast(),
        );
        assert!(!p.is_null());
        TRITONSERVER_ParameterDelete(p);
        // BYTES only through ParameterBytesNew; unknown types, NULL name or value: NULL.
        for t in [4u32, 9] {
            assert!(TRITONSERVER_ParameterNew(
                c"x".as_ptr(),
                TRITONSERVER_ParameterType(t),
                c"x".as_ptr().cast()
            )
            .is_null());
        }
        assert!(TRITONSERVER_ParameterNew(
            null(),
            TRITONSERVER_ParameterType(0),
            c"x".as_ptr().cast()
        )
        .is_null());
        assert!(
            TRITONSERVER_ParameterNew(c"x".as_ptr(), TRITONSERVER_ParameterType(1), null())
                .is_null()
        );
        let bytes = [0u8, 1, 2];
        let p = TRITONSERVER_ParameterBytesNew(c"file:1/m".as_ptr(), bytes.as_ptr().cast(), 3);
        assert_eq!((*p).as_bytes(), Some(&bytes[..]));
        TRITONSERVER_ParameterDelete(p);
        let p = TRITONSERVER_ParameterBytesNew(c"e".as_ptr(), null(), 0);
        assert_eq!((*p).as_bytes(), Some(&[][..]));
        TRITONSERVER_ParameterDelete(p);
        assert!(TRITONSERVER_ParameterBytesNew(c"e".as_ptr(), null(), 1).is_null());
        TRITONSERVER_ParameterDelete(null_mut());
    }
}

#[test]
fn null_arguments_are_invalid_arg() {
    let t = TestServer::new("nulls", 2);
    let s = t.server;
    let mut msg: *mut TRITONSERVER_Message = null_mut();
    let mut flags = 0u32;
    let mut vp: *mut c_void = null_mut();
    unsafe {
        let name: *const c_char = c"m".as_ptr();
        let calls: Vec<*mut TRITONSERVER_Error> = vec![
            TRITONSERVER_ServerModelMetadata(null_mut(), name, -1, &mut msg),
            TRITONSERVER_ServerModelMetadata(s, null(), -1, &mut msg),
            TRITONSERVER_ServerModelMetadata(s, name, -1, null_mut()),
            TRITONSERVER_ServerModelConfig(s, null(), -1, 1, &mut msg),
            TRITONSERVER_ServerModelConfig(s, name, -1, 1, null_mut()),
            TRITONSERVER_ServerModelBatchProperties(s, null(), -1, &mut flags, &mut vp),
            TRITONSERVER_ServerModelBatchProperties(s, name, -1, null_mut(), &mut vp),
            TRITONSERVER_ServerModelTransactionProperties(s, null(), -1, &mut flags, &mut vp),
            TRITONSERVER_ServerModelTransactionProperties(s, name, -1, null_mut(), &mut vp),
            TRITONSERVER_ServerLoadModelWithParameters(s, null(), null_mut(), 0),
            TRITONSERVER_ServerLoadModelWithParameters(s, name, null_mut(), 1),
            TRITONSERVER_ServerUnloadModelAndDependents(s, null()),
            TRITONSERVER_ServerUnloadModelAndDependents(null_mut(), name),
            TRITONSERVER_ServerRegisterModelRepository(s, null(), null_mut(), 0),
            TRITONSERVER_ServerRegisterModelRepository(s, name, null_mut(), 2),
            TRITONSERVER_ServerUnregisterModelRepository(s, null()),
            TRITONSERVER_ServerPollModelRepository(null_mut()),
        ];
        for (i, e) in calls.into_iter().enumerate() {
            let got = take(e);
            assert_eq!(
                got.as_ref().map(|g| g.0),
                Some(INVALID_ARG),
                "call {i}: {got:?}"
            );
        }
        assert!(
            msg.is_null() && vp.is_null() && flags == 0,
            "out-params untouched"
        );
        let e = take(TRITONSERVER_ServerLoadModelWithParameters(
            s,
            name,
            null_mut(),
            1,
        ))
        .unwrap();
        assert_eq!(
            e.1,
            "TRITONSERVER_ServerLoadModelWithParameters: 'parameters' must not be NULL: \
             load parameters are not provided while parameter count is non-zero"
        );
    }
}

#[test]
fn errors_follow_upstream() {
    let t = TestServer::new("errors", 2);
    let s = t.server;
    let mut msg: *mut TRITONSERVER_Message = null_mut();
    let mut flags = 0u32;
    unsafe {
        let e = take(TRITONSERVER_ServerModelMetadata(
            s,
            c"nope".as_ptr(),
            -1,
            &mut msg,
        ))
        .unwrap();
        assert_eq!(
            e,
            (
                NOT_FOUND,
                "Request for unknown model: 'nope' is not found".into()
            )
        );
        let e = take(TRITONSERVER_ServerModelTransactionProperties(
            s,
            c"nope".as_ptr(),
            1,
            &mut flags,
            null_mut(),
        ))
        .unwrap();
        assert_eq!(e.0, NOT_FOUND);
        // EXPLICIT: polling is disabled.
        let e = take(TRITONSERVER_ServerPollModelRepository(s)).unwrap();
        assert_eq!(e, (UNAVAILABLE, "polling is disabled".into()));
        // Load parameters are checked when the model is polled.
        let p = TRITONSERVER_ParameterBytesNew(c"weird".as_ptr(), null(), 0);
        let list = [p.cast_const()];
        let e = take(TRITONSERVER_ServerLoadModelWithParameters(
            s,
            c"m".as_ptr(),
            list.as_ptr().cast_mut(),
            1,
        ))
        .unwrap();
        assert_eq!(e.0, INTERNAL);
        assert!(
            e.1.contains("Unrecognized load parameter 'weird' with type 'BYTES'"),
            "{}",
            e.1
        );
        TRITONSERVER_ParameterDelete(p);
        // Registering: mapping values must be strings, model names unique.
        let repo = std::ffi::CString::new(t.dir.to_string_lossy().as_bytes()).unwrap();
        let v: i64 = 1;
        let bad = TRITONSERVER_ParameterNew(
            c"sub".as_ptr(),
            TRITONSERVER_ParameterType(1),
            (&v as *const i64).cast(),
        );
        let list = [bad.cast_const()];
        let e = take(TRITONSERVER_ServerRegisterModelRepository(
            s,
            repo.as_ptr(),
            list.as_ptr().cast_mut(),
            1,
        ))
        .unwrap();
        assert_eq!(
            e,
            (
                INVALID_ARG,
                "Mapped model name must be a string, found another type for sub".into()
            )
        );
        TRITONSERVER_ParameterDelete(bad);
        let a = string_param(c"sub1", c"same");
        let b = string_param(c"sub2", c"same");
        let list = [a.cast_const(), b.cast_const()];
        let e = take(TRITONSERVER_ServerRegisterModelRepository(
            s,
            repo.as_ptr(),
            list.as_ptr().cast_mut(),
            2,
        ))
        .unwrap();
        assert_eq!(e.0, INVALID_ARG);
        assert!(
            e.1.ends_with("there is a conflicting mapping for 'same'"),
            "{}",
            e.1
        );
        TRITONSERVER_ParameterDelete(a);
        TRITONSERVER_ParameterDelete(b);
        assert!(take(TRITONSERVER_ServerRegisterModelRepository(
            s,
            repo.as_ptr(),
            null_mut(),
            0
        ))
        .is_none());
        assert!(take(TRITONSERVER_ServerUnregisterModelRepository(
            s,
            repo.as_ptr()
        ))
        .is_none());
        let e = take(TRITONSERVER_ServerUnregisterModelRepository(
            s,
            repo.as_ptr(),
        ))
        .unwrap();
        assert_eq!(e.0, INVALID_ARG);
    }
    assert!(msg.is_null());
    // NONE mode: registration is unsupported, explicit unload refused.
    let t = TestServer::new("none", 0);
    unsafe {
        let e = take(TRITONSERVER_ServerRegisterModelRepository(
            t.server,
            c"/tmp".as_ptr(),
            null_mut(),
            0,
        ))
        .unwrap();
        assert_eq!(e.0, UNSUPPORTED);
        let e = take(TRITONSERVER_ServerUnloadModelAndDependents(
            t.server,
            c"m".as_ptr(),
        ))
        .unwrap();
        assert_eq!(e.0, UNAVAILABLE);
    }
    // POLL mode: polling an empty repository works.
    let t = TestServer::new("poll", 1);
    unsafe {
        assert!(take(TRITONSERVER_ServerPollModelRepository(t.server)).is_none());
    }
}
