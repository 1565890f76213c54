//! Upstream-compatible JSON form of a model configuration
//! (`ModelConfigToJson` / `JsonToModelConfig`, config version 1).

use prost::Message as _;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value,
};
use serde_json::{Map, Number, Value as Json};

use crate::error::ConfigError;
use crate::pb;

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/// Emulates C's `printf("%.<precision>g", v)` for finite, non-zero `v`.
fn format_g(v: f64, precision: usize) -> String {
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        strip(&format!("{v:.decimals$}"))
    }
}

/// Turns protobuf's textual float rendering into the JSON number a
/// re-parse / re-write by RapidJSON would produce: integral renderings become
/// integers, everything else a double.
fn float_text_to_json(text: &str) -> Json {
    if !text.contains(['.', 'e', 'n', 'N', 'I']) {
        if let Ok(i) = text.parse::<i64>() {
            return Json::Number(i.into());
        }
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Json::Number)
        .unwrap_or_else(|| Json::String(text.to_string()))
}

fn non_finite(v: f64) -> Option<Json> {
    if v.is_nan() {
        Some(Json::String("NaN".into()))
    } else if v.is_infinite() {
        Some(Json::String(
            if v > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        ))
    } else if v == 0.0 {
        Some(Json::Number(0.into()))
    } else {
        None
    }
}

/// protobuf prints a float with the shortest of `%.6g` / `%.9g` that
/// round-trips (`SimpleFtoa`).
fn f32_to_json(v: f32) -> Json {
    if let Some(j) = non_finite(v as f64) {
        return j;
    }
    let mut text = format_g(v as f64, 6);
    if text.parse::<f32>().ok() != Some(v) {
        text = format_g(v as f64, 9);
    }
    float_text_to_json(&text)
}

/// protobuf prints a double with `%.15g`, or `%.17g` if that does not
/// round-trip (`SimpleDtoa`).
fn f64_to_json(v: f64) -> Json {
    if let Some(j) = non_finite(v) {
        return j;
    }
    let mut text = format_g(v, 15);
    if text.parse::<f64>().ok() != Some(v) {
        text = format_g(v, 17);
    }
    float_text_to_json(&text)
}

fn map_key_to_string(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// One value as protobuf's JSON printer renders it (64-bit integers as
/// strings, enums by name).
fn value_to_json(value: &Value, kind: &Kind) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(v) => Json::Number((*v).into()),
        Value::U32(v) => Json::Number((*v).into()),
        Value::I64(v) => Json::String(v.to_string()),
        Value::U64(v) => Json::String(v.to_string()),
        Value::F32(v) => f32_to_json(*v),
        Value::F64(v) => f64_to_json(*v),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64_encode(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(v) => Json::String(v.name().to_string()),
                None => Json::Number((*n).into()),
            },
            _ => Json::Number((*n).into()),
        },
        Value::Message(m) => message_to_json(m),
        Value::List(items) => Json::Array(items.iter().map(|v| value_to_json(v, kind)).collect()),
        Value::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let mut obj = Map::new();
            for (k, v) in sorted {
                obj.insert(map_key_to_string(k), value_to_json(v, &value_kind));
            }
            Json::Object(obj)
        }
    }
}

/// Standard base64 (protobuf's JSON form of `bytes`; unused by the
/// ModelConfig schema but kept for completeness).
fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether the printer emits `field` of `msg` with
/// `always_print_primitive_fields`: lists, maps and non-oneof scalars
/// always; message fields and oneof members only when present.
fn printed(msg: &DynamicMessage, field: &FieldDescriptor) -> bool {
    if field.is_list() || field.is_map() {
        return true;
    }
    if field.supports_presence() {
        return msg.has_field(field);
    }
    true
}

