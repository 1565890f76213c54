//! Fuzz the `config.pbtxt` parser and what runs on a parsed configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../check.rs");

fuzz_target!(|data: &[u8]| check_config_text(data));
