mod common;

use common::origin;
use serde_json::{json, Value};
use triton_model_config::{from_json, parse_pbtxt, pb, to_json, to_json_value, ConfigErrorCode};

fn cfg(text: &str) -> pb::ModelConfig {
    parse_pbtxt(text, origin()).unwrap()
}

#[test]
fn empty_config_prints_empty_string() {
    assert_eq!(to_json(&pb::ModelConfig::default()).unwrap(), "");
}

#[test]
fn minimal_config_prints_all_primitives_in_schema_order() {
    let s = to_json(&cfg("name: \"m\"")).unwrap();
    assert_eq!(
        s,
        concat!(
            r#"{"name":"m","platform":"","backend":"","runtime":"","max_batch_size":0,"#,
            r#""input":[],"output":[],"batch_input":[],"batch_output":[],"instance_group":[],"#,
            r#""default_model_filename":"","cc_model_filenames":{},"metric_tags":{},"#,
            r#""parameters":{},"model_warmup":[]}"#
        )
    );
}

#[test]
fn io_defaults_enums_and_int64_numbers() {
    let c = cfg(r#"
        name: "m" backend: "python" max_batch_size: 4
        version_policy { specific { versions: [1, 3] } }
        input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1, 8 ] reshape { shape: [ 8, -1 ] } } ]
        output [ { name: "OUT" data_type: TYPE_STRING dims: [ 1 ] } ]
        instance_group [ { name: "g" kind: KIND_CPU count: 1
                           secondary_devices [ { kind: KIND_NVDLA device_id: 7 } ] } ]
        parameters { key: "EXECUTION_ENV_PATH" value { string_value: "x" } }
        model_transaction_policy { decoupled: true }
    "#);
    let v = to_json_value(&c);
    assert_eq!(
        v["input"][0],
        json!({
            "name": "IN", "data_type": "TYPE_FP32", "format": "FORMAT_NONE",
            "dims": [-1, 8], "reshape": {"shape": [8, -1]}, "is_shape_tensor": false,
            "allow_ragged_batch": false, "optional": false, "is_non_linear_format_io": false
        })
    );
    assert_eq!(
        v["output"][0],
        json!({
            "name": "OUT", "data_type": "TYPE_STRING", "dims": [1], "label_filename": "",
            "is_shape_tensor": false, "is_non_linear_format_io": false
        })
    );
    assert_eq!(
        v["version_policy"],
        json!({"specific": {"versions": [1, 3]}})
    );
    // secondary device ids stay strings, as upstream leaves them.
    assert_eq!(
        v["instance_group"][0],
        json!({
            "name": "g", "kind": "KIND_CPU", "count": 1, "gpus": [],
            "secondary_devices": [{"kind": "KIND_NVDLA", "device_id": "7"}],
            "profile": [], "passive": false, "host_policy": ""
        })
    );
    assert_eq!(
        v["parameters"],
        json!({"EXECUTION_ENV_PATH": {"string_value": "x"}})
    );
    assert_eq!(v["model_transaction_policy"], json!({"decoupled": true}));
    // Unset message fields are omitted.
    for key in [
        "optimization",
        "dynamic_batching",
        "sequence_batching",
        "model_operations",
        "response_cache",
        "model_repository_agents",
        "model_metrics",
    ] {
        assert!(v.get(key).is_none(), "{key}");
    }
    // Input fields keep schema order (reshape after dims, format before dims).
    let s = to_json(&c).unwrap();
    assert!(s.contains(r#"{"name":"IN","data_type":"TYPE_FP32","format":"FORMAT_NONE","dims":[-1,8],"reshape":{"shape":[8,-1]},"is_shape_tensor":false"#), "{s}");
}

#[test]
fn dynamic_batching_64bit_fields() {
    let v = to_json_value(&cfg(r#"
        name: "m" max_batch_size: 8
        dynamic_batching {
          preferred_batch_size: [2, 4] max_queue_delay_microseconds: 100
          priority_levels: 3 default_priority_level: 2
          default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 5 }
          priority_queue_policy { key: 1 value { default_timeout_microseconds: 9 max_queue_size: 3 } }
        }
    "#));
    assert_eq!(
        v["dynamic_batching"],
        json!({
            "preferred_batch_size": [2, 4], "max_queue_delay_microseconds": 100,
            "preserve_ordering": false, "priority_levels": 3, "default_priority_level": 2,
            "default_queue_policy": {"timeout_action": "DELAY", "default_timeout_microseconds": 5,
                                     "allow_timeout_override": false, "max_queue_size": 0},
            "priority_queue_policy": {"1": {"timeout_action": "REJECT", "default_timeout_microseconds": 9,
                                            "allow_timeout_override": false, "max_queue_size": 3}}
        })
    );
}

#[test]
fn sequence_batching_quirks() {
    let v = to_json_value(&cfg(r#"
        name: "m" max_batch_size: 2
        sequence_batching {
          max_sequence_idle_microseconds: 5000
          oldest { max_candidate_sequences: 4 max_queue_delay_microseconds: 7 }
          control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [0, 1] } ] } ]
          state [ { input_name: "i" output_name: "o" data_type: TYPE_INT32 dims: [ -1, 2 ]
                    initial_state [ { data_type: TYPE_INT32 dims: [ 3 ] zero_data: false name: "s" } ] } ]
        }
    "#));
    let sb = &v["sequence_batching"];
    assert_eq!(sb["max_sequence_idle_microseconds"], json!(5000));
    assert_eq!(sb["oldest"]["max_queue_delay_microseconds"], json!(7));
    assert!(sb.get("direct").is_none());
    assert_eq!(
        sb["control_input"][0]["control"][0]["fp32_false_true"],
        json!([0, 1])
    );
    assert_eq!(
        sb["control_input"][0]["control"][0]["data_type"],
        json!("TYPE_INVALID")
    );
    assert_eq!(sb["state"][0]["dims"], json!([-1, 2]));
    // Upstream never converts initial_state dims: they stay strings.
    assert_eq!(
        sb["state"][0]["initial_state"][0],
        json!({"data_type": "TYPE_INT32", "dims": ["3"], "zero_data": false, "name": "s"})
    );
    // Schema order: strategy oneof first, then the rest.
    let keys: Vec<&String> = sb.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "oldest",
            "max_sequence_idle_microseconds",
            "control_input",
            "state",
            "iterative_sequence"
        ]
    );
}

