// The property fuzzed by `config_pbtxt` and checked over the seed corpus by the main test suite
// (tests/config_fuzz_seeds.rs includes this file): whatever the text, parsing and everything
// after it returns a result and never panics; a configuration that parses prints to JSON that
// parses back to the same configuration.
#[allow(dead_code)]
fn check_config_text(data: &[u8]) {
    use triton_model_config as mc;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut cfg) = mc::parse_pbtxt(text, std::path::Path::new("fuzz/config.pbtxt")) else {
        return;
    };
    let _ = mc::to_pbtxt(&cfg);
    if let Ok(json) = mc::to_json(&cfg) {
        if !json.is_empty() {
            let back = mc::from_json(&json).expect("printed JSON parses back");
            assert_eq!(
                mc::to_json(&back).expect("prints again"),
                json,
                "JSON round trip"
            );
        }
    }
    let name = if cfg.name.is_empty() { "m".to_owned() } else { cfg.name.clone() };
    let _ = mc::autocomplete_backend_fields(&mut cfg, &name, None);
    if mc::normalize_model_config(&mut cfg).is_ok() {
        let _ = mc::validate_model_config(&cfg);
        let _ = mc::validate_io_config(&cfg);
        let _ = mc::normalize_instance_group(&mut cfg, &[]);
        let _ = mc::validate_instance_group(&cfg);
        let _ = mc::instance_names(&cfg);
    }
    let _ = mc::to_json(&cfg);
}
