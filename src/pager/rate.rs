//! Estimates of how many objects a stretch of seconds holds, for `plan.rs`: rates as exact fractions
//! (no floating point), and a page's typical rate.

use crate::prelude::*;
/// Objects per second, as a fraction.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rate {
    pub objects: u64,
    pub seconds: u64,
}

impl Rate {
    pub const UNKNOWN: Rate = Rate {
        objects: 0,
        seconds: 0,
    };

    pub fn known(self) -> bool {
        self.objects > 0 && self.seconds > 0
    }

    /// Objects expected in `seconds`. Saturating u64 arithmetic: the products stay far below 2⁶⁴ for
    /// any real account (seconds since 1970 times the objects of a page), and u128 division would
    /// add code to the component for nothing.
    pub fn objects_in(self, seconds: u64) -> u64 {
        seconds.saturating_mul(self.objects) / self.seconds.max(1)
    }

    /// Seconds expected to hold `objects` (at least one); `None` while the rate is unknown.
    pub fn seconds_for(self, objects: u64) -> Option<u64> {
        self.known().then(|| {
            objects
                .saturating_mul(self.seconds)
                .div_ceil(self.objects)
                .max(1)
        })
    }
}

/// Objects per second of a page as a typical stretch of the list would hold them: the objects per
/// distinct second they were created in, over the median gap between those seconds. Robust to a quiet
/// week inside the page (one long gap does not move a median) and to a burst (it raises the objects per
/// second by its share only). Unknown below three distinct seconds. Only a page's worth of objects
/// is looked at: Stripe never sends more, and a page that does (a hostile upstream ignoring `limit`)
/// must not make the sort below quadratic in what it sent.
pub(super) fn typical_rate(created: impl Iterator<Item = i64>) -> Rate {
    let created = created.take(super::plan::PAGE as usize);
    let mut gaps: Vec<u64> = Vec::with_capacity(100);
    let (mut objects, mut last) = (0u64, None::<i64>);
    for c in created {
        objects += 1;
        if let Some(l) = last {
            if c != l {
                gaps.push(u64::try_from(l - c).unwrap_or(1));
            }
        }
        last = Some(c);
    }
    if gaps.len() < 2 {
        return Rate::UNKNOWN;
    }
    // Insertion sort: at most 99 gaps (see above), and this keeps the general sort out of the component.
    for i in 1..gaps.len() {
        let mut j = i;
        while j > 0 && gaps[j - 1] > gaps[j] {
            gaps.swap(j - 1, j);
            j -= 1;
        }
    }
    let median = gaps[gaps.len() / 2];
    let distinct = gaps.len() as u64 + 1;
    Rate {
        objects,
        seconds: distinct.saturating_mul(median).max(1),
    }
}

/// ⌊√n⌋, by Newton's method on integers.
pub(super) fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_week_or_a_burst_in_a_page_does_not_move_its_typical_rate() {
        // One object a minute...
        let steady: Vec<i64> = (0..100).map(|i| 1_000_000 - i * 60).collect();
        let rate = typical_rate(steady.iter().copied());
        assert_eq!(rate.objects_in(6000), 100);
        // ...with a quiet week in the middle: the same.
        let quiet: Vec<i64> = steady
            .iter()
            .enumerate()
            .map(|(i, c)| if i < 50 { *c } else { c - 7 * 86_400 })
            .collect();
        assert_eq!(typical_rate(quiet.into_iter()).objects_in(6000), 100);
        // A burst of 30 in the page's last second raises it by its share only.
        let burst = steady[..70].iter().copied().chain([steady[69] - 60; 30]);
        assert_eq!(typical_rate(burst).objects_in(6000), 140);
        // One second, or two, say nothing.
        assert!(!typical_rate([5, 5, 5].into_iter()).known());
        assert!(!typical_rate([6, 5].into_iter()).known());
    }

    #[test]
    fn rates_convert_both_ways_without_overflow() {
        let r = Rate {
            objects: 3,
            seconds: 7,
        };
        assert_eq!(r.objects_in(70), 30);
        assert_eq!(r.seconds_for(30), Some(70));
        assert_eq!(r.seconds_for(1), Some(3));
        assert_eq!(Rate::UNKNOWN.seconds_for(10), None);
        assert_eq!(r.objects_in(u64::MAX), u64::MAX / 7);
        assert_eq!(
            (0..20).map(isqrt).collect::<Vec<_>>(),
            [0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4]
        );
    }

    /// A page far longer than Stripe's 100 (a hostile upstream ignoring `limit`: 140,000 objects fit
    /// the 8 MiB body cap) is judged by its first page's worth of objects: the median's insertion sort
    /// stays within 99 gaps instead of going quadratic in the page (a3: 6.8 s of component CPU for one
    /// 7.7 MB answer whose gaps shrink, against 0.3 s for steady ones).
    #[test]
    fn a_page_far_longer_than_stripes_is_judged_by_its_first_hundred_objects() {
        let consumed = core::cell::Cell::new(0u64);
        // Gaps that shrink one by one: the insertion sort's worst case.
        let mut at = 1_000_000_000i64;
        let created = (0..20_000i64).map(|k| {
            consumed.set(consumed.get() + 1);
            at -= 20_000 - k;
            at
        });
        let rate = typical_rate(created);
        assert!(consumed.get() <= 100, "read {} objects", consumed.get());
        assert!(rate.known());
    }
}