/// protobuf `MessageToJsonString` with `preserve_proto_field_names` and
/// `always_print_primitive_fields`; fields in declaration order.
fn message_to_json(msg: &DynamicMessage) -> Json {
    let mut obj = Map::new();
    let desc = msg.descriptor();
    // `fields()` is in field-number order; protobuf prints in declaration
    // order, which the descriptor proto keeps.
    let declared = desc
        .descriptor_proto()
        .field
        .iter()
        .filter_map(|f| desc.get_field_by_name(f.name()));
    // Scalar members of a oneof are not part of the printer's pre-built
    // field tree, so they come out after all other fields.
    let (scalar_oneof, ordinary): (Vec<_>, Vec<_>) = declared
        .partition(|f| f.containing_oneof().is_some() && !matches!(f.kind(), Kind::Message(_)));
    for field in ordinary.into_iter().chain(scalar_oneof) {
        if !printed(msg, &field) {
            continue;
        }
        let value = msg.get_field(&field);
        obj.insert(
            field.name().to_string(),
            value_to_json(&value, &field.kind()),
        );
    }
    Json::Object(obj)
}

// -- 64-bit fix-ups, applied exactly where upstream applies them ----------

fn fix_uint(obj: &mut Json, name: &str) {
    if let Some(v) = obj.get_mut(name) {
        if let Some(s) = v.as_str() {
            // strtoull semantics for the decimal strings protobuf prints.
            *v = Json::Number(s.parse::<u64>().unwrap_or(0).into());
        }
    }
}

fn fix_int(obj: &mut Json, name: &str) {
    if let Some(v) = obj.get_mut(name) {
        if let Some(s) = v.as_str() {
            *v = Json::Number(s.parse::<i64>().unwrap_or(0).into());
        }
    }
}

fn fix_int_array(obj: &mut Json, name: &str) {
    if let Some(Json::Array(items)) = obj.get_mut(name) {
        for item in items {
            if let Some(s) = item.as_str() {
                *item = Json::Number(s.parse::<i64>().unwrap_or(0).into());
            }
        }
    }
}

fn for_each_in_array(obj: &mut Json, name: &str, mut f: impl FnMut(&mut Json)) {
    if let Some(Json::Array(items)) = obj.get_mut(name) {
        items.iter_mut().for_each(&mut f);
    }
}

fn for_each_member(obj: &mut Json, mut f: impl FnMut(&mut Json)) {
    if let Json::Object(members) = obj {
        members.values_mut().for_each(&mut f);
    }
}

/// Rewrites the 64-bit integer strings that upstream turns into numbers.
///
/// Deliberately *not* converted, matching upstream 2.51:
/// `dynamic_batching.priority_queue_policy` keys (JSON keys are strings),
/// `sequence_batching.state[].initial_state[].dims` (upstream looks for
/// `initial_state` on the wrong object), `optimization.cuda.graph_spec`
/// dims and `instance_group[].secondary_devices[].device_id`.
fn fix_64bit_fields(root: &mut Json) {
    for io in ["input", "output"] {
        for_each_in_array(root, io, |io| {
            fix_int_array(io, "dims");
            if let Some(reshape) = io.get_mut("reshape") {
                fix_int_array(reshape, "shape");
            }
        });
    }
    if let Some(specific) = root
        .get_mut("version_policy")
        .and_then(|vp| vp.get_mut("specific"))
    {
        fix_int_array(specific, "versions");
    }
    if let Some(db) = root.get_mut("dynamic_batching") {
        fix_uint(db, "max_queue_delay_microseconds");
        fix_uint(db, "priority_levels");
        fix_uint(db, "default_priority_level");
        if let Some(dqp) = db.get_mut("default_queue_policy") {
            fix_uint(dqp, "default_timeout_microseconds");
        }
        if let Some(pqp) = db.get_mut("priority_queue_policy") {
            for_each_member(pqp, |policy| {
                fix_uint(policy, "default_timeout_microseconds")
            });
        }
    }
    if let Some(sb) = root.get_mut("sequence_batching") {
        fix_uint(sb, "max_sequence_idle_microseconds");
        if let Some(oldest) = sb.get_mut("oldest") {
            fix_uint(oldest, "max_queue_delay_microseconds");
        }
        if let Some(direct) = sb.get_mut("direct") {
            fix_uint(direct, "max_queue_delay_microseconds");
        }
        for_each_in_array(sb, "state", |state| fix_int_array(state, "dims"));
    }
    if let Some(ens) = root.get_mut("ensemble_scheduling") {
        for_each_in_array(ens, "step", |step| fix_int(step, "model_version"));
    }
    for_each_in_array(root, "model_warmup", |warmup| {
        if let Some(inputs) = warmup.get_mut("inputs") {
            for_each_member(inputs, |input| fix_int_array(input, "dims"));
        }
    });
}

