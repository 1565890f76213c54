//! The process-wide logger, with upstream's levels and line formats.
//!
//! Default format: `I1126 01:21:16.123456 4242 server.rs:88] "message"` (level letter, month,
//! day, time with microseconds, process id, source location). ISO 8601 format:
//! `2026-11-26T01:21:16Z I 4242 server.rs:88] "message"`. Messages are written as JSON strings
//! (quoted and escaped, so a message never spans lines), unless the environment variable
//! `TRITON_SERVER_ESCAPE_LOG_MESSAGES` is `0`, as upstream.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Log levels, with the numeric values of `TRITONSERVER_LogLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info = 0,
    Warn = 1,
    Error = 2,
    Verbose = 3,
}

impl Level {
    pub fn from_u32(v: u32) -> Option<Level> {
        [Level::Info, Level::Warn, Level::Error, Level::Verbose]
            .get(v as usize)
            .copied()
    }
    fn letter(self) -> char {
        match self {
            Level::Info | Level::Verbose => 'I',
            Level::Warn => 'W',
            Level::Error => 'E',
        }
    }
}

/// Line formats, with the numeric values of `TRITONSERVER_LogFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Default = 0,
    Iso8601 = 1,
}

impl Format {
    pub fn from_u32(v: u32) -> Option<Format> {
        [Format::Default, Format::Iso8601].get(v as usize).copied()
    }
}

/// What is logged and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub info: bool,
    pub warn: bool,
    pub error: bool,
    pub verbose: i32,
    pub format: Format,
    /// Append to this file instead of writing to stderr.
    pub file: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            info: true,
            warn: true,
            error: true,
            verbose: 0,
            format: Format::Default,
            file: None,
        }
    }
}

struct Logger {
    settings: Settings,
    sink: Option<File>,
}

static LOGGER: RwLock<Option<Logger>> = RwLock::new(None);
static WRITE: Mutex<()> = Mutex::new(());

/// Replace the logger's settings. A log file that cannot be opened is an error, and the
/// previous settings stay in force.
pub fn configure(settings: Settings) -> super::Result<()> {
    let sink = match &settings.file {
        Some(path) if !path.is_empty() => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    super::Error::invalid_arg(format!("failed to open log file '{path}': {e}"))
                })?,
        ),
        _ => None,
    };
    let mut guard = crate::engine::sync::write(&LOGGER);
    *guard = Some(Logger { settings, sink });
    Ok(())
}

/// Whether messages of `level` are written (verbose: whether the verbose level is above 0).
pub fn is_enabled(level: Level) -> bool {
    verbose_enabled_at(level, 1)
}

/// Whether a verbose message of the given verbosity (or a message of another level) is written.
pub fn verbose_enabled_at(level: Level, verbosity: i32) -> bool {
    let guard = crate::engine::sync::read(&LOGGER);
    let default = Settings::default();
    let s = guard.as_ref().map(|l| &l.settings).unwrap_or(&default);
    match level {
        Level::Info => s.info,
        Level::Warn => s.warn,
        Level::Error => s.error,
        Level::Verbose => s.verbose >= verbosity,
    }
}

/// Write one message, if its level is enabled.
pub fn write(level: Level, file: &str, line: u32, msg: &str) {
    if !is_enabled(level) {
        return;
    }
    write_unchecked(level, file, line, msg);
}

/// Write one message without checking its level (the caller did).
pub fn write_unchecked(level: Level, file: &str, line: u32, msg: &str) {
    write_with(level, file, line, msg, escape_messages());
}

/// A text table in upstream's style: a rule, the header row, a rule, the rows, a rule. Every
/// row has as many cells as the header.
pub fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule: String = widths
        .iter()
        .map(|w| format!("+-{}-", "-".repeat(*w)))
        .collect::<String>()
        + "+";
    let line = |cells: Vec<&str>| -> String {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(&widths) {
            l.push_str(&format!("| {c:w$} "));
        }
        l + "|\n"
    };
    let mut text = format!("\n{rule}\n");
    text.push_str(&line(header.to_vec()));
    text.push_str(&format!("{rule}\n"));
    for r in rows {
        text.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    text.push_str(&rule);
    text
}

/// Write a multi-line table as it is (never escaped, as upstream logs its tables), if INFO is
/// enabled.
pub fn write_table(file: &str, line: u32, table: &str) {
    if is_enabled(Level::Info) {
        write_with(Level::Info, file, line, table, false);
    }
}

