//! Reading `config.pbtxt` (protobuf text format).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};

use crate::error::ConfigError;
use crate::pb;

/// Inserts the `:` that protobuf's C++ text parser treats as optional
/// between a field name and a `[` list (`input [ { ... } ]`), which
/// prost-reflect's parser requires. Returns the rewritten text and the
/// (sorted) offsets in the *original* text where a `:` was inserted, so
/// error positions can be mapped back.
fn insert_list_colons(text: &str) -> (String, Vec<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        None,
        Colon,
        Ident,
        Other,
    }
    let bytes = text.as_bytes();
    let mut inserted = Vec::new();
    // (previous token, token before it)
    let mut prev = (Tok::None, Tok::None);
    let mut i = 0;
    let push = |prev: &mut (Tok, Tok), t: Tok| *prev = (t, prev.0);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                push(&mut prev, Tok::Other);
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                push(&mut prev, Tok::Ident);
            }
            b'0'..=b'9' | b'.' | b'-' | b'+' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.'))
                {
                    i += 1;
                }
                push(&mut prev, Tok::Other);
            }
            b':' => {
                i += 1;
                push(&mut prev, Tok::Colon);
            }
            b'[' => {
                if prev.0 == Tok::Ident && prev.1 != Tok::Colon {
                    inserted.push(i);
                }
                i += 1;
                push(&mut prev, Tok::Other);
            }
            _ => {
                i += 1;
                push(&mut prev, Tok::Other);
            }
        }
    }
    if inserted.is_empty() {
        return (text.to_string(), inserted);
    }
    let mut out = String::with_capacity(text.len() + inserted.len());
    let mut last = 0;
    for &pos in &inserted {
        out.push_str(&text[last..pos]);
        out.push(':');
        last = pos;
    }
    out.push_str(&text[last..]);
    (out, inserted)
}

/// Maps an offset in the rewritten text back to the original text.
fn original_offset(offset: usize, inserted: &[usize]) -> usize {
    let mut shift = 0;
    for (n, &pos) in inserted.iter().enumerate() {
        // The n-th insertion sits at pos + n in the rewritten text.
        if offset > pos + n {
            shift = n + 1;
        } else {
            break;
        }
    }
    offset - shift
}

/// 1-based line and column (in characters) of a byte offset in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Error for a text-format document that cannot be parsed.
///
/// Upstream (`ReadTextProto`) reports such a file as `INTERNAL`
/// "failed to read text proto from <path>" and only logs protobuf's detailed
/// diagnostic; here the location and the problem are appended to the same
/// message: `failed to read text proto from <path>:<line>:<col>: <problem>`.
fn parse_error(
    origin: &Path,
    text: &str,
    inserted: &[usize],
    err: &prost_reflect::text_format::ParseError,
) -> ConfigError {
    use miette::Diagnostic;
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| original_offset(label.offset(), inserted))
        // Errors without a span (unexpected end of input) point at the end.
        .unwrap_or(text.len());
    let (line, col) = line_col(text, offset);
    ConfigError::internal(format!(
        "failed to read text proto from {}:{line}:{col}: {err}",
        origin.display()
    ))
}

/// Parses the protobuf text format of `inference.ModelConfig`.
///
/// `origin` is only used in error messages. Unknown fields, unknown enum
/// names, malformed tokens, out-of-range integers and fields set twice are
/// all rejected, like protobuf's `TextFormat::ParseFromString`, with code
/// `Internal` (upstream's code for an unparsable `config.pbtxt`). Never
/// panics on any input.
pub fn parse_pbtxt(text: &str, origin: &Path) -> Result<pb::ModelConfig, ConfigError> {
    let desc = pb::ModelConfig::default().descriptor();
    let (rewritten, inserted) = insert_list_colons(text);
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        DynamicMessage::parse_text_format(desc, &rewritten)
    }))
    .map_err(|_| {
        ConfigError::internal(format!(
            "failed to read text proto from {}: parser failure",
            origin.display()
        ))
    })?;
    let dynamic = parsed.map_err(|e| parse_error(origin, text, &inserted, &e))?;
    dynamic.transcode_to::<pb::ModelConfig>().map_err(|e| {
        ConfigError::internal(format!(
            "failed to read text proto from {}: {e}",
            origin.display()
        ))
    })
}

