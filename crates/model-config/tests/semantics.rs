mod common;

use common::{origin, temp_dir};
use triton_model_config::pb::{self, model_instance_group::Kind};
use triton_model_config::*;

fn cfg(text: &str) -> pb::ModelConfig {
    parse_pbtxt(text, origin()).unwrap()
}

fn group(kind: Kind, count: i32) -> pb::ModelInstanceGroup {
    pb::ModelInstanceGroup {
        kind: kind as i32,
        count,
        ..Default::default()
    }
}

// ---------------------------------------------------------------- autofill

#[test]
fn autofill_from_platform_and_filenames() {
    for (text, backend, platform, file) in [
        (
            "platform: \"onnxruntime_onnx\"",
            "onnxruntime",
            "onnxruntime_onnx",
            "model.onnx",
        ),
        (
            "backend: \"onnxruntime\"",
            "onnxruntime",
            "onnxruntime_onnx",
            "model.onnx",
        ),
        (
            "platform: \"tensorrt_plan\"",
            "tensorrt",
            "tensorrt_plan",
            "model.plan",
        ),
        (
            "platform: \"tensorflow_savedmodel\"",
            "tensorflow",
            "tensorflow_savedmodel",
            "model.savedmodel",
        ),
        (
            "default_model_filename: \"model.graphdef\"",
            "tensorflow",
            "tensorflow_graphdef",
            "model.graphdef",
        ),
        (
            "platform: \"pytorch_libtorch\"",
            "pytorch",
            "pytorch_libtorch",
            "model.pt",
        ),
        (
            "backend: \"pytorch\" runtime: \"model.py\"",
            "pytorch",
            "pytorch_libtorch",
            "",
        ),
        (
            "default_model_filename: \"model.xml\"",
            "openvino",
            "",
            "model.xml",
        ),
        ("backend: \"python\"", "python", "", "model.py"),
        (
            "default_model_filename: \"model.py\"",
            "python",
            "",
            "model.py",
        ),
        ("backend: \"identity\"", "identity", "", ""),
        ("platform: \"ensemble\"", "", "ensemble", ""),
    ] {
        let mut c = cfg(text);
        autocomplete_backend_fields(&mut c, "m", None).unwrap();
        assert_eq!(
            (
                c.backend.as_str(),
                c.platform.as_str(),
                c.default_model_filename.as_str()
            ),
            (backend, platform, file),
            "{text}"
        );
        assert_eq!(c.name, "m");
    }
}