fn write_with(level: Level, file: &str, line: u32, msg: &str, escape: bool) {
    let guard = crate::engine::sync::read(&LOGGER);
    let format = guard
        .as_ref()
        .map(|l| l.settings.format)
        .unwrap_or(Format::Default);
    let file = file.rsplit('/').next().unwrap_or(file);
    let text = format_line_with(format, level, SystemTime::now(), file, line, msg, escape);
    let _serial = crate::engine::sync::lock(&WRITE);
    match guard.as_ref().and_then(|l| l.sink.as_ref()) {
        Some(mut f) => {
            let _ = f.write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

/// Whether messages are JSON-escaped (`TRITON_SERVER_ESCAPE_LOG_MESSAGES` is not "0").
fn escape_messages() -> bool {
    static ESCAPE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ESCAPE.get_or_init(|| {
        std::env::var("TRITON_SERVER_ESCAPE_LOG_MESSAGES").map_or(true, |v| v != "0")
    })
}

/// One formatted log line, ending in a newline.
#[cfg(test)]
pub fn format_line(
    format: Format,
    level: Level,
    now: SystemTime,
    file: &str,
    line: u32,
    msg: &str,
) -> String {
    format_line_with(format, level, now, file, line, msg, escape_messages())
}

fn format_line_with(
    format: Format,
    level: Level,
    now: SystemTime,
    file: &str,
    line: u32,
    msg: &str,
    escape: bool,
) -> String {
    let escaped;
    let msg = if escape {
        escaped = serde_json::Value::from(msg).to_string();
        escaped.as_str()
    } else {
        msg
    };
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil_from_days((secs / 86_400) as i64);
    let (h, mi, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    match format {
        Format::Default => format!(
            "{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {} {}:{}] {}\n",
            level.letter(),
            mo,
            day,
            h,
            mi,
            s,
            d.subsec_micros(),
            std::process::id(),
            file,
            line,
            msg
        ),
        Format::Iso8601 => format!(
            "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}Z {} {} {}:{}] {}\n",
            level.letter(),
            std::process::id(),
            file,
            line,
            msg
        ),
    }
}

/// A point in time as RFC 3339 UTC with milliseconds ("2026-12-02T15:04:05.123Z").
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil_from_days((secs / 86_400) as i64);
    let (h, mi, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!(
        "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        d.subsec_millis()
    )
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Log at `level` (a `Level` variant name) with `format!` arguments, formatting only when that
/// level is on; the level macros below are this with their level filled in.
#[macro_export]
macro_rules! log_at {
    ($level:ident, $($arg:tt)*) => {
        if $crate::engine::log::is_enabled($crate::engine::log::Level::$level) {
            $crate::engine::log::write_unchecked(
                $crate::engine::log::Level::$level, file!(), line!(), &format!($($arg)*));
        }
    };
}

/// Log at INFO level with `format!` arguments.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::log_at!(Info, $($arg)*) };
}

/// Log at WARNING level with `format!` arguments.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log_at!(Warn, $($arg)*) };
}

/// Log at ERROR level with `format!` arguments.
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)*) => { $crate::log_at!(Error, $($arg)*) };
}

/// Log a verbose message of the given verbosity with `format!` arguments.
#[macro_export]
macro_rules! log_verbose {
    ($v:expr, $($arg:tt)*) => {
        if $crate::engine::log::verbose_enabled_at($crate::engine::log::Level::Verbose, $v) {
            $crate::engine::log::write_unchecked(
                $crate::engine::log::Level::Verbose, file!(), line!(), &format!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_upstream() {
        // 2026-11-26T01:21:16.000123Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_656_076) + Duration::from_micros(123);
        let line = format_line(Format::Default, Level::Warn, t, "server.rs", 7, "hello");
        let pid = std::process::id();
        assert_eq!(
            line,
            format!("W1126 01:21:16.000123 {pid} server.rs:7] \"hello\"\n")
        );
        // Quotes and newlines are escaped: one message, one line.
        let iso = format_line(Format::Iso8601, Level::Error, t, "a.rs", 1, "x \"y\"\nz");
        assert_eq!(
            iso,
            format!("2026-11-26T01:21:16Z E {pid} a.rs:1] \"x \\\"y\\\"\\nz\"\n")
        );
    }

    #[test]
    fn tables_line_up() {
        let t = format_table(
            &["Option", "Value"],
            &[
                vec!["server_id".into(), "triton".into()],
                vec!["x".into(), "longer value".into()],
            ],
        );
        assert_eq!(
            t,
            "\n+-----------+--------------+\n| Option    | Value        |\n+-----------+--------------+\n\
             | server_id | triton       |\n| x         | longer value |\n+-----------+--------------+"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
