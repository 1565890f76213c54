//! Triton model configuration (`inference.ModelConfig`) for triton-core.
//!
//! - [`pb`]: the schema types, generated from `proto/model_config.proto`
//!   (field names, numbers and enum values of Triton 2.51), each
//!   implementing `prost_reflect::ReflectMessage`.
//! - [`parse_pbtxt`] / [`read_config_file`]: `config.pbtxt` text format.
//! - [`to_json`] / [`from_json`]: upstream's `ModelConfigToJson` /
//!   `JsonToModelConfig` JSON, as backends receive it.
//! - [`autocomplete_backend_fields`], [`normalize`]: the defaults upstream
//!   fills in before a backend sees the configuration.
//! - [`validate`]: upstream's configuration checks.
//! - [`instance_names`]: the instances upstream creates and their names.
//!
//! Typical load sequence, as upstream does it:
//! `read_config_file` → `autocomplete_backend_fields` →
//! `normalize_model_config` → `validate_model_config` (+ `validate_io_config`
//! in strict mode) → `check_model_name` → load backend →
//! `normalize_instance_group` → `validate_instance_group` → backend
//! auto-complete → `validate_model_config` + `validate_io_config`.

pub mod pb {
    //! Types generated from `proto/model_config.proto` (package `inference`).
    #![allow(clippy::all, missing_docs)]

    use std::sync::LazyLock;

    /// Encoded `FileDescriptorSet` of the model configuration schema.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/model_config_fds.bin"));

    /// Descriptor pool holding the `inference` package.
    pub static DESCRIPTOR_POOL: LazyLock<prost_reflect::DescriptorPool> = LazyLock::new(|| {
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("embedded model_config descriptor set is valid")
    });

    include!(concat!(env!("OUT_DIR"), "/inference.rs"));
}

mod autofill;
mod error;
mod instances;
mod json;
mod normalize;
mod parse;
mod validate;

pub use autofill::{autocomplete_backend_fields, first_version_dir, names};
pub use error::{ConfigError, ConfigErrorCode};
pub use instances::{instance_names, InstanceSpec};
pub use json::{from_json, to_json, to_json_value};
pub use normalize::{
    default_instance_count, normalize, normalize_instance_group, normalize_model_config,
    NormalizeOptions, SEQUENCE_IDLE_DEFAULT_MICROSECONDS,
};
pub use parse::{parse_pbtxt, read_config_file, to_pbtxt};
pub use validate::{
    check_model_name, validate, validate_instance_group, validate_io_config, validate_model_config,
    validate_model_input, validate_model_output, ValidateOptions, WILDCARD_DIM,
};