#[test]
fn autofill_from_version_directory() {
    let model = temp_dir("autofill");
    let v1 = model.join("1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(model.join("2")).unwrap();
    assert_eq!(first_version_dir(&model).unwrap(), v1);

    let check = |files: &[&str], dirs: &[&str], backend: &str| {
        let _ = std::fs::remove_dir_all(&v1);
        std::fs::create_dir_all(&v1).unwrap();
        for f in files {
            std::fs::write(v1.join(f), b"x").unwrap();
        }
        for d in dirs {
            std::fs::create_dir_all(v1.join(d)).unwrap();
        }
        let mut c = pb::ModelConfig::default();
        autocomplete_backend_fields(&mut c, "m", Some(&v1)).unwrap();
        assert_eq!(c.backend, backend, "{files:?} {dirs:?}");
        c
    };
    assert_eq!(
        check(&["model.py"], &[], "python").default_model_filename,
        "model.py"
    );
    assert_eq!(
        check(&["model.onnx"], &[], "onnxruntime").platform,
        "onnxruntime_onnx"
    );
    assert_eq!(
        check(&[], &["model.onnx"], "onnxruntime").platform,
        "onnxruntime_onnx"
    );
    assert_eq!(
        check(&["model.plan"], &[], "tensorrt").platform,
        "tensorrt_plan"
    );
    assert_eq!(
        check(&["model.pt"], &[], "pytorch").platform,
        "pytorch_libtorch"
    );
    assert_eq!(
        check(&[], &["model.savedmodel"], "tensorflow").platform,
        "tensorflow_savedmodel"
    );
    assert_eq!(
        check(&["model.graphdef"], &[], "tensorflow").platform,
        "tensorflow_graphdef"
    );
    assert_eq!(
        check(&["model.xml"], &[], "openvino").default_model_filename,
        "model.xml"
    );
    // A directory named model.plan / model.pt is not a hint.
    let mut c = pb::ModelConfig::default();
    let _ = std::fs::remove_dir_all(&v1);
    std::fs::create_dir_all(v1.join("model.plan")).unwrap();
    let e = autocomplete_backend_fields(&mut c, "m", Some(&v1)).unwrap_err();
    assert_eq!(e.code, ConfigErrorCode::InvalidArg);
    let _ = std::fs::remove_dir_all(model);
}

#[test]
fn autofill_legacy_backend_from_model_name() {
    let mut c = pb::ModelConfig::default();
    autocomplete_backend_fields(&mut c, "foo.identity", None).unwrap();
    assert_eq!(c.backend, "identity");
    assert_eq!(c.default_model_filename, "model.identity");
    assert_eq!(c.name, "foo.identity");

    let mut c = pb::ModelConfig::default();
    let e = autocomplete_backend_fields(&mut c, "plain", None).unwrap_err();
    assert_eq!(e.code, ConfigErrorCode::InvalidArg);
    assert!(
        e.message
            .contains("Expected model name of the form 'model.<backend_name>'"),
        "{}",
        e.message
    );
}

// --------------------------------------------------------------- normalize

#[test]
fn normalize_defaults() {
    let mut c = cfg("name: \"m\" backend: \"python\" max_batch_size: 8 dynamic_batching {}");
    normalize(&mut c, &NormalizeOptions::default()).unwrap();
    assert_eq!(
        c.version_policy.unwrap().policy_choice,
        Some(pb::model_version_policy::PolicyChoice::Latest(
            pb::model_version_policy::Latest { num_versions: 1 }
        ))
    );
    match c.scheduling_choice {
        Some(pb::model_config::SchedulingChoice::DynamicBatching(db)) => {
            assert_eq!(db.preferred_batch_size, vec![8])
        }
        _ => panic!(),
    }
    let opt = c.optimization.unwrap();
    assert!(opt.input_pinned_memory.unwrap().enable);
    assert!(opt.output_pinned_memory.unwrap().enable);
    assert_eq!(c.instance_group.len(), 1);
    assert_eq!(c.instance_group[0].name, "m");
    assert_eq!(c.instance_group[0].kind(), Kind::Cpu);
    assert_eq!(c.instance_group[0].count, 1);

    // Explicit pinned-memory settings are kept; no preferred size without batching.
    let mut c = cfg("name: \"m\" backend: \"python\" dynamic_batching {} optimization { input_pinned_memory { enable: false } }");
    normalize(&mut c, &NormalizeOptions::default()).unwrap();
    let opt = c.optimization.clone().unwrap();
    assert!(!opt.input_pinned_memory.unwrap().enable);
    assert!(opt.output_pinned_memory.unwrap().enable);
    match c.scheduling_choice {
        Some(pb::model_config::SchedulingChoice::DynamicBatching(db)) => {
            assert!(db.preferred_batch_size.is_empty())
        }
        _ => panic!(),
    }
}

#[test]
fn normalize_sequence_batching() {
    let mut c = cfg(
        "name: \"m\" max_batch_size: 4 sequence_batching { oldest { max_candidate_sequences: 2 } }",
    );
    normalize_model_config(&mut c).unwrap();
    let Some(pb::model_config::SchedulingChoice::SequenceBatching(sb)) = c.scheduling_choice else {
        panic!()
    };
    assert_eq!(
        sb.max_sequence_idle_microseconds,
        SEQUENCE_IDLE_DEFAULT_MICROSECONDS
    );
    let Some(pb::model_sequence_batching::StrategyChoice::Oldest(o)) = sb.strategy_choice else {
        panic!()
    };
    assert_eq!(o.preferred_batch_size, vec![4]);
}

#[test]
fn normalize_ensemble_untouched_groups_and_optimization() {
    let mut c = cfg("name: \"e\" platform: \"ensemble\" ensemble_scheduling {}");
    normalize(&mut c, &NormalizeOptions::default()).unwrap();
    assert!(c.optimization.is_none());
    assert!(c.instance_group.is_empty());
    assert!(c.version_policy.is_some());
}

#[test]
fn normalize_instance_groups() {
    // Default counts: 2 for CPU tensorflow / onnxruntime.
    let mut c = cfg("name: \"m\" backend: \"onnxruntime\"");
    normalize(&mut c, &NormalizeOptions::default()).unwrap();
    assert_eq!(
        (c.instance_group[0].name.as_str(), c.instance_group[0].count),
        ("m", 2)
    );
    assert_eq!(default_instance_count("tensorflow", Kind::Cpu), 2);
    assert_eq!(default_instance_count("tensorflow", Kind::Model), 1);
    assert_eq!(default_instance_count("python", Kind::Cpu), 1);

    // Unnamed groups are named by index; KIND_AUTO becomes KIND_CPU.
    let mut c = cfg("name: \"m\" backend: \"python\" instance_group [ { count: 3 }, { name: \"x\" kind: KIND_MODEL }, {} ]");
    normalize_instance_group(&mut c, &[]).unwrap();
    let got: Vec<_> = c
        .instance_group
        .iter()
        .map(|g| (g.name.as_str(), g.kind(), g.count))
        .collect();
    assert_eq!(
        got,
        vec![
            ("m_0", Kind::Cpu, 3),
            ("x", Kind::Model, 1),
            ("m_2", Kind::Cpu, 1)
        ]
    );

    // Preferred groups: GPU ones are skipped without GPUs, the first usable one wins.
    let mut c = cfg("name: \"m\" backend: \"python\"");
    normalize_instance_group(
        &mut c,
        &[
            group(Kind::Gpu, 4),
            group(Kind::Model, 3),
            group(Kind::Cpu, 5),
        ],
    )
    .unwrap();
    assert_eq!(
        (
            c.instance_group[0].name.as_str(),
            c.instance_group[0].kind(),
            c.instance_group[0].count
        ),
        ("m", Kind::Model, 3)
    );

    // Count of an explicit group taken from the first preferred group of its kind.
    let mut c = cfg("name: \"m\" backend: \"python\" instance_group [ { kind: KIND_CPU } ]");
    normalize_instance_group(
        &mut c,
        &[
            group(Kind::Cpu, 0),
            group(Kind::Cpu, 6),
            group(Kind::Cpu, 7),
        ],
    )
    .unwrap();
    assert_eq!(c.instance_group[0].count, 6);
}

// ---------------------------------------------------------------- validate

fn normalized(text: &str) -> pb::ModelConfig {
    let mut c = cfg(text);
    let name = c.name.clone();
    autocomplete_backend_fields(&mut c, &name, None).unwrap();
    normalize(&mut c, &NormalizeOptions::default()).unwrap();
    c
}

fn rejects(text: &str, needle: &str) {
    let c = normalized(text);
    let e = validate(&c, &c.name, &ValidateOptions::default()).unwrap_err();
    assert!(e.message.contains(needle), "{text}\n-> {}", e.message);
}

#[test]
fn validate_accepts_typical_configs() {
    for text in [
        r#"name: "m" backend: "python" max_batch_size: 8
           input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1, 4 ] reshape { shape: [ -1, 2, 2 ] } } ]
           output [ { name: "OUT" data_type: TYPE_STRING dims: [ 1 ] } ]
           dynamic_batching { preferred_batch_size: [ 2, 8 ] priority_levels: 2 default_priority_level: 1 }"#,
        r#"name: "m" backend: "onnxruntime" platform: "onnxruntime_onnx"
           input [ { name: "IN" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ 3, 224, 224 ] } ]"#,
        r#"name: "m" backend: "python" max_batch_size: 4
           input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] reshape { } } ]
           sequence_batching { control_input [ { name: "S" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
                                               { name: "C" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] } ] }"#,
        r#"name: "m" backend: "tensorrt" platform: "tensorrt_plan" instance_group [ { kind: KIND_CPU profile: [ "0", "1" ] } ]"#,
        r#"name: "e" platform: "ensemble"
           input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
           output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
           ensemble_scheduling { step [
             { model_name: "a" model_version: -1 input_map { key: "x" value: "IN" } output_map { key: "y" value: "MID" } },
             { model_name: "b" model_version: -1 input_map { key: "x" value: "MID" } output_map { key: "y" value: "OUT" } } ] }"#,
    ] {
        let c = normalized(text);
        validate(&c, &c.name, &ValidateOptions::default())
            .unwrap_or_else(|e| panic!("{text}\n-> {e}"));
    }
}

