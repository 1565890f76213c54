//! Links the binary dynamically against the workspace's `libtritonserver.so` (the cdylib of the
//! `triton-core` package), the way upstream's `tritonserver` executable links the core.
//!
//! - `triton-core` is a normal dependency of this package only so that cargo builds the cdylib
//!   before this binary links. Cargo compiles every crate type of a dependency's lib target, so
//!   `<target>/<profile>/deps/libtritonserver.so` exists by then. The Rust code never names the
//!   crate, so its rlib is never linked in: exactly one copy of the core exists in the process,
//!   the shared library that backends `dlopen`ed later bind to through their own
//!   `DT_NEEDED libtritonserver.so` (checked by `tests/http.rs` via `/proc/<pid>/maps`).
//! - The binary carries the runpath `$ORIGIN:$ORIGIN/deps`, so it finds the library next to it
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
    println!("cargo:rustc-link-search=native={}", profile_dir.display());
    println!("cargo:rustc-link-lib=dylib=tritonserver");
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN:$ORIGIN/deps");
    println!("cargo:rerun-if-changed=build.rs");
}
