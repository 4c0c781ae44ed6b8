//! Where creation times fall. A regular timeline is the emulator's original data set; an
//! irregular one looks like a real account and holds the cases that make paging by `created`
//! windows hard: bursts, single seconds holding more objects than a page, weeks with nothing.

use super::{DAY, HOUR, NOW};
use crate::rng::Rng;

/// How creation times (`created`) spread over a data set's two years.
///
/// Either way every list is ordered by `created` descending and, within one second, by `id`
/// descending; a `created` filter only skips objects, so a plain cursor and a `created`-filtered
/// cursor see the objects of any one second in the same order (see the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Timeline {
    /// Random seconds over two years, now and then two or three objects in one second. The data
    /// set the emulator has always served: byte-identical for a seed and counts.
    #[default]
    Regular,
    /// Like a real account, deterministic for a seed and counts, for every table:
    /// - nine quiet weeks (whole weeks, more than 30 days ago, the same for every table) in
    ///   which nothing is created;
    /// - six crowded seconds per table, each holding many objects with the same `created`: in a
    ///   table of 2,610 or more the largest holds about 300 (three pages of 100; it lies 60 to
    ///   200 days back, so objects that must follow their customer can land in it), the others
    ///   about 150, 100, 60, 30 and 12; a smaller table gets proportionally smaller ones;
    /// - ten bursts per table in the last 500 days, each up to a few hundred objects within 2 to
    ///   8 seconds (400, 300, 250, ... 40 in a table of 6,800 or more, proportionally fewer in
    ///   a smaller one);
    /// - the rest over uneven months that grow towards now.
    ///
    /// Objects whose status ties them to the last days (pending charges and payouts, trialing
    /// and incomplete subscriptions, draft invoices) stay there, as on a regular timeline.
    Irregular,
}

/// The timeline's span: two years up to an hour before [`NOW`].
const START: i64 = NOW - 730 * DAY;
const END: i64 = NOW - HOUR;
const WEEK: i64 = 7 * DAY;
/// Quiet weeks and crowded seconds stay at least this far from now, so objects that a status
/// keeps in the last days never fall into a quiet week.
const RECENT: i64 = 30 * DAY;
const QUIET_WEEKS: usize = 9;
/// The timeline's own random streams, apart from the tables' (0 to 6).
const QUIET_STREAM: u64 = 0x71_0000;
const TABLE_STREAM: u64 = 0x72_0000;
/// Expected objects in a table's crowded seconds and bursts, for a table big enough; a smaller
/// table scales them down so that each kind holds at most a quarter of it.
const CROWDED: [f64; 6] = [300.0, 150.0, 100.0, 60.0, 30.0, 12.0];
const BURSTS: [f64; 10] = [
    400.0, 300.0, 250.0, 200.0, 150.0, 120.0, 100.0, 80.0, 60.0, 40.0,
];
/// Uneven months: the background's activity per month.
const MONTHS: i64 = 24;
/// Draws from the sampler before a narrow `lo..=hi` falls back to a uniform draw.
const TRIES: usize = 32;

/// The weeks in which the account created nothing, sorted, as `[start, end)` seconds.
pub(super) struct QuietWeeks(Vec<(i64, i64)>);

impl QuietWeeks {
    pub(super) fn new(seed: u64) -> QuietWeeks {
        let mut rng = Rng::new(seed, QUIET_STREAM);
        let weeks = ((NOW - RECENT - START) / WEEK) as u64;
        let mut picked: Vec<i64> = Vec::with_capacity(QUIET_WEEKS);
        while picked.len() < QUIET_WEEKS {
            let w = rng.below(weeks) as i64;
            if !picked.contains(&w) {
                picked.push(w);
            }
        }
        picked.sort_unstable();
        QuietWeeks(
            picked
                .into_iter()
                .map(|w| (START + w * WEEK, START + (w + 1) * WEEK))
                .collect(),
        )
    }

