//! Rate-limit classes and the GCRA (generic cell rate algorithm) that both limiter adapters
//! apply: a bucket of `limit` requests that refills evenly over the window.

use std::fmt;

/// The four classes of SPEC §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateClass {
    Read,
    Write,
    Cost,
    Anonymous,
}

impl RateClass {
    pub const ALL: [RateClass; 4] = [
        RateClass::Read,
        RateClass::Write,
        RateClass::Cost,
        RateClass::Anonymous,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RateClass::Read => "read",
            RateClass::Write => "write",
            RateClass::Cost => "cost",
            RateClass::Anonymous => "anonymous",
        }
    }

    /// Requests per window when no override applies.
    pub const fn default_limit(self) -> u32 {
        match self {
            RateClass::Read => 60,
            RateClass::Write => 30,
            RateClass::Cost => 3,
            RateClass::Anonymous => 60,
        }
    }

    /// When the limiter store is unreachable: `cost` refuses (fail closed), the rest allow.
    pub const fn fails_open(self) -> bool {
        !matches!(self, RateClass::Cost)
    }
}

impl std::str::FromStr for RateClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RateClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a rate-limit class (read, write, cost, anonymous)")
            })
    }
}

/// An account's own limits per class, set by an operator (for a partner integration or a
/// load test). The same limiter runs; only the quota differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides([Option<u32>; 4]);

impl Overrides {
    fn index(class: RateClass) -> usize {
        RateClass::ALL
            .iter()
            .position(|c| *c == class)
            .expect("every class is in ALL")
    }

    pub fn get(&self, class: RateClass) -> Option<u32> {
        self.0[Self::index(class)]
    }

    pub fn set(&mut self, class: RateClass, per_minute: Option<u32>) {
        self.0[Self::index(class)] = per_minute;
    }

    /// The quota for a class: the override, or the class default.
    pub fn quota(&self, class: RateClass) -> Quota {
        Quota::per_minute(self.get(class).unwrap_or(class.default_limit()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (RateClass, u32)> + '_ {
        RateClass::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|n| (c, n)))
    }
}

/// The largest override an operator may set (per minute).
pub const MAX_OVERRIDE: u32 = 10_000_000;

impl fmt::Display for RateClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The window every class is expressed over.
pub const WINDOW_US: u64 = 60_000_000;

/// One bucket's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window_us: u64,
}

impl Quota {
    pub const fn per_minute(limit: u32) -> Self {
        Quota {
            limit,
            window_us: WINDOW_US,
        }
    }

    /// Microseconds one request occupies in the bucket (so limits up to 60 million a minute
    /// are exact).
    pub fn emission_us(&self) -> u64 {
        self.window_us.div_ceil(u64::from(self.limit.max(1))).max(1)
    }

    /// How much time a full bucket holds: exactly `limit` emissions, so a burst at one
    /// instant is exactly the quota whether or not the window divides evenly.
    pub fn capacity_us(&self) -> u64 {
        self.emission_us() * u64::from(self.limit.max(1))
    }
}

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Microseconds until the bucket is full again.
    pub reset_after_us: u64,
    /// Microseconds until a request would be allowed (0 when allowed).
    pub retry_after_us: u64,
}

impl Decision {
    /// Whole seconds until reset, rounded up.
    pub fn reset_after_secs(&self) -> u64 {
        self.reset_after_us.div_ceil(1_000_000)
    }

    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_us.div_ceil(1_000_000).max(1)
    }
}

