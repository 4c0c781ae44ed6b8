//! Planning a concurrent read of one Stripe list through disjoint `created` windows. Pure: no I/O and no
//! Stripe types, so it is unit-tested natively; `run.rs` executes the plan.
//!
//! # Windows
//! A window is a range of whole seconds `[lo, hi)` read newest first by its own cursor. The windows
//! partition the user's `created` range and are kept newest first, so reading them one after the other
//! is reading the list: every second belongs to exactly one window, and inside a window Stripe keeps its
//! own order (a `created`-filtered cursor preserves it). So objects that share a second — hundreds of
//! them, even — are neither lost nor repeated at a boundary, and a burst in one second is simply read
//! by the one cursor whose window holds that second.
//!
//! The first request is the sequential cursor's first page, unchanged. What it shows sizes the rest: a
//! window estimated to hold [`MIN_PAGES`] × 2 pages or more of what is still needed is split. Its cursor
//! keeps going with a raised lower bound over about a quarter of the work left (at least [`MIN_PAGES`]
//! pages' worth of seconds, aimed a little low: a window that runs a few objects over costs a whole extra
//! request, one that runs a few under costs nothing), and a new window takes every second below. The
//! oldest window is open-ended down to the user's lower bound, so whatever the estimates say, nothing is
//! left out. A window may be split while its request is on the way: the page is cut at the new bound
//! and the window is done there. Estimates use each window's last page: its objects per distinct second
//! over the median gap between those seconds, which a quiet week inside the page or a burst at its
//! edge does not distort; a new window starts with its parent's.
//!
//! # How much to ask
//! Windows are asked newest first. A window past the point where the estimates say the target is
//! reached is not asked again, except the first unfinished window, which the sequential cursor needs too.
//! At most [`MAX_IN_FLIGHT`] requests are outstanding. `S`, a lower bound of the sequential cursor's
//! requests, is `ceil(min(objects seen + 1 if more exist, objects it must read) / 100)`: every object seen
//! is one of the list's, so the sequential cursor reads at least that many or stops at its target.
//! Requests start only while the total stays within `S + S/5 + SLACK`, and windows number at most
//! `2 + S/5`: speculation and the partial last pages of windows are paid from what has been proven
//! necessary, with a twentieth of it kept back for the pages the first unfinished window still needs when
//! an estimate was wrong. When nothing is outstanding and the verdict is still open, that window is asked
//! anyway. This is a plan, not a proof: no plan can know how many objects an unread second holds. What
//! `pager/tests.rs` measures is the result: within `S + S/4 + SLACK` requests on irregular accounts.
//!
//! # Verdict
//! Rows are the kept objects (all of them, or the charges whose status matches) in window order, up to
//! the target. The verdict reads the finished windows in order and is reached when the target-th kept
//! object is known, or (for a post-filtered scan) the scan bound's last object, and it is known whether
//! any object follows — exactly what the sequential cursor's `has_more` tells it. A scan bound counts
//! the sequential cursor's pages of 100, so `truncated` and the scan note are the same as its. A window
//! whose request failed fails the query only if the verdict needs that window.

use crate::prelude::*;
mod window;

use super::rate::{isqrt, typical_rate, Rate};
use window::{Kept, State, Window};

/// Requests outstanding at once at most: the manifest's in-flight limit for Stripe.
pub const MAX_IN_FLIGHT: usize = 8;
/// Stripe's largest page.
pub const PAGE: u64 = 100;
/// The fewest pages a split leaves to a window's cursor: a window costs up to one partial page at its
/// end, so windows much shorter than this would spend the 25% on their last pages alone.
const MIN_PAGES: u64 = 2;
/// A split gives the cursor about `1/SHARES` of the work left: short enough that no cursor becomes the
/// one long chain everything waits for, long enough that windows stay few.
const SHARES: u64 = 4;
/// Requests allowed beyond 125% of the proven need: two, so that the first page can be followed by two
/// overlapping requests (25% of a list of up to seven pages is less than one request).
pub const SLACK: u64 = 2;

/// Whole unix seconds `[lo, hi)`; `hi` is `None` for no upper bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub lo: i64,
    pub hi: Option<i64>,
}

/// One object of a page, as the plan needs it.
pub struct Entry<R> {
    pub created: i64,
    /// A hash of the object's id ([`id_hash`]): the same object twice in one second is refused.
    pub id: u64,
    /// Whether the object is a row of the result (false: a charge of another status, skipped).
    pub keep: bool,
    pub row: R,
}

