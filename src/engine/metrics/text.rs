//! The Prometheus text exposition format (version 0.0.4), written as upstream's client writes
//! it: `# HELP` (when there is help text) and `# TYPE` per family with at least one series,
//! label values escaped, numbers in their shortest round-trip form.

use std::fmt::Write;

use super::registry::{FamilyType, Labels, Value};

/// A number as upstream prints it: the shorter of plain and scientific notation (plain on a
/// tie), with the fewest digits that read back to the same value; `Nan`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "Nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-Inf" } else { "+Inf" }.into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i64;

    let mut scientific = format!("{sign}{}", &digits[..1]);
    if n > 1 {
        scientific.push('.');
        scientific.push_str(&digits[1..]);
    }
    let _ = write!(
        scientific,
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    );

    let plain = if exp >= n - 1 {
        format!("{sign}{digits}{}", "0".repeat((exp - (n - 1)) as usize))
    } else if exp >= 0 {
        let point = (exp + 1) as usize;
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    };
    if plain.len() <= scientific.len() {
        plain
    } else {
        scientific
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// `name{labels[,extra]} ` (with the trailing space).
fn head(out: &mut String, name: &str, suffix: &str, labels: &Labels, extra: Option<(&str, &str)>) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut sep = "";
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            out.push_str(sep);
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
            sep = ",";
        }
        out.push('}');
    }
    out.push(' ');
}

/// Append one family. Nothing is written for a family without series.
pub fn write_family(
    out: &mut String,
    name: &str,
    help: &str,
    ty: FamilyType,
    samples: &[(Labels, Value)],
) {
    if samples.is_empty() {
        return;
    }
    if !help.is_empty() {
        let _ = writeln!(out, "# HELP {name} {help}");
    }
    let _ = writeln!(out, "# TYPE {name} {}", ty.name());
    for (labels, value) in samples {
        match value {
            Value::Scalar(x) => {
                head(out, name, "", labels, None);
                out.push_str(&format_value(*x));
                out.push('\n');
            }
            Value::Histogram {
                bounds,
                counts,
                sum,
            } => {
                let total: u64 = counts.iter().sum();
                head(out, name, "_count", labels, None);
                let _ = writeln!(out, "{total}");
                head(out, name, "_sum", labels, None);
                out.push_str(&format_value(*sum));
                out.push('\n');
                let mut cumulative = 0u64;
                for (i, c) in counts.iter().enumerate() {
                    cumulative += c;
                    let le = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    head(
                        out,
                        name,
                        "_bucket",
                        labels,
                        Some(("le", &format_value(le))),
                    );
                    let _ = writeln!(out, "{cumulative}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_upstream() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (5.0, "5"),
            (-3.0, "-3"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1234567.0, "1234567"),
            (1e6, "1e+06"),
            (2e6, "2e+06"),
            (0.0001, "1e-04"),
            (0.001, "0.001"),
            (0.00001, "1e-05"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "Nan"),
        ];
        for (v, s) in cases {
            assert_eq!(format_value(v), s, "{v}");
        }
    }

    #[test]
    fn families_print_help_type_and_series() {
        let mut out = String::new();
        write_family(&mut out, "empty", "h", FamilyType::Counter, &[]);
        assert!(out.is_empty());
        let mut l = Labels::new();
        l.insert("model".into(), "a\"b\\c\nd".into());
        l.insert("version".into(), "1".into());
        write_family(
            &mut out,
            "c",
            "Help text",
            FamilyType::Counter,
            &[
                (l.clone(), Value::Scalar(3.0)),
                (Labels::new(), Value::Scalar(1.5)),
            ],
        );
        assert_eq!(
            out,
            "# HELP c Help text\n# TYPE c counter\nc{model=\"a\\\"b\\\\c\\nd\",version=\"1\"} 3\nc 1.5\n"
        );
        let mut out = String::new();
        write_family(
            &mut out,
            "h",
            "",
            FamilyType::Histogram,
            &[(
                Labels::new(),
                Value::Histogram {
                    bounds: vec![1.0, 2.5],
                    counts: vec![1, 0, 2],
                    sum: 11.0,
                },
            )],
        );
        assert_eq!(
            out,
            "# TYPE h histogram\nh_count 3\nh_sum 11\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2.5\"} 1\nh_bucket{le=\"+Inf\"} 3\n"
        );
    }
}