/// GCRA: given the stored theoretical arrival time (`tat_us`, 0 when none) and now, decides
/// and returns the new TAT to store (unchanged when denied). The Redis script is this
/// function transcribed to Lua; the shared contract suite holds both to the same answers.
pub fn gcra(now_us: u64, tat_us: u64, quota: Quota) -> (Decision, u64) {
    let t = quota.emission_us();
    let tat = tat_us.max(now_us);
    let new_tat = tat + t;
    let capacity = quota.capacity_us();
    let allow_at = new_tat.saturating_sub(capacity);
    if now_us < allow_at {
        let d = Decision {
            allowed: false,
            limit: quota.limit,
            remaining: 0,
            reset_after_us: tat - now_us,
            retry_after_us: allow_at - now_us,
        };
        return (d, tat_us);
    }
    let used = new_tat - now_us;
    let remaining = (capacity.saturating_sub(used) / t) as u32;
    let d = Decision {
        allowed: true,
        limit: quota.limit,
        remaining: remaining.min(quota.limit),
        reset_after_us: used,
        retry_after_us: 0,
    };
    (d, new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overrides_replace_the_class_default() {
        let mut o = Overrides::default();
        assert_eq!(o.quota(RateClass::Read), Quota::per_minute(60));
        o.set(RateClass::Read, Some(100_000));
        assert_eq!(o.quota(RateClass::Read), Quota::per_minute(100_000));
        assert_eq!(o.quota(RateClass::Cost), Quota::per_minute(3));
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            vec![(RateClass::Read, 100_000)]
        );
        assert_eq!("cost".parse::<RateClass>(), Ok(RateClass::Cost));
        assert!("fast".parse::<RateClass>().is_err());
    }

    #[test]
    fn a_fresh_bucket_allows_exactly_limit_then_denies() {
        let q = Quota::per_minute(3);
        let mut tat = 0;
        let now = 1_000_000;
        let mut remaining = vec![];
        for _ in 0..3 {
            let (d, t) = gcra(now, tat, q);
            assert!(d.allowed);
            remaining.push(d.remaining);
            tat = t;
        }
        assert_eq!(remaining, vec![2, 1, 0]);
        let (d, t) = gcra(now, tat, q);
        assert!(!d.allowed);
        assert_eq!(t, tat, "a denial does not consume");
        assert_eq!(d.retry_after_secs(), 20);
        assert_eq!(d.reset_after_secs(), 60);
        // One emission interval later one more request fits.
        let (d, _) = gcra(now + 20_000_000, tat, q);
        assert!(d.allowed);
    }

    proptest! {
        /// Between any two allowed requests, at most `limit` plus one per emission interval
        /// elapsed were allowed (the GCRA guarantee), and no burst exceeds `limit`.
        #[test]
        fn never_more_than_burst_plus_refill(limit in 1u32..100, gaps in proptest::collection::vec(0u64..3_000_000, 1..300)) {
            let q = Quota::per_minute(limit);
            let mut tat = 0;
            let mut now = 10_000_000_000u64;
            let mut allowed_at = vec![];
            for g in gaps {
                now += g;
                let (d, t) = gcra(now, tat, q);
                if d.allowed { allowed_at.push(now); }
                tat = t;
                prop_assert!(d.remaining < limit.max(1));
            }
            for i in 0..allowed_at.len() {
                for j in i..allowed_at.len() {
                    let n = (j - i + 1) as u64;
                    let refill = (allowed_at[j] - allowed_at[i]) / q.emission_us();
                    prop_assert!(n <= u64::from(limit) + refill, "{n} allowed in {} us with limit {limit}", allowed_at[j] - allowed_at[i]);
                }
            }
        }
    }
}

#[cfg(test)]
mod high_limits {
    use super::*;

    /// Operator overrides go far above the defaults; the bucket must still hold exactly.
    #[test]
    fn large_quotas_are_exact() {
        for limit in [30_001u32, 40_000, 100_000, MAX_OVERRIDE] {
            let q = Quota::per_minute(limit);
            let mut tat = 0;
            let now = 5_000_000_000u64;
            let mut allowed = 0u32;
            while allowed <= limit {
                let (d, t) = gcra(now, tat, q);
                if !d.allowed {
                    break;
                }
                allowed += 1;
                tat = t;
            }
            assert_eq!(
                allowed, limit,
                "a burst at one instant fills exactly the quota of {limit}"
            );
        }
    }
}