/// Reads and parses a `config.pbtxt` file.
///
/// An unreadable file gives upstream's `Internal` error
/// "failed to open text file for read <path>: <reason>" (upstream uses the
/// same code whether the file is missing or unreadable; callers that treat a
/// missing config specially should check for existence first, as upstream's
/// repository manager does). Parse failures are reported as in
/// [`parse_pbtxt`].
pub fn read_config_file(path: &Path) -> Result<pb::ModelConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let mut reason = e.to_string();
        if let Some(pos) = reason.find(" (os error") {
            reason.truncate(pos);
        }
        ConfigError::internal(format!(
            "failed to open text file for read {}: {reason}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..offset]).unwrap_or_default();
        let (line, col) = line_col(valid, offset);
        ConfigError::internal(format!(
            "failed to read text proto from {}:{line}:{col}: invalid UTF-8",
            path.display()
        ))
    })?;
    parse_pbtxt(&text, path)
}

/// Text-format string literal with C-style escapes (UTF-8 kept as is).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar_text(value: &Value, kind: &Kind) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => float_text(f64::from(*v), v.to_string()),
        Value::F64(v) => float_text(*v, v.to_string()),
        Value::String(s) => quote(s),
        Value::Bytes(b) => quote(&String::from_utf8_lossy(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_string()),
            _ => n.to_string(),
        },
        Value::Message(_) | Value::List(_) | Value::Map(_) => String::new(),
    }
}

fn float_text(v: f64, shortest: String) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        shortest
    }
}

fn write_field(out: &mut String, indent: usize, name: &str, value: &Value, kind: &Kind) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Message(m) => {
            out.push_str(&format!("{pad}{name} {{\n"));
            write_message(out, indent + 1, m);
            out.push_str(&format!("{pad}}}\n"));
        }
        other => out.push_str(&format!("{pad}{name}: {}\n", scalar_text(other, kind))),
    }
}

fn write_message(out: &mut String, indent: usize, msg: &DynamicMessage) {
    let mut fields: Vec<_> = msg.descriptor().fields().collect();
    fields.sort_by_key(|f| f.number());
    for field in fields {
        if !msg.has_field(&field) {
            continue;
        }
        let value = msg.get_field(&field);
        let kind = field.kind();
        match &*value {
            Value::List(items) => {
                for item in items {
                    write_field(out, indent, field.name(), item, &kind);
                }
            }
            Value::Map(entries) => {
                let Kind::Message(entry_desc) = &kind else {
                    continue;
                };
                let key_field = entry_desc.map_entry_key_field();
                let value_field = entry_desc.map_entry_value_field();
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let pad = "  ".repeat(indent);
                for (k, v) in sorted {
                    out.push_str(&format!("{pad}{} {{\n", field.name()));
                    let key_value = Value::from(k.clone());
                    write_field(out, indent + 1, "key", &key_value, &key_field.kind());
                    write_field(out, indent + 1, "value", v, &value_field.kind());
                    out.push_str(&format!("{pad}}}\n"));
                }
            }
            other => write_field(out, indent, field.name(), other, &kind),
        }
    }
}

/// Prints a configuration in protobuf text format, e.g. to write a
/// `config.pbtxt`: fields in field-number order, default-valued scalars
/// omitted, repeated fields one entry per line and map entries sorted by
/// key, like protobuf's text printer. [`parse_pbtxt`] reads it back to an
/// equal configuration.
pub fn to_pbtxt(cfg: &pb::ModelConfig) -> String {
    let mut out = String::new();
    write_message(&mut out, 0, &cfg.transcode_to_dynamic());
    out
}
