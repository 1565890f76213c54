//! The `config_pbtxt` fuzz property (fuzz/check.rs) run deterministically, without a fuzzer:
//! over every seed of fuzz/corpus/config_pbtxt, every prefix of each seed, and simple byte
//! mutations of each seed. `cargo +nightly fuzz run config_pbtxt` explores further.

include!("../fuzz/check.rs");

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/config_pbtxt");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn seeds_and_prefixes_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 25);
    for (name, data) in &seeds {
        check_config_text(data);
        for cut in 0..data.len() {
            let r = std::panic::catch_unwind(|| check_config_text(&data[..cut]));
            assert!(r.is_ok(), "{name}: prefix of {cut} bytes panics");
        }
    }
}

#[test]
fn byte_mutations_never_panic() {
    const REPLACEMENTS: &[u8] = b"\0\"{}[]:-9x\n\\#<";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, data) in seeds() {
        for _ in 0..200 {
            let mut m = data.clone();
            if m.is_empty() {
                break;
            }
            for _ in 0..(1 + next() % 3) {
                let at = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[at] = REPLACEMENTS[(next() as usize) % REPLACEMENTS.len()],
                    1 => {
                        m.remove(at);
                    }
                    _ => {
                        let len = m.len();
                        let copy = m[at..len.min(at + 8)].to_vec();
                        m.splice(at..at, copy);
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            let r = std::panic::catch_unwind(|| check_config_text(&m));
            assert!(
                r.is_ok(),
                "{name}: mutation panics: {:?}",
                String::from_utf8_lossy(&m)
            );
        }
    }
}
