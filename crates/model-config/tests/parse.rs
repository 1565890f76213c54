mod common;

use common::{origin, temp_dir};
use triton_model_config::pb::{self, model_instance_group::Kind, DataType};
use triton_model_config::{parse_pbtxt, read_config_file, to_pbtxt, ConfigErrorCode};

const SAMPLE: &str = r#"
name: "m"   # comment
backend: "python"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ -1, 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_STRING
    dims: 1
    dims: 2
    reshape: { shape: [ 2 ] }
    optional: true
  }
]
output < name: "OUTPUT0" data_type: TYPE_INT64 dims: [ 4 ] >
instance_group [ { kind: KIND_CPU count: 2 } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
parameters { key: "EXECUTION_ENV_PATH" value: { string_value: "/x.tar.gz" } }
parameters: { key: "A", value: { string_value: "b" } }
model_transaction_policy { decoupled: True }
"#;

#[test]
fn parses_text_format() {
    let cfg = parse_pbtxt(SAMPLE, origin()).unwrap();
    assert_eq!(cfg.name, "m");
    assert_eq!(cfg.backend, "python");
    assert_eq!(cfg.max_batch_size, 8);
    assert_eq!(cfg.input.len(), 2);
    assert_eq!(cfg.input[0].data_type(), DataType::TypeFp32);
    assert_eq!(cfg.input[0].dims, vec![-1, 16]);
    assert_eq!(cfg.input[1].dims, vec![1, 2]);
    assert_eq!(cfg.input[1].reshape.as_ref().unwrap().shape, vec![2]);
    assert!(cfg.input[1].optional);
    assert_eq!(cfg.output[0].data_type(), DataType::TypeInt64);
    assert_eq!(cfg.instance_group[0].kind(), Kind::Cpu);
    assert_eq!(cfg.instance_group[0].count, 2);
    assert_eq!(
        cfg.parameters["EXECUTION_ENV_PATH"].string_value,
        "/x.tar.gz"
    );
    assert_eq!(cfg.parameters.len(), 2);
    assert!(cfg.model_transaction_policy.unwrap().decoupled);
    match cfg.scheduling_choice {
        Some(pb::model_config::SchedulingChoice::DynamicBatching(db)) => {
            assert_eq!(db.max_queue_delay_microseconds, 100)
        }
        other => panic!("unexpected scheduling {other:?}"),
    }
}

#[test]
fn empty_text_is_default_config() {
    assert_eq!(
        parse_pbtxt("", origin()).unwrap(),
        pb::ModelConfig::default()
    );
    assert_eq!(
        parse_pbtxt("  # only a comment\n", origin()).unwrap(),
        pb::ModelConfig::default()
    );
}

#[test]
fn enum_by_number_is_accepted() {
    let cfg = parse_pbtxt("input { name: \"a\" data_type: 11 dims: 1 }", origin()).unwrap();
    assert_eq!(cfg.input[0].data_type(), DataType::TypeFp32);
}

#[test]
fn text_round_trip() {
    let cfg = parse_pbtxt(SAMPLE, origin()).unwrap();
    let text = to_pbtxt(&cfg);
    let again = parse_pbtxt(&text, origin()).unwrap();
    assert_eq!(cfg, again);
    assert_eq!(to_pbtxt(&again), text);
}

fn err(text: &str) -> triton_model_config::ConfigError {
    parse_pbtxt(text, origin()).unwrap_err()
}

#[test]
fn unknown_field_reports_file_line_column() {
    let e = err("name: \"m\"\nbackend: \"python\"\n    foo: 1\n");
    assert_eq!(e.code, ConfigErrorCode::Internal);
    assert!(
        e.message
            .starts_with("failed to read text proto from /repo/m/config.pbtxt:3:5: "),
        "{}",
        e.message
    );
    assert!(e.message.contains("foo"), "{}", e.message);
    assert!(e.message.contains("inference.ModelConfig"), "{}", e.message);
}

#[test]
fn nested_unknown_field_names_nested_message() {
    let e = err("input {\n  name: \"a\"\n  bogus: 3\n}\n");
    assert!(e.message.contains(":3:3: "), "{}", e.message);
    assert!(e.message.contains("inference.ModelInput"), "{}", e.message);
}

#[test]
fn syntax_and_type_errors() {
    for (text, loc) in [
        ("name: \"m\"\nmax_batch_size: \"x\"\n", ":2:17: "),
        ("name: \"m\"\nmax_batch_size: 99999999999\n", ":2:17: "),
        ("input { data_type: TYPE_NOPE }", ":1:20: "),
        ("name: \"a\" name: \"b\"", ":1:17: "),
        ("input [ { name: \"a\" } ]\nfoo [ 1 ]", ":2:1: "),
        ("dynamic_batching {} sequence_batching {}", ":1:39: "),
        ("input {\n name: \"a\"\n", ":3:1: "),
        ("name: 'unterminated", ":1:20: "),
        ("max_batch_size: -1.5", ":1:18: "),
    ] {
        let e = err(text);
        assert_eq!(e.code, ConfigErrorCode::Internal, "{text}");
        assert!(e.message.contains(loc), "{text:?} -> {}", e.message);
    }
}

#[test]
fn nasty_inputs_do_not_panic() {
    let deep_open = "input {".repeat(10_000);
    let deep_list = "[".repeat(10_000);
    let many_fields = "name: \"x\" ".repeat(1000);
    let inputs: Vec<String> = vec![
        "\u{0}\u{1}\u{2}".into(),
        "{{{{}}}}".into(),
        "input { name: \"\\xff\\u12\" }".into(),
        "\"\\".into(),
        "name: \"é😀\" foo".into(),
        "max_batch_size: 0x7fffffffffffffffffff".into(),
        "max_batch_size: -".into(),
        "input [".into(),
        "input [ , ]".into(),
        "input: [ { dims: [1,,2] } ]".into(),
        "parameters { key: 1 value: 2 }".into(),
        "[type.googleapis.com/inference.ModelConfig] { }".into(),
        "dims: 1e999".into(),
        deep_open,
        deep_list,
        many_fields,
        "é".repeat(3) + "\n\n\t ]",
    ];
    for text in &inputs {
        let result = std::panic::catch_unwind(|| parse_pbtxt(text, origin()));
        assert!(
            result.is_ok(),
            "panicked on {:?}",
            &text[..text.len().min(40)]
        );
    }
}

#[test]
fn read_config_file_errors() {
    let dir = temp_dir("read");
    let missing = dir.join("config.pbtxt");
    let e = read_config_file(&missing).unwrap_err();
    assert_eq!(e.code, ConfigErrorCode::Internal);
    assert_eq!(
        e.message,
        format!(
            "failed to open text file for read {}: No such file or directory",
            missing.display()
        )
    );

    std::fs::write(&missing, "name: \"m\"\nbad_field: 1\n").unwrap();
    let e = read_config_file(&missing).unwrap_err();
    assert!(
        e.message.starts_with(&format!(
            "failed to read text proto from {}:2:1: ",
            missing.display()
        )),
        "{}",
        e.message
    );

    std::fs::write(&missing, b"name: \"\xff\"\n").unwrap();
    let e = read_config_file(&missing).unwrap_err();
    assert_eq!(e.code, ConfigErrorCode::Internal);

    std::fs::write(&missing, "name: \"m\"\nbackend: \"identity\"\n").unwrap();
    let cfg = read_config_file(&missing).unwrap();
    assert_eq!(cfg.backend, "identity");
    let _ = std::fs::remove_dir_all(dir);
}