/// FNV-1a over an object's id: what [`Plan::page`] compares to find an object sent twice. Two ids of one
/// second sharing a hash (about 1 in 10^13 for a second of a thousand objects) would be taken for a
/// repeat and stop the query; never the other way round.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One request to start: a page of `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub window: u32,
    pub span: Span,
    pub after: Option<String>,
    pub limit: u32,
}

/// Why a page cannot be used; the query fails with it if the verdict needs this window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// `data: []` with `has_more: true`.
    EmptyWithMore,
    /// `has_more` with a last object already used as a cursor.
    CursorRepeat(String),
    /// An object outside the window or newer than the one before it.
    Disorder(i64),
    /// An object already read, again in the same second (within a page, or the cursor's object at the
    /// start of the next one).
    Repeat(i64),
    /// More pages than the query can need.
    TooManyPages(u64),
}

/// Where the query stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pending,
    /// The window whose failure the verdict needs.
    Failed(u32),
    Done(Done),
}

/// The result's extent: rows up to object `at` of window number `window` (all of them when `window` is
/// past the last), whether more objects follow, and, when a scan stopped at its bound, how many
/// objects the sequential cursor would have read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    window: usize,
    at: u64,
    pub truncated: bool,
    pub scanned: Option<u64>,
    /// Objects of the list up to the result's last one (kept or not): what the sequential cursor
    /// looked at to produce the result.
    pub read: u64,
}

/// What the estimates say at one moment.
struct Estimate {
    /// A lower bound of the sequential cursor's requests.
    proven: u64,
    /// Objects of each window (in order) estimated to be needed still.
    needed: Vec<u64>,
    /// Objects per second over everything read so far: the rate of last resort.
    average: Rate,
}

/// The plan of one query; `R` is a row.
pub struct Plan<R> {
    target: u64,
    /// For a post-filtered scan, the objects the sequential cursor reads at most: its scan bound (the
    /// last page asks for the rest only).
    scan_cap: Option<u64>,
    max_pages: u64,
    windows: Vec<Window<R>>,
    issued: u64,
    pages: u64,
    cursors: Vec<String>,
    next_id: u32,
}

impl<R> Plan<R> {
    /// A plan for `target` rows of the list in `span`; `scan_cap` for a post-filtered scan; `max_pages`
    /// pages at most (more is a [`Guard::TooManyPages`]).
    pub fn new(target: u64, scan_cap: Option<u64>, span: Span, max_pages: u64) -> Self {
        Plan {
            target: target.max(1),
            scan_cap,
            max_pages,
            windows: vec![Window::new(0, span.lo, span.hi, Rate::UNKNOWN)],
            issued: 0,
            pages: 0,
            cursors: Vec::new(),
            next_id: 1,
        }
    }

    /// Rows found so far in every window (the result's, and any a later window holds past its end):
    /// for progress reports only.
    pub fn found(&self) -> u64 {
        self.windows.iter().map(Window::kept_count).sum()
    }

    /// Requests asked for so far (retries are not the plan's business).
    #[cfg(test)]
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// The next request to start now, with `outstanding` requests (asked for, not yet handed to
    /// [`Plan::page`] or [`Plan::fail`]) in flight; `None` when nothing should start now.
    pub fn next(&mut self, outstanding: usize) -> Option<Ask> {
        if outstanding >= MAX_IN_FLIGHT || self.verdict() != Verdict::Pending {
            return None;
        }
        // Each split adds a window that wants a request, so a few rounds fill the free slots; the bound
        // only guards against estimates that would keep splitting.
        let mut splits = 0;
        loop {
            let est = self.estimate();
            let head = self.windows.iter().position(|w| w.state != State::Done)?;
            // The windows that want a request now: the first unfinished one, and those the estimates
            // say the result still needs.
            let mut wants = (0..self.windows.len()).filter(|&i| {
                matches!(self.windows[i].state, State::Idle | State::More)
                    && (i == head || est.needed[i] > 0)
            });
            let first = wants.next()?;
            let wanting = 1 + wants.count();
            let allowed = est.proven + est.proven / 5 + SLACK;
            let headroom = usize::try_from(allowed.saturating_sub(self.issued)).unwrap_or(0);
            let free = (MAX_IN_FLIGHT - outstanding).min(headroom);
            if free == 0 {
                // Nothing may be speculated, but a query must progress: the first unfinished window is
                // needed by the sequential cursor too.
                return (outstanding == 0 && first == head).then(|| self.ask(head));
            }
            if splits < MAX_IN_FLIGHT
                && free > wanting
                && (self.windows.len() as u64) < 2 + est.proven / 5
                && self.split(&est)
            {
                splits += 1;
                continue;
            }
            return Some(self.ask(first));
        }
    }