    fn containing(&self, t: i64) -> Option<(i64, i64)> {
        self.0.iter().copied().find(|&(a, b)| a <= t && t < b)
    }

    /// `t`, or the nearest second after (else before) its quiet weeks, if that stays in `lo..=hi`.
    fn avoid(&self, t: i64, lo: i64, hi: i64) -> i64 {
        let mut after = t;
        while let Some((_, b)) = self.containing(after) {
            after = b;
        }
        if after <= hi {
            return after;
        }
        let mut before = t;
        while let Some((a, _)) = self.containing(before) {
            before = a - 1;
        }
        if before >= lo {
            before
        } else {
            t
        }
    }

    /// The parts of `[a, b)` outside every quiet week.
    fn cut(&self, a: i64, b: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut at = a;
        for &(qa, qb) in &self.0 {
            if qb <= at || qa >= b {
                continue;
            }
            if qa > at {
                out.push((at, qa));
            }
            at = at.max(qb);
        }
        if at < b {
            out.push((at, b));
        }
        out
    }
}

/// One piece of a table's creation-time mixture: seconds `start..start+len`, the running total
/// of the weights up to and including it, and for a crowded second or a burst how many more
/// objects it takes.
struct Part {
    start: i64,
    len: u64,
    upto: u64,
    room: Option<u64>,
}

/// A table's creation times on an irregular timeline: a weighted mixture of crowded seconds,
/// bursts and the months around the quiet weeks.
pub(super) struct Sampler {
    parts: Vec<Part>,
    quiet: QuietWeeks,
}

impl Sampler {
    /// The sampler of the table on stream `stream` with `objects` objects.
    pub(super) fn new(seed: u64, stream: u64, objects: usize, quiet: &QuietWeeks) -> Sampler {
        let mut rng = Rng::new(seed, TABLE_STREAM + stream);
        let n = objects as f64;
        let crowded_total: f64 = CROWDED.iter().sum();
        let bursts_total: f64 = BURSTS.iter().sum();
        let crowded_scale = (0.25 * n / crowded_total).min(1.0);
        let bursts_scale = (0.25 * n / bursts_total).min(1.0);
        // (first second, seconds, expected objects, at most this many objects)
        let mut pieces: Vec<(i64, i64, f64, Option<u64>)> = Vec::new();
        for (i, size) in CROWDED.iter().enumerate() {
            let (lo, hi) = if i == 0 {
                (NOW - 200 * DAY, NOW - 60 * DAY)
            } else {
                (START + RECENT, NOW - RECENT)
            };
            let t = quiet.avoid(rng.range(lo, hi), lo, hi);
            let size = size * crowded_scale;
            pieces.push((t, 1, size, Some(size.round() as u64)));
        }
        for size in BURSTS {
            let len = rng.range(2, 8);
            // In the later two thirds: objects that must follow their customer (or their
            // subscription) can land in them.
            let (lo, hi) = (NOW - 500 * DAY, NOW - RECENT);
            let mut t = quiet.avoid(rng.range(lo, hi), lo, hi);
            if let Some((a, _)) = quiet.containing(t + len - 1) {
                t = a - len;
            }
            let size = size * bursts_scale;
            pieces.push((t, len, size, Some(size.round() as u64)));
        }
        let background =
            (n - crowded_scale * crowded_total - bursts_scale * bursts_total).max(n / 2.0);
        let month = (END + 1 - START) / MONTHS;
        let mut months: Vec<(i64, i64, f64)> = Vec::new();
        for m in 0..MONTHS {
            let a = START + m * month;
            let b = if m == MONTHS - 1 { END + 1 } else { a + month };
            // A growing business with uneven months.
            let activity = (8 + m) as f64 * rng.range(40, 160) as f64;
            for (pa, pb) in quiet.cut(a, b) {
                months.push((pa, pb - pa, activity * (pb - pa) as f64));
            }
        }
        let activity: f64 = months.iter().map(|m| m.2).sum();
        pieces.extend(
            months
                .into_iter()
                .map(|(a, len, w)| (a, len, background * w / activity.max(1.0), None)),
        );
        let mut upto = 0u64;
        let parts = pieces
            .into_iter()
            .map(|(start, len, expected, room)| {
                // Thousandths of an object, at least one, so an empty table still samples.
                upto += ((expected * 1000.0).round() as u64).max(1);
                Part {
                    start,
                    len: len.max(1) as u64,
                    upto,
                    room,
                }
            })
            .collect();
        Sampler {
            parts,
            quiet: QuietWeeks(quiet.0.clone()),
        }
    }

