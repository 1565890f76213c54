//! Compiles `proto/model_config.proto` without `protoc`: `protox` produces the
//! descriptor set, `prost-build` generates the Rust types, and every message
//! gets a `prost_reflect::ReflectMessage` derive bound to the embedded pool.

use std::path::PathBuf;

use prost::Message as _;

fn collect_messages(prefix: &str, msgs: &[prost_types::DescriptorProto], out: &mut Vec<String>) {
    for m in msgs {
        let full = format!("{prefix}.{}", m.name());
        collect_messages(&full, &m.nested_type, out);
        out.push(full);
    }
}

fn main() {
    let proto = "proto/model_config.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([proto], ["proto"]).expect("compiling model_config.proto");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out_dir.join("model_config_fds.bin"), fds.encode_to_vec())
        .expect("writing descriptor set");

    let mut names = Vec::new();
    for file in &fds.file {
        collect_messages(
            &format!(".{}", file.package()),
            &file.message_type,
            &mut names,
        );
    }

    let mut config = prost_build::Config::new();
    // Sorted maps give a deterministic order when printing JSON / text.
    config.btree_map(["."]);
    for name in &names {
        // Without a leading dot prost-build matches by suffix, so nested
        // messages do not inherit their parent's attributes.
        let full = name.trim_start_matches('.');
        config.type_attribute(full, "#[derive(::prost_reflect::ReflectMessage)]");
        config.type_attribute(full, format!("#[prost_reflect(message_name = \"{full}\")]"));
        config.type_attribute(
            full,
            "#[prost_reflect(descriptor_pool = \"crate::pb::DESCRIPTOR_POOL\")]",
        );
    }
    config
        .compile_fds(fds)
        .expect("generating Rust code for model_config.proto");
}
