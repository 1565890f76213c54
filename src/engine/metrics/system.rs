//! CPU utilization and memory from `/proc`, as the CPU metrics report them.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::sync::lock;

/// The aggregate `cpu` line of `/proc/stat`: user, nice, system, idle, iowait, irq, softirq,
/// steal (in clock ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes([u64; 8]);

/// Parse the text of `/proc/stat`.
pub fn parse_cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().next()?;
    let rest = line.strip_prefix("cpu ")?;
    let mut t = [0u64; 8];
    let mut fields = rest.split_whitespace();
    for v in &mut t {
        *v = fields.next()?.parse().ok()?;
    }
    Some(CpuTimes(t))
}

/// Busy share of the time between two samples, in [0, 1].
pub fn utilization(new: CpuTimes, old: CpuTimes) -> f64 {
    let d = |i: usize| new.0[i].saturating_sub(old.0[i]);
    let busy = d(0) + d(1) + d(2) + d(5) + d(6) + d(7);
    let idle = d(3) + d(4);
    if busy + idle == 0 {
        return 0.0;
    }
    busy as f64 / (busy + idle) as f64
}

struct Sampler {
    last: CpuTimes,
    at: Instant,
    value: f64,
}

/// CPU utilization over the latest sampling period. A new sample is taken when the previous one
/// is older than half the metrics interval (upstream polls at that rate); the first reading is
/// the average since boot.
pub fn cpu_utilization(interval_ms: u64) -> f64 {
    static S: OnceLock<Mutex<Option<Sampler>>> = OnceLock::new();
    let Some(now) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_cpu_times(&s))
    else {
        return 0.0;
    };
    let mut s = lock(S.get_or_init(|| Mutex::new(None)));
    let period = Duration::from_millis(interval_ms / 2);
    match s.as_mut() {
        None => {
            let value = utilization(now, CpuTimes::default());
            *s = Some(Sampler {
                last: now,
                at: Instant::now(),
                value,
            });
            value
        }
        Some(sm) => {
            if sm.at.elapsed() >= period {
                let v = utilization(now, sm.last);
                if now != sm.last {
                    sm.value = v;
                }
                sm.last = now;
                sm.at = Instant::now();
            }
            sm.value
        }
    }
}

/// Parse `/proc/meminfo`: (total, used) bytes, used = MemTotal − MemAvailable.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let mut total = None;
    let mut available = None;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), Some(value)) = (f.next(), f.next()) else {
            continue;
        };
        let Ok(kb) = value.parse::<u64>() else {
            continue;
        };
        match name {
            "MemTotal:" => total = Some(kb * 1024),
            "MemAvailable:" => available = Some(kb * 1024),
            _ => {}
        }
    }
    let (t, a) = (total?, available?);
    (a <= t).then_some((t, t - a))
}

/// Total and used memory in bytes.
pub fn memory_info() -> Option<(u64, u64)> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let t = parse_cpu_times("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n").unwrap();
        assert_eq!(t.0, [10, 0, 10, 70, 10, 0, 0, 0]);
        assert!(parse_cpu_times("intr 1 2").is_none());
        let t2 = CpuTimes([20, 0, 20, 140, 20, 0, 0, 0]);
        assert!((utilization(t2, t) - 0.2).abs() < 1e-12);
        assert_eq!(utilization(t, t), 0.0);
        assert_eq!(
            parse_meminfo("MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    400 kB\n"),
            Some((1_024_000, 614_400))
        );
        assert!(parse_meminfo("MemTotal: 1 kB\n").is_none());
        let u = cpu_utilization(2000);
        assert!((0.0..=1.0).contains(&u));
        assert!(memory_info().is_some_and(|(t, u)| t > 0 && u <= t));
    }
}