    /// One time from the mixture, if it lies in `lo..=hi` and its piece has room.
    fn sample(&mut self, rng: &mut Rng, lo: i64, hi: i64) -> Option<i64> {
        let total = self.parts.last().map_or(0, |p| p.upto);
        let x = rng.below(total);
        let i = self.parts.partition_point(|p| p.upto <= x);
        let p = self.parts.get_mut(i)?;
        let t = p.start + rng.below(p.len) as i64;
        if !(lo..=hi).contains(&t) || p.room == Some(0) {
            return None;
        }
        // Objects restricted to a late range (after their customer) would crowd the crowded
        // seconds and bursts beyond their size; each takes only as many as it was sized for.
        if let Some(room) = &mut p.room {
            *room -= 1;
        }
        Some(t)
    }

    /// A creation time in `lo..=hi` (`lo` when the range is empty): from the mixture when it
    /// has enough weight there, else uniform in the range outside the quiet weeks.
    pub(super) fn draw(&mut self, rng: &mut Rng, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        for _ in 0..TRIES {
            if let Some(t) = self.sample(rng, lo, hi) {
                return t;
            }
        }
        self.quiet.avoid(rng.range(lo, hi), lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_weeks_are_whole_old_weeks_and_cut_out_of_spans() {
        let q = QuietWeeks::new(42);
        assert_eq!(q.0.len(), QUIET_WEEKS);
        for &(a, b) in &q.0 {
            assert_eq!(b - a, WEEK);
            assert!(a >= START && b <= NOW - RECENT);
            let moved = q.avoid(a + 5, START, END);
            assert!(moved >= b && q.containing(moved).is_none());
            // With no room after, it moves before.
            let back = q.avoid(a + 5, START, a + 10);
            assert!(back < a && q.containing(back).is_none());
        }
        let pieces = q.cut(START, END);
        let covered: i64 = pieces.iter().map(|(a, b)| b - a).sum();
        assert_eq!(covered, END - START - QUIET_WEEKS as i64 * WEEK);
        for (a, b) in pieces {
            assert!(q.containing(a).is_none() && q.containing(b - 1).is_none());
        }
    }

    #[test]
    fn draws_stay_in_range_and_out_of_quiet_weeks() {
        let q = QuietWeeks::new(7);
        let mut s = Sampler::new(7, 2, 10_000, &q);
        let mut rng = Rng::new(1, 1);
        for (lo, hi) in [
            (START, END),
            (NOW - 400 * DAY, NOW - 60),
            (NOW - 3 * DAY, NOW - 2 * DAY),
            (q.0[0].0 - 10, q.0[0].1 + 10),
        ] {
            for _ in 0..2000 {
                let t = s.draw(&mut rng, lo, hi);
                assert!((lo..=hi).contains(&t), "{t} not in {lo}..={hi}");
                assert!(q.containing(t).is_none(), "{t} is in a quiet week");
            }
        }
        assert_eq!(s.draw(&mut rng, 5, 5), 5);
        assert_eq!(s.draw(&mut rng, 9, 3), 9);
        // Empty tables still build a sampler that draws.
        let mut empty = Sampler::new(7, 2, 0, &q);
        assert!((START..=END).contains(&empty.draw(&mut rng, START, END)));
    }
}