/// The configuration as a JSON value, exactly as [`to_json`] prints it
/// (`Json::Null` for an all-default configuration, which prints as "").
pub fn to_json_value(cfg: &pb::ModelConfig) -> Json {
    if cfg.encoded_len() == 0 {
        return Json::Null;
    }
    let mut root = message_to_json(&cfg.transcode_to_dynamic());
    fix_64bit_fields(&mut root);
    root
}

/// Upstream's `ModelConfigToJson` (config version 1): compact JSON with
/// proto field names, every scalar/list/map printed even at its default,
/// unset sub-messages and oneof members omitted, enums by name, and 64-bit
/// integers as JSON numbers except at the spots listed on
/// [`fix_64bit_fields`]. Map entries are printed in key order. A
/// configuration whose fields are all default prints as the empty string,
/// as upstream does.
pub fn to_json(cfg: &pb::ModelConfig) -> Result<String, ConfigError> {
    match to_json_value(cfg) {
        Json::Null => Ok(String::new()),
        value => serde_json::to_string(&value)
            .map_err(|e| ConfigError::internal(format!("failed to print model config: {e}"))),
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

fn find_field(desc: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_json_name(key)
        .or_else(|| desc.get_field_by_name(key))
}

fn normalize_enum(value: &mut Json, kind: &Kind) {
    if let (Kind::Enum(e), Json::String(s)) = (kind, &mut *value) {
        if e.get_value_by_name(s).is_none() {
            let upper = s.to_ascii_uppercase();
            if e.get_value_by_name(&upper).is_some() {
                *s = upper;
            }
        }
    }
}

fn normalize_value(value: &mut Json, kind: &Kind) {
    match kind {
        Kind::Enum(_) => normalize_enum(value, kind),
        Kind::Message(m) => normalize_enums(value, m),
        _ => {}
    }
}

/// Upper-cases enum names that only match case-insensitively, giving the
/// effect of protobuf's `case_insensitive_enum_parsing`.
fn normalize_enums(value: &mut Json, desc: &MessageDescriptor) {
    let Json::Object(members) = value else {
        return;
    };
    for (key, member) in members.iter_mut() {
        let Some(field) = find_field(desc, key) else {
            continue;
        };
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let value_kind = entry.map_entry_value_field().kind();
            for_each_member(member, |v| normalize_value(v, &value_kind));
        } else if field.is_list() {
            if let Json::Array(items) = member {
                let kind = field.kind();
                items.iter_mut().for_each(|v| normalize_value(v, &kind));
            }
        } else {
            normalize_value(member, &field.kind());
        }
    }
}

/// Upstream's `JsonToModelConfig` (config version 1): protobuf JSON parsing
/// that accepts proto and lowerCamelCase field names, numbers or strings
/// for integers, enum names case-insensitively (or enum numbers) and
/// `null` for defaults, and rejects unknown fields. Errors are `InvalidArg`.
pub fn from_json(json: &str) -> Result<pb::ModelConfig, ConfigError> {
    let mut value: Json = serde_json::from_str(json)
        .map_err(|e| ConfigError::invalid_arg(format!("failed to parse model config JSON: {e}")))?;
    let desc = pb::ModelConfig::default().descriptor();
    normalize_enums(&mut value, &desc);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let dynamic = DynamicMessage::deserialize_with_options(desc, value, &options)
        .map_err(|e| ConfigError::invalid_arg(format!("failed to parse model config JSON: {e}")))?;
    dynamic
        .transcode_to::<pb::ModelConfig>()
        .map_err(|e| ConfigError::internal(format!("failed to convert model config: {e}")))
}
