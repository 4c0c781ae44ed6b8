//! What every generator shares: unique ids, one random stream per table, statuses, small ties,
//! and where creation times come from ([`Timeline`]).

use std::collections::HashSet;

use super::timeline::{QuietWeeks, Sampler, Timeline};
use crate::rng::Rng;

pub(super) struct Gen {
    pub rng: Rng,
    seed: u64,
    ids: HashSet<String>,
    /// On an irregular timeline: the account's quiet weeks, shared by every table.
    quiet: Option<QuietWeeks>,
    /// On an irregular timeline: the current table's creation-time sampler.
    sampler: Option<Sampler>,
}

/// `x` moved into `lo..=hi` (`lo` when the range is empty).
pub(super) fn clamp(x: i64, lo: i64, hi: i64) -> i64 {
    x.max(lo).min(hi.max(lo))
}

impl Gen {
    pub(super) fn new(seed: u64, timeline: Timeline) -> Gen {
        Gen {
            rng: Rng::new(seed, 0),
            seed,
            ids: HashSet::new(),
            quiet: (timeline == Timeline::Irregular).then(|| QuietWeeks::new(seed)),
            sampler: None,
        }
    }

    /// A fresh id: `prefix` + `_` + `len` alphanumerics (long ids start with `1`, like Stripe's).
    pub(super) fn uid(&mut self, prefix: &str, len: usize) -> String {
        loop {
            let body = if len >= 20 {
                format!("1{}", self.rng.alnum(len - 1))
            } else {
                self.rng.alnum(len)
            };
            let id = format!("{prefix}_{body}");
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Switch to random stream `n`: each table draws from its own, so one table's size does not
    /// change another's objects.
    pub(super) fn stream(&mut self, n: u64) {
        self.rng = Rng::new(self.seed, n);
    }

    /// Start a table of `objects` objects on stream `n`; on an irregular timeline it also gets
    /// its own bursts and crowded seconds (sized for `objects`).
    pub(super) fn table(&mut self, n: u64, objects: usize) {
        self.stream(n);
        self.sampler = self
            .quiet
            .as_ref()
            .map(|q| Sampler::new(self.seed, n, objects, q));
    }

    /// On an irregular timeline, a creation time in `lo..=hi` from the current table's sampler;
    /// `None` on a regular one, where the caller keeps its own draw (so regular data sets stay
    /// byte-identical to what they always were).
    pub(super) fn irregular(&mut self, lo: i64, hi: i64) -> Option<i64> {
        let s = self.sampler.as_mut()?;
        Some(s.draw(&mut self.rng, lo, hi))
    }

    /// Pick a status: the first objects cycle through every value, then weighted.
    pub(super) fn status<'a>(&mut self, i: usize, weights: &'a [(&'a str, u64)]) -> &'a str {
        if i < weights.len() {
            weights[i].0
        } else {
            self.rng.weighted(weights)
        }
    }

    /// Sometimes share the previous object's `created`, so ties (ordered by id) occur.
    pub(super) fn maybe_tie(&mut self, created: i64, prev: Option<i64>) -> i64 {
        match prev {
            Some(p) if self.rng.chance(4) => p,
            _ => created,
        }
    }
}