#[test]
fn validate_rejects() {
    rejects(
        r#"name: "m" backend: "python" max_batch_size: -1"#,
        "'max_batch_size' must be non-negative value for m",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" dims: [ 1 ] } ]"#,
        "model input 'a' must specify 'data_type' for m",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { data_type: TYPE_FP32 dims: [ 1 ] } ]"#,
        "model input must specify 'name' for m",
    );
    rejects(
        r#"name: "m" backend: "python" output [ { name: "o" data_type: TYPE_FP32 } ]"#,
        "model output 'o' must specify 'dims' for m",
    );
    rejects(r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ 0 ] } ]"#,
            "model input 'a' dimension must be integer >= 1, or -1 to indicate a variable-size dimension for m");
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 3 ] } } ]"#,
        "has different size for dims and reshape",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ -1, 8 ] reshape { shape: [ 8, -1 ] } } ]"#,
        "has different size for dims and reshape",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] reshape { } } ]"#,
        "cannot have empty reshape for non-batching model",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 format: FORMAT_NHWC dims: [ 1 ] } ]"#,
        "model input NHWC/NCHW require 3 dims",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] is_shape_tensor: true } ]"#,
        "shape tensors are only supported for TensorRT platform",
    );
    rejects(
        r#"name: "m" backend: "python" input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] is_non_linear_format_io: true } ]"#,
        "Non-linear IO format is only supported for the TensorRT platform",
    );
    rejects(
        r#"name: "m" backend: "python" max_batch_size: 2 dynamic_batching { preferred_batch_size: [ 4 ] }"#,
        "dynamic batching preferred size must be <= max batch size for m",
    );
    rejects(
        r#"name: "m" backend: "python" max_batch_size: 2 dynamic_batching { priority_levels: 2 }"#,
        "default priority level must be in range [1, 2] for m",
    );
    rejects(
        r#"name: "m" backend: "python" max_batch_size: 2 dynamic_batching { preserve_ordering: true default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 1 } }"#,
        "Queue policy can not have DELAY as timeout action",
    );
    rejects(r#"name: "m" backend: "python" sequence_batching { control_input [ { name: "S" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 1 ] } ] } ] }"#,
            "sequence batching control 'int32_false_true' must have exactly 2 entries for CONTROL_SEQUENCE_START for m");
    rejects(
        r#"name: "m" backend: "python" sequence_batching { control_input [ { name: "C" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } ] } ] }"#,
        "unexpected data type for control CONTROL_SEQUENCE_CORRID for m",
    );
    rejects(
        r#"name: "m" backend: "python" sequence_batching { direct { minimum_slot_utilization: 1.5 } }"#,
        "minimum slot utilization must be in range (0.0, 1.0]",
    );
    rejects(
        r#"name: "m" backend: "python" sequence_batching {} response_cache { enable: true }"#,
        "Response Cache does not currently support model m with sequence batching",
    );
    rejects(
        r#"name: "m" backend: "python" model_transaction_policy { decoupled: true } response_cache { enable: true }"#,
        "with 'decoupled' transaction policy",
    );
    rejects(
        r#"name: "m" backend: "onnxruntime" platform: "tensorrt_plan""#,
        "unexpected 'platform' and 'backend' pair, got:tensorrt_plan, onnxruntime",
    );
    rejects(
        r#"name: "m" backend: "python" instance_group [ { kind: KIND_GPU } ]"#,
        "instance group m_0 of model m has kind KIND_GPU but server does not support GPUs",
    );
    rejects(
        r#"name: "m" backend: "python" instance_group [ { kind: KIND_CPU gpus: [ 0 ] } ]"#,
        "has kind KIND_CPU but specifies one or more GPUs",
    );
    rejects(
        r#"name: "m" backend: "python" instance_group [ { kind: KIND_CPU profile: [ "0" ] } ]"#,
        "specifies profile field which is only supported for TensorRT models",
    );
    rejects(
        r#"name: "m" backend: "tensorrt" instance_group [ { kind: KIND_CPU profile: [ "-1" ] } ]"#,
        "specifies invalid profile -1",
    );
    rejects(
        r#"name: "m" backend: "tensorrt" instance_group [ { kind: KIND_CPU profile: [ "abc" ] } ]"#,
        "unable to parse 'abc': stoi",
    );
    rejects(
        r#"name: "m" backend: "python" batch_input [ { kind: BATCH_ELEMENT_COUNT data_type: TYPE_FP32 source_input: [ "nope" ] } ]"#,
        "unknown source input name 'nope' for m",
    );
    // Ensembles.
    rejects(
        r#"name: "e" platform: "ensemble""#,
        "ensemble scheduling must be set for ensemble e whose platform is ensemble",
    );
    rejects(
        r#"name: "e" platform: "ensemble" ensemble_scheduling {}"#,
        "must specify 'step' for ensemble 'e'",
    );
    rejects(
        r#"name: "e" platform: "ensemble" ensemble_scheduling { step [ { model_name: "a" } ] }"#,
        "must specify 'input_map' in step 0 of ensemble 'e'",
    );
    rejects(r#"name: "e" platform: "ensemble" output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
               input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
               ensemble_scheduling { step [ { model_name: "a" input_map { key: "x" value: "OTHER" } output_map { key: "y" value: "OUT" } },
                                            { model_name: "b" input_map { key: "x" value: "IN" } output_map { key: "y" value: "Z" } } ] }"#,
            "output 'OUT' for ensemble 'e' is not written: at least one of its depending tensors, 'OTHER', is not connected");
    rejects(
        r#"name: "e" platform: "ensemble" output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
               input [ { name: "IN" data_type: TYPE_FP32 dims: [ 1 ] } ]
               ensemble_scheduling { step [ { model_name: "a" input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } },
                                            { model_name: "b" input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } } ] }"#,
        "ensemble tensor 'OUT' can appear in an output map only once for ensemble 'e' step 1",
    );
}