    fn ask(&mut self, i: usize) -> Ask {
        let before: u64 = self.windows[..i].iter().map(|w| w.fetched).sum();
        let bound = self.scan_cap.unwrap_or(self.target);
        let w = &mut self.windows[i];
        // Never more than the result can use: the rows still wanted, or the scan bound's rest. At least
        // one, which tells whether anything follows.
        let limit = bound.saturating_sub(before + w.fetched).clamp(1, PAGE) as u32;
        w.state = State::Busy;
        w.asked_lo = w.lo;
        self.issued += 1;
        Ask {
            window: w.id,
            span: Span { lo: w.lo, hi: w.hi },
            after: w.after.clone(),
            limit,
        }
    }

    fn estimate(&self) -> Estimate {
        let seen: u64 = self.windows.iter().map(|w| w.fetched).sum();
        let kept: u64 = self.windows.iter().map(Window::kept_count).sum();
        let more = u64::from(self.windows.iter().any(|w| w.more));
        // Objects the sequential cursor reads: the target, or for a scan the target at the share of
        // matches seen so far (+1/+2: a first page without a match does not make it infinite), within
        // the scan bound.
        let must_read = match self.scan_cap {
            None => self.target,
            Some(cap) => {
                let at_share = self.target.saturating_mul(seen + 2) / (kept + 1);
                cap.min(self.target.max(at_share))
            }
        };
        let proven = (seen + more).min(must_read).div_ceil(PAGE).max(1);
        let average = self
            .windows
            .iter()
            .filter_map(Window::seen)
            .fold(Rate::UNKNOWN, |sum, r| Rate {
                objects: sum.objects + r.objects,
                seconds: sum.seconds + r.seconds,
            });
        let mut before = 0u64;
        let needed = self
            .windows
            .iter()
            .map(|w| {
                let rest = match (w.state, w.next_second()) {
                    (State::Done, _) => 0,
                    // Nothing to go by yet: the whole list, for all we know.
                    (_, None) => u64::MAX / 4,
                    (_, Some(top)) => {
                        let seconds =
                            u64::try_from(top.saturating_sub(w.lo).saturating_add(1)).unwrap_or(0);
                        let est = w.rate(average).objects_in(seconds);
                        if w.more {
                            est.max(1)
                        } else {
                            est
                        }
                    }
                };
                let needed = rest.min(must_read.saturating_sub(before + w.fetched));
                before = before.saturating_add(w.fetched).saturating_add(rest);
                needed
            })
            .collect();
        Estimate {
            proven,
            needed,
            average,
        }
    }

    /// Split the window with the most still needed (at least `2 × MIN_PAGES` pages): its cursor keeps
    /// about a quarter of the work left, a new window takes the seconds below. False when no window can
    /// be split.
    fn split(&mut self, est: &Estimate) -> bool {
        let left: u64 = est.needed.iter().sum();
        let share = left.div_ceil(PAGE).div_ceil(SHARES).max(MIN_PAGES);
        let mut best: Option<(usize, i64, Rate)> = None;
        let mut best_needed = 0;
        for (i, w) in self.windows.iter().enumerate() {
            let needed = est.needed[i];
            // A window with a request on its way may be split too: its page is cut at the new bound.
            if !matches!(w.state, State::More | State::Busy)
                || w.fetched == 0
                || needed < 2 * MIN_PAGES * PAGE
                || needed <= best_needed
            {
                continue;
            }
            let Some(top) = w.next_second() else {
                continue;
            };
            let rate = w.rate(est.average);
            let pages = share.min(needed.div_ceil(PAGE) / 2).max(MIN_PAGES);
            // Aim below a whole number of pages by two standard deviations of a Poisson count.
            let aim = pages * PAGE - 2 * isqrt(pages * PAGE);
            let Some(seconds) = rate.seconds_for(aim) else {
                continue;
            };
            let at = i64::try_from(seconds)
                .ok()
                .and_then(|s| top.checked_add(1)?.checked_sub(s));
            if let Some(m) = at.filter(|m| *m > w.lo) {
                best = Some((i, m, rate));
                best_needed = needed;
            }
        }
        let Some((i, at, rate)) = best else {
            return false;
        };
        let lo = self.windows[i].lo;
        self.windows[i].lo = at;
        let id = self.next_id;
        self.next_id += 1;
        self.windows
            .insert(i + 1, Window::new(id, lo, Some(at), rate));
        true
    }

