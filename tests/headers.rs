//! The committed C headers must be exactly what the build generates.

use std::path::Path;

#[test]
fn committed_headers_are_current() {
    let generated = Path::new(env!("OUT_DIR")).join("include/triton/core");
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/triton/core");
    for name in [
        "tritonserver.h",
        "tritonbackend.h",
        "tritonrepoagent.h",
        "tritoncache.h",
        "tritonrs.h",
    ] {
        let want = std::fs::read_to_string(generated.join(name)).expect("generated header");
        let have = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        assert!(
            want == have,
            "include/triton/core/{name} is stale: the Rust sources changed the C API. \
             Run scripts/update-headers.sh and commit the result."
        );
    }
}

#[test]
fn api_version_macros_match_the_functions() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/triton/core");
    let server = std::fs::read_to_string(committed.join("tritonserver.h")).unwrap();
    let backend = std::fs::read_to_string(committed.join("tritonbackend.h")).unwrap();
    assert!(server.contains("#define TRITONSERVER_API_VERSION_MAJOR 1\n"));
    assert!(server.contains("#define TRITONSERVER_API_VERSION_MINOR 34\n"));
    assert!(backend.contains("#define TRITONBACKEND_API_VERSION_MAJOR 1\n"));
    assert!(backend.contains("#define TRITONBACKEND_API_VERSION_MINOR 19\n"));
    let (mut major, mut minor) = (0u32, 0u32);
    // SAFETY: valid out-pointers.
    let err = unsafe {
        tritonserver::capi::server::misc::TRITONSERVER_ApiVersion(&mut major, &mut minor)
    };
    assert!(err.is_null());
    assert_eq!((major, minor), (1, 34));
    // SAFETY: valid out-pointers.
    let err = unsafe {
        tritonserver::capi::backend::backend::TRITONBACKEND_ApiVersion(&mut major, &mut minor)
    };
    assert!(err.is_null());
    assert_eq!((major, minor), (1, 19));
    let repoagent = std::fs::read_to_string(committed.join("tritonrepoagent.h")).unwrap();
    let cache = std::fs::read_to_string(committed.join("tritoncache.h")).unwrap();
    assert!(repoagent.contains("#define TRITONREPOAGENT_API_VERSION_MAJOR 0\n"));
    assert!(repoagent.contains("#define TRITONREPOAGENT_API_VERSION_MINOR 1\n"));
    assert!(cache.contains("#define TRITONCACHE_API_VERSION_MAJOR 0\n"));
    assert!(cache.contains("#define TRITONCACHE_API_VERSION_MINOR 1\n"));
    // SAFETY: valid out-pointers.
    let err = unsafe {
        tritonserver::capi::repoagent::TRITONREPOAGENT_ApiVersion(&mut major, &mut minor)
    };
    assert!(err.is_null());
    assert_eq!((major, minor), (0, 1));
    // SAFETY: valid out-pointers.
    let err = unsafe { tritonserver::capi::cache::TRITONCACHE_ApiVersion(&mut major, &mut minor) };
    assert!(err.is_null());
    assert_eq!((major, minor), (0, 1));
}

#[test]
fn headers_define_only_triton_names() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/triton/core");
    for name in [
        "tritonserver.h",
        "tritonbackend.h",
        "tritonrepoagent.h",
        "tritoncache.h",
        "tritonrs.h",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("#define ") {
                assert!(
                    rest.starts_with("TRITON"),
                    "{name}: a non-Triton macro leaked into the header: {line}"
                );
            }
            assert!(
                !line.contains("Option<") && !line.contains("Box<"),
                "{name}: a Rust type leaked into the header: {line}"
            );
        }
    }
}