#[test]
fn validate_name_and_version_policy() {
    let c = normalized(r#"name: "m" backend: "python""#);
    let e = validate(&c, "other", &ValidateOptions::default()).unwrap_err();
    assert_eq!(e.code, ConfigErrorCode::InvalidArg);
    assert_eq!(
        e.message,
        "unexpected directory name 'other' for model 'm', directory name must equal model name"
    );
    let mapped = ValidateOptions {
        name_is_mapped: true,
        ..Default::default()
    };
    validate(&c, "other", &mapped).unwrap();

    let c = cfg(r#"name: "m" backend: "python""#);
    let e = validate_model_config(&c).unwrap_err();
    assert_eq!(e.message, "must specify 'version policy' for m");
    let e = validate_model_config(&pb::ModelConfig::default()).unwrap_err();
    assert_eq!(e.message, "model configuration must specify 'name'");

    // KIND_AUTO left over is an internal error; IO checks can be skipped.
    let mut c = normalized(r#"name: "m" backend: "python" input [ { name: "a" } ]"#);
    let no_io = ValidateOptions {
        io: false,
        ..Default::default()
    };
    validate(&c, "m", &no_io).unwrap();
    c.instance_group[0].kind = Kind::Auto as i32;
    assert_eq!(
        validate_instance_group(&c).unwrap_err().code,
        ConfigErrorCode::Internal
    );
}

// --------------------------------------------------------------- instances

#[test]
fn instance_naming() {
    let names = |text: &str| -> Vec<String> {
        let c = normalized(text);
        instance_names(&c)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    // No instance_group: one group named after the model.
    assert_eq!(names(r#"name: "m" backend: "python""#), ["m_0"]);
    assert_eq!(names(r#"name: "m" backend: "onnxruntime""#), ["m_0", "m_1"]);
    // Unnamed groups: <model>_<group index>_<k>.
    assert_eq!(
        names(
            r#"name: "m" backend: "python" instance_group [ { count: 2 }, { name: "g" kind: KIND_MODEL count: 1 }, { count: 1 } ]"#
        ),
        ["m_0_0", "m_0_1", "g_0", "m_2_0"]
    );
    let c = normalized(
        r#"name: "m" backend: "python" instance_group [ { kind: KIND_MODEL host_policy: "p" passive: true } ]"#,
    );
    let inst = instance_names(&c).unwrap();
    assert_eq!(
        inst[0],
        InstanceSpec {
            group_index: 0,
            name: "m_0_0".into(),
            kind: Kind::Model,
            device_id: 0,
            host_policy: "p".into(),
            passive: true,
        }
    );
    let c = normalized(
        r#"name: "m" backend: "python" instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0, 1 ] } ]"#,
    );
    let inst = instance_names(&c).unwrap();
    let got: Vec<_> = inst
        .iter()
        .map(|i| (i.name.as_str(), i.device_id, i.host_policy.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("m_0_0", 0, "gpu_0"),
            ("m_0_0", 1, "gpu_1"),
            ("m_0_1", 0, "gpu_0"),
            ("m_0_1", 1, "gpu_1")
        ]
    );
    assert!(instance_names(&normalized(
        r#"name: "e" platform: "ensemble" ensemble_scheduling {}"#
    ))
    .unwrap()
    .is_empty());
    let mut c = normalized(r#"name: "m" backend: "python""#);
    c.instance_group[0].kind = Kind::Auto as i32;
    assert_eq!(
        instance_names(&c).unwrap_err().message,
        "instance_group kind KIND_AUTO not supported"
    );
}
