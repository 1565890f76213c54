//! Every exported function runs its body inside the FFI boundary (`ffi_try`, `ffi_or`,
//! `ffi_or_else`, directly or through a helper of its file that does): a panic never crosses
//! into C, and argument errors name the function. This reads the C shell's sources, so a new
//! exported function that forgets the boundary fails here.

use std::path::Path;

/// The body (between the braces) of the item whose signature starts at `from`.
fn body_after(src: &str, from: usize) -> &str {
    let open = from + src[from..].find('{').expect("a body");
    let mut depth = 0usize;
    for (i, c) in src[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &src[open..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces");
}

fn calls_any(body: &str, names: &[String]) -> bool {
    names.iter().any(|n| {
        body.match_indices(n.as_str()).any(|(i, _)| {
            let before = body[..i].chars().next_back();
            let after = body[i + n.len()..].trim_start().chars().next();
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) && after == Some('(')
        })
    })
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_exported_function_goes_through_the_boundary() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/capi"),
        &mut files,
    );
    let boundary: Vec<String> = ["ffi_try", "ffi_or", "ffi_or_else"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let sources: Vec<(std::path::PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let src = std::fs::read_to_string(&f).unwrap();
            (f, src)
        })
        .collect();
    // Helpers of the C shell (any visibility, any file) that enter the boundary themselves,
    // directly or through another such helper: grown until nothing new is found.
    let mut helpers = boundary.clone();
    loop {
        let before = helpers.len();
        for (_, src) in &sources {
            for pat in ["\nfn ", "\npub(crate) fn ", "\npub(super) fn ", "\npub fn "] {
                for (i, _) in src.match_indices(pat) {
                    let name: String = src[i + pat.len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !helpers.contains(&name) && calls_any(body_after(src, i), &helpers) {
                        helpers.push(name);
                    }
                }
            }
        }
        if helpers.len() == before {
            break;
        }
    }
    let mut exported = 0;
    let mut missing = Vec::new();
    for (f, src) in &sources {
        for (i, _) in src.match_indices("extern \"C\" fn ") {
            let name: String = src[i + 14..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // Function-pointer types in signatures are not definitions.
            let line_start = src[..i].rfind('\n').map_or(0, |p| p + 1);
            if !src[line_start..i].contains("pub unsafe") && !src[line_start..i].contains("pub ") {
                continue;
            }
            exported += 1;
            if !calls_any(body_after(src, i), &helpers) {
                missing.push(format!("{} ({})", name, f.display()));
            }
        }
    }
    assert!(exported > 280, "found only {exported} exported functions");
    assert!(
        missing.is_empty(),
        "exported functions outside the FFI boundary: {missing:#?}"
    );
}