    fn index(&self, window: u32) -> Option<usize> {
        self.windows.iter().position(|w| w.id == window)
    }

    /// A page of `window` arrived.
    pub fn page(
        &mut self,
        window: u32,
        mut entries: Vec<Entry<R>>,
        mut has_more: bool,
        last_id: Option<String>,
    ) -> Result<(), Guard> {
        let Some(i) = self.index(window) else {
            return Ok(());
        };
        self.pages += 1;
        let w = &self.windows[i];
        if has_more && entries.is_empty() {
            return Err(Guard::EmptyWithMore);
        }
        let mut prev = w.oldest;
        let mut cut = None;
        // The ids of the window's oldest second so far: ties are the only place an object can come
        // back without being out of order.
        let mut second = core::mem::take(&mut self.windows[i].oldest_ids);
        let w = &self.windows[i];
        for (n, e) in entries.iter().enumerate() {
            let inside = e.created >= w.asked_lo && w.hi.is_none_or(|h| e.created < h);
            if !inside || prev.is_some_and(|p| e.created > p) {
                return Err(Guard::Disorder(e.created));
            }
            if e.created < w.lo {
                cut = cut.or(Some(n));
            } else {
                if prev != Some(e.created) {
                    second.clear();
                } else if second.contains(&e.id) {
                    return Err(Guard::Repeat(e.created));
                }
                second.push(e.id);
                prev = Some(e.created);
            }
        }
        self.windows[i].oldest_ids = second;
        if let Some(n) = cut {
            // The window was split while this page was on its way: what lies below its new lower bound
            // belongs to the new window, which reads it itself; this window is done.
            entries.truncate(n);
            has_more = false;
        }
        if has_more {
            let Some(next) = &last_id else {
                return Err(Guard::EmptyWithMore);
            };
            if self.cursors.contains(next) {
                return Err(Guard::CursorRepeat(next.clone()));
            }
            if self.pages >= self.max_pages {
                return Err(Guard::TooManyPages(self.pages));
            }
            self.cursors.push(next.clone());
        }
        let typical = typical_rate(entries.iter().map(|e| e.created));
        let w = &mut self.windows[i];
        if w.newest.is_none() {
            w.newest = entries.first().map(|e| e.created);
        }
        if typical.known() {
            w.typical = typical;
        }
        w.oldest = prev;
        for e in entries {
            if e.keep {
                w.kept.push(Kept {
                    at: w.fetched,
                    row: e.row,
                });
            }
            w.fetched += 1;
        }
        w.more = has_more;
        w.after = last_id;
        w.state = if has_more { State::More } else { State::Done };
        Ok(())
    }

    /// The request for `window` failed for good.
    pub fn fail(&mut self, window: u32) {
        if let Some(i) = self.index(window) {
            self.windows[i].state = State::Failed;
        }
    }

    /// Where the query stands now.
    pub fn verdict(&self) -> Verdict {
        let (mut pos, mut matched) = (0u64, 0u64);
        for (i, w) in self.windows.iter().enumerate() {
            let kept = w.kept_count();
            let mut stop = None;
            if matched + kept >= self.target {
                // Never a settled row: `settle` leaves every window the result may end in.
                let nth = (self.target - matched - 1).saturating_sub(w.settled) as usize;
                let at = w.kept.get(nth).map_or(0, |k| k.at);
                if self.scan_cap.is_none_or(|cap| pos + at < cap) {
                    stop = Some((at, None));
                }
            }
            if let (None, Some(cap)) = (stop, self.scan_cap) {
                if pos + w.fetched >= cap {
                    stop = Some((cap - pos - 1, Some(cap)));
                }
            }
            if let Some((at, cap)) = stop {
                // A post-filtered result that reached its target is truncated only if another match
                // follows, which may take reading on; any other stop, if any object follows.
                let follows = match (cap, self.scan_cap) {
                    (None, Some(scan_cap)) => self.match_follows(i, at, pos, scan_cap),
                    _ => self
                        .follows(i, at)
                        .map(|r| r.map(|more| (more, cap.filter(|_| more)))),
                };
                return match follows {
                    Some(Ok((more, scanned))) => Verdict::Done(Done {
                        window: i,
                        at,
                        truncated: more,
                        scanned,
                        read: pos + at + 1,
                    }),
                    Some(Err(id)) => Verdict::Failed(id),
                    None => Verdict::Pending,
                };
            }
            match w.state {
                State::Done => {}
                State::Failed => return Verdict::Failed(w.id),
                _ => return Verdict::Pending,
            }
            pos += w.fetched;
            matched += kept;
        }
        Verdict::Done(Done {
            window: self.windows.len(),
            at: 0,
            truncated: false,
            scanned: None,
            read: pos,
        })
    }

