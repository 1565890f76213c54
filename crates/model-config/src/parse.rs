//! Reading `config.pbtxt` (protobuf text format).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use prost_reflect::text_format::FormatOptions;
use prost_reflect::{DynamicMessage, ReflectMessage};

use crate::error::ConfigError;
use crate::pb;

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
fn parse_error(origin: &Path, text: &str, err: &prost_reflect::text_format::ParseError) -> ConfigError {
    use miette::Diagnostic;
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset())
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
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        DynamicMessage::parse_text_format(desc, text)
    }))
    .map_err(|_| {
        ConfigError::internal(format!(
            "failed to read text proto from {}: parser failure",
            origin.display()
        ))
    })?;
    let dynamic = parsed.map_err(|e| parse_error(origin, text, &e))?;
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

/// Prints a configuration in (multi-line) protobuf text format, e.g. to
/// write a `config.pbtxt`. Default-valued scalars are omitted, as protobuf's
/// text printer does.
pub fn to_pbtxt(cfg: &pb::ModelConfig) -> String {
    let mut text = cfg
        .transcode_to_dynamic()
        .to_text_format_with_options(&FormatOptions::new().pretty(true));
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
