//! The rate limiter (`--rate-limit=execution_count`): an instance executes only while the
//! resources its instance group declares (`rate_limiter { resources [...] }`) are available.
//!
//! Resources are counted per device, or once for the whole server when marked `global`. The
//! amount of a resource is what `TRITONSERVER_ServerOptionsAddRateLimiterResource` gave, or
//! else the largest amount any loaded instance needs (so every instance can run alone), as
//! upstream does.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use triton_model_config::pb;

use crate::engine::error::{Error, Result};
use crate::engine::sync::lock;

/// One resource pool: (name, device); global resources use device -1.
type Key = (String, i32);

/// What one instance needs to execute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs(Vec<(Key, u64)>);

impl Needs {
    /// The needs of an instance of `group` on `device`.
    pub fn of(group: &pb::ModelInstanceGroup, device: i32) -> Needs {
        Needs(
            group
                .rate_limiter
                .as_ref()
                .map(|r| {
                    r.resources
                        .iter()
                        .map(|res| {
                            let d = if res.global { -1 } else { device };
                            ((res.name.clone(), d), u64::from(res.count))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Default)]
struct Pools {
    /// Total amount per resource.
    total: HashMap<Key, u64>,
    /// Amount in use per resource.
    used: HashMap<Key, u64>,
    /// Resources whose total was given explicitly by the server options.
    explicit: HashMap<Key, u64>,
    /// Whether each named resource is global (a name must not be both).
    global: HashMap<String, bool>,
}

/// The server's rate limiter.
pub struct RateLimiter {
    enabled: bool,
    pools: Mutex<Pools>,
    cv: Condvar,
}

impl RateLimiter {
    /// A rate limiter; `resources` are (name, count, device) from the server options (device
    /// -1: that count on every device).
    pub fn new(enabled: bool, resources: &[(String, u64, i32)]) -> RateLimiter {
        let mut pools = Pools::default();
        for (name, count, device) in resources {
            pools.explicit.insert((name.clone(), *device), *count);
        }
        RateLimiter {
            enabled,
            pools: Mutex::new(pools),
            cv: Condvar::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Account for an instance being loaded: size its pools. Conflicting global/per-device use
    /// of one resource name is an error, as upstream.
    pub fn register(&self, needs: &Needs) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let mut p = lock(&self.pools);
        for ((name, device), count) in &needs.0 {
            let global = *device == -1;
            if let Some(g) = p.global.get(name) {
                if *g != global {
                    return Err(Error::invalid_arg(format!(
                        "Resource \"{name}\" is present as both global and device-specific resource in the model configuration."
                    )));
                }
            }
            p.global.insert(name.clone(), global);
            let key = (name.clone(), *device);
            let explicit = p
                .explicit
                .get(&key)
                .or_else(|| p.explicit.get(&(name.clone(), -1)))
                .copied();
            let total = p.total.entry(key).or_insert(0);
            *total = match explicit {
                Some(e) => e,
                None => (*total).max(*count),
            };
        }
        drop(p);
        self.cv.notify_all();
        Ok(())
    }

    /// Wait until the resources are free and take them.
    pub fn acquire(&self, needs: &Needs) {
        if !self.enabled || needs.is_empty() {
            return;
        }
        let mut p = lock(&self.pools);
        loop {
            let fits = needs.0.iter().all(|(k, c)| {
                let total = p.total.get(k).copied().unwrap_or(0);
                let used = p.used.get(k).copied().unwrap_or(0);
                // A need larger than the pool could never run: let it run alone.
                used + c <= total || (used == 0 && *c > total)
            });
            if fits {
                for (k, c) in &needs.0 {
                    *p.used.entry(k.clone()).or_insert(0) += c;
                }
                return;
            }
            p = crate::engine::sync::wait(&self.cv, p);
        }
    }

    /// Give back what `acquire` took.
    pub fn release(&self, needs: &Needs) {
        if !self.enabled || needs.is_empty() {
            return;
        }
        let mut p = lock(&self.pools);
        for (k, c) in &needs.0 {
            if let Some(u) = p.used.get_mut(k) {
                *u = u.saturating_sub(*c);
            }
        }
        drop(p);
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn group(res: &[(&str, bool, u32)]) -> pb::ModelInstanceGroup {
        pb::ModelInstanceGroup {
            rate_limiter: Some(pb::ModelRateLimiter {
                resources: res
                    .iter()
                    .map(|(n, g, c)| pb::model_rate_limiter::Resource {
                        name: (*n).into(),
                        global: *g,
                        count: *c,
                    })
                    .collect(),
                priority: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn instances_share_a_resource() {
        let rl = Arc::new(RateLimiter::new(true, &[("R".into(), 2, -1)]));
        let needs = Needs::of(&group(&[("R", false, 1)]), 0);
        rl.register(&needs).unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (rl, needs, inside, max) =
                    (rl.clone(), needs.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    for _ in 0..30 {
                        rl.acquire(&needs);
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        rl.release(&needs);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn pools_default_to_the_largest_need_and_names_are_global_or_not() {
        let rl = RateLimiter::new(true, &[]);
        rl.register(&Needs::of(&group(&[("G", true, 3)]), 0))
            .unwrap();
        rl.register(&Needs::of(&group(&[("G", true, 1)]), 1))
            .unwrap();
        assert_eq!(lock(&rl.pools).total[&("G".to_owned(), -1)], 3);
        let e = rl
            .register(&Needs::of(&group(&[("G", false, 1)]), 0))
            .unwrap_err();
        assert!(e.message().contains("both global and device-specific"));
        // Disabled: nothing is counted or waited for.
        let off = RateLimiter::new(false, &[]);
        let n = Needs::of(&group(&[("X", false, 5)]), 0);
        off.register(&n).unwrap();
        off.acquire(&n);
        off.acquire(&n);
    }
}
