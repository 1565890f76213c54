//! Triton model configuration: schema, parsing, JSON mapping, normalization.

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