    /// Hand `sink` every kept row that is sure to be in the result, in list order, and forget it: the
    /// rows of the finished windows at the front of the list, as long as the target and the scan bound
    /// lie beyond them (so the result cannot end inside them). [`Plan::into_rows`] then gives the rest.
    /// An aggregate folds rows this way as they arrive instead of holding them all.
    pub fn settle<E>(&mut self, sink: &mut dyn FnMut(R) -> Result<(), E>) -> Result<(), E> {
        let (mut pos, mut matched) = (0u64, 0u64);
        for w in &mut self.windows {
            let kept = w.kept_count();
            let within = matched + kept < self.target
                && self.scan_cap.is_none_or(|cap| pos + w.fetched < cap);
            if w.state != State::Done || !within {
                break;
            }
            for k in w.kept.drain(..) {
                w.settled += 1;
                sink(k.row)?;
            }
            pos += w.fetched;
            matched += kept;
        }
        Ok(())
    }

    /// Whether any object follows object `at` of window `i`: `None` while unknown, `Err` when only a
    /// failed window could tell.
    fn follows(&self, i: usize, at: u64) -> Option<Result<bool, u32>> {
        let w = &self.windows[i];
        if at + 1 < w.fetched || w.more {
            return Some(Ok(true));
        }
        for v in &self.windows[i + 1..] {
            if v.fetched > 0 {
                return Some(Ok(true));
            }
            match v.state {
                State::Done => {}
                State::Failed => return Some(Err(v.id)),
                _ => return None,
            }
        }
        Some(Ok(false))
    }

    /// Whether a kept object follows object `at` of window `i` (which starts at list position `pos`),
    /// judged as one cursor judges it, reading no further than the scan bound `cap`; and the bound when
    /// it is what answers: the objects up to it hold none and more follow (unknown, so possibly:
    /// truncated, with the scan's note). What windows read past the bound — a match, or the list's
    /// end — is what the cursor never sees, so it decides nothing (review: it made a result complete,
    /// or dropped the note). `None` while it takes reading on.
    fn match_follows(
        &self,
        i: usize,
        at: u64,
        pos: u64,
        cap: u64,
    ) -> Option<Result<(bool, Option<u64>), u32>> {
        // List position of the current window's first object, and the first index in it to look at.
        let (mut start, mut from) = (pos, at + 1);
        for v in &self.windows[i..] {
            if let Some(k) = v.kept.iter().find(|k| k.at >= from) {
                // A match follows: within the bound, or only past it (which the cursor never reads).
                return Some(Ok((true, (start + k.at >= cap).then_some(cap))));
            }
            if start + v.fetched > cap || (v.more && start + v.fetched >= cap) {
                // Objects past the bound exist, none of them looked at.
                return Some(Ok((true, Some(cap))));
            }
            if v.more {
                return None;
            }
            match v.state {
                State::Done => {}
                State::Failed => return Some(Err(v.id)),
                _ => return None,
            }
            start += v.fetched;
            from = 0;
        }
        Some(Ok((false, None)))
    }

    /// The rows of a [`Verdict::Done`], in list order.
    pub fn into_rows(self, done: &Done) -> Vec<R> {
        let mut rows = Vec::new();
        for (i, w) in self.windows.into_iter().enumerate() {
            if i > done.window {
                break;
            }
            for k in w.kept {
                if i == done.window && k.at > done.at {
                    break;
                }
                rows.push(k.row);
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests;