#[test]
fn direct_strategy_and_floats() {
    let v = to_json_value(&cfg(r#"
        name: "m"
        sequence_batching { direct { max_queue_delay_microseconds: 3 minimum_slot_utilization: 0.1 } }
    "#));
    assert_eq!(
        v["sequence_batching"]["direct"],
        json!({"max_queue_delay_microseconds": 3, "minimum_slot_utilization": 0.1})
    );
    let v = to_json_value(&cfg(r#"
        name: "m"
        sequence_batching { direct { minimum_slot_utilization: 0.333333343 } }
    "#));
    // protobuf prints floats with %.9g when %.6g does not round-trip.
    assert_eq!(
        v["sequence_batching"]["direct"]["minimum_slot_utilization"],
        json!(0.333333343)
    );
}

#[test]
fn ensemble_warmup_and_cuda_quirks() {
    let v = to_json_value(&cfg(r#"
        name: "e" platform: "ensemble"
        ensemble_scheduling { step [ { model_name: "a" model_version: -1 input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } } ] }
        model_warmup [ { name: "w" batch_size: 1 inputs { key: "IN" value { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } } ]
        optimization { cuda { graphs: true graph_spec [ { batch_size: 1 input { key: "IN" value { dim: [ 4 ] } } } ] } }
    "#));
    assert_eq!(
        v["ensemble_scheduling"]["step"][0],
        json!({"model_name": "a", "model_version": -1, "input_map": {"x": "IN"},
               "output_map": {"y": "OUT"}, "model_namespace": ""})
    );
    assert_eq!(
        v["model_warmup"][0],
        json!({"name": "w", "batch_size": 1,
               "inputs": {"IN": {"data_type": "TYPE_FP32", "dims": [4], "random_data": true}},
               "count": 0})
    );
    // CUDA graph dims stay strings upstream.
    assert_eq!(
        v["optimization"]["cuda"]["graph_spec"][0]["input"]["IN"]["dim"],
        json!(["4"])
    );
    assert_eq!(v["optimization"]["priority"], json!("PRIORITY_DEFAULT"));
}

#[test]
fn json_round_trip() {
    let c = cfg(r#"
        name: "m" backend: "onnxruntime" max_batch_size: 8
        input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
        output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
        dynamic_batching { priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 2 value { max_queue_size: 1 } } }
        instance_group [ { kind: KIND_CPU count: 2 secondary_devices [ { device_id: 3 } ] } ]
        parameters { key: "k" value { string_value: "v" } }
        metric_tags { key: "a" value: "b" }
    "#);
    let s = to_json(&c).unwrap();
    assert_eq!(from_json(&s).unwrap(), c);
}

#[test]
fn from_json_accepts_protobuf_json_variants() {
    let c = from_json(
        r#"{"name":"m","maxBatchSize":"4","input":[{"name":"a","data_type":"type_fp32","dims":["1",2]}],
            "instance_group":[{"kind":"kind_cpu","count":1}],"version_policy":{"latest":{"num_versions":1}},
            "dynamic_batching":null,"platform":null}"#,
    )
    .unwrap();
    assert_eq!(c.max_batch_size, 4);
    assert_eq!(c.input[0].data_type(), pb::DataType::TypeFp32);
    assert_eq!(c.input[0].dims, vec![1, 2]);
    assert_eq!(
        c.instance_group[0].kind(),
        pb::model_instance_group::Kind::Cpu
    );
    assert!(c.scheduling_choice.is_none());
    let c = from_json(r#"{"input":[{"data_type":11}]}"#).unwrap();
    assert_eq!(c.input[0].data_type(), pb::DataType::TypeFp32);
}

#[test]
fn from_json_rejects_bad_input() {
    for bad in [
        r#"{"name":"m","unknown_field":1}"#,
        r#"{"input":[{"name":"a","bogus":true}]}"#,
        r#"{"input":[{"data_type":"TYPE_NOPE"}]}"#,
        r#"{"max_batch_size":"x"}"#,
        r#"{"name":"#,
        "",
        "[]",
    ] {
        let e = from_json(bad).unwrap_err();
        assert_eq!(e.code, ConfigErrorCode::InvalidArg, "{bad}");
    }
}

#[test]
fn backend_readable_shapes() {
    // What backend_common / python_backend read with strict getters.
    let v: Value = serde_json::from_str(
        &to_json(&cfg(
            r#"name: "m" input [ { name: "a" data_type: TYPE_INT64 dims: [ 2, 3 ] } ]"#,
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(v["input"][0]["dims"][0].is_i64());
    assert!(v["max_batch_size"].is_i64());
    assert_eq!(v["parameters"], json!({}));
    assert_eq!(v["default_model_filename"], json!(""));
}

/// The configuration served by a real Triton 2.51.0 (pytriton 0.7.0 wheel,
/// python backend, strict config) at `/v2/models/m/config`, normalized the
/// same way here. Only the `parameters` map order differs: upstream prints
/// protobuf's internal map order, this crate sorts by key.
#[test]
fn matches_real_triton_2_51_output() {
    let text = r#"
name: "m"
backend: "python"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1, 8 ] reshape { shape: [ -1, 2, 4 ] } } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
sequence_batching {
  direct { minimum_slot_utilization: 0.333333343 }
  control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] } ]
  state [ { input_name: "i" output_name: "o" data_type: TYPE_INT32 dims: [ -1 ] initial_state [ { data_type: TYPE_INT32 dims: [ 3 ] zero_data: true name: "s" } ] } ]
}
instance_group [ { kind: KIND_CPU count: 1 secondary_devices [ { device_id: 7 } ] } ]
parameters { key: "b" value { string_value: "2" } }
parameters { key: "a" value { string_value: "1" } }
parameters { key: "c" value { string_value: "3" } }
"#;
    let mut c = cfg(text);
    triton_model_config::autocomplete_backend_fields(&mut c, "m", None).unwrap();
    triton_model_config::normalize(&mut c, &Default::default()).unwrap();
    let golden = include_str!("golden_python_2_51.json").trim_end().replace(
        r#""parameters":{"b":{"string_value":"2"},"a":{"string_value":"1"},"c":{"string_value":"3"}}"#,
        r#""parameters":{"a":{"string_value":"1"},"b":{"string_value":"2"},"c":{"string_value":"3"}}"#,
    );
    assert_eq!(to_json(&c).unwrap(), golden);
}

#[test]
fn scalar_oneof_members_print_last() {
    let s = to_json(&cfg(r#"
        name: "m"
        sequence_batching { state [ { initial_state [ { data_file: "f" name: "s" } ] } ] }
    "#))
    .unwrap();
    assert!(
        s.contains(
            r#""initial_state":[{"data_type":"TYPE_INVALID","dims":[],"name":"s","data_file":"f"}]"#
        ),
        "{s}"
    );
}
