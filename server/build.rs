//! Links the binary dynamically against the workspace's `libtritonserver.so` (the cdylib of the
//! `triton-core` package), the way upstream's `tritonserver` executable links the core.
//!
//! - `triton-core` is a normal dependency of this package only so that cargo builds the cdylib
//!   before this binary links. Cargo compiles every crate type of a dependency's lib target, so
//!   `<target>/<profile>/deps/libtritonserver.so` exists by then. The Rust code never names the
//!   crate, so its rlib is never linked in: exactly one copy of the core exists in the process,
//!   the shared library that backends `dlopen`ed later bind to through their own
//!   `DT_NEEDED libtritonserver.so` (checked by `tests/http.rs` via `/proc/<pid>/maps`).
//! - The binary carries the runpath `$ORIGIN/deps:$ORIGIN`, so it finds the library next to it
//!   (`target/<profile>/libtritonserver.so`, or an install prefix's `bin/` + `lib/` layout via
//!   `LD_LIBRARY_PATH`) or in cargo's `deps/` directory.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out
    let profile_dir = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR has the layout <target>/<profile>/build/<pkg>/out");
    println!(
        "cargo:rustc-link-search=native={}",
        profile_dir.join("deps").display()
    );
    // Only deps/: cargo also puts link-search directories on the LD_LIBRARY_PATH of `cargo run`
    // and `cargo test`, where <profile>/libtritonserver.so, refreshed only by a build of the
    // core itself, could be a stale copy that wins over the library just built.
    println!("cargo:rustc-link-lib=dylib=tritonserver");
    // deps/ first: inside a cargo target directory it holds the library cargo just built, while
    // <profile>/libtritonserver.so is only refreshed by a build of the core itself and can be
    // stale. Installed layouts have no deps/ and use the library next to the binary.
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN/deps:$ORIGIN");
    println!("cargo:rerun-if-changed=build.rs");
}
