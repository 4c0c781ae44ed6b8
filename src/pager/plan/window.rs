//! One window of a [`super::Plan`]: a range of seconds read newest first by its own cursor, what it has
//! read so far and the rows it keeps.

use super::super::rate::Rate;
use crate::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Created by a split, not asked yet.
    Idle,
    /// A request is outstanding.
    Busy,
    /// Has more after its cursor.
    More,
    Done,
    Failed,
}

pub(super) struct Kept<R> {
    /// Position within the window.
    pub(super) at: u64,
    pub(super) row: R,
}

pub(super) struct Window<R> {
    pub(super) id: u32,
    pub(super) lo: i64,
    /// `lo` when the outstanding request was asked (a split may raise `lo` meanwhile).
    pub(super) asked_lo: i64,
    pub(super) hi: Option<i64>,
    pub(super) after: Option<String>,
    pub(super) newest: Option<i64>,
    pub(super) oldest: Option<i64>,
    pub(super) fetched: u64,
    pub(super) kept: Vec<Kept<R>>,
    /// Kept rows already handed to `Plan::settle`'s caller (they are no longer in `kept`).
    pub(super) settled: u64,
    /// The last page said `has_more`.
    pub(super) more: bool,
    pub(super) state: State,
    /// The parent's rate, for a window without pages of its own.
    pub(super) inherited: Rate,
    /// The last page's typical rate (`rate.rs`): where the cursor is now.
    pub(super) typical: Rate,
    /// [`super::id_hash`]es of the objects read in the oldest second so far.
    pub(super) oldest_ids: Vec<u64>,
}

impl<R> Window<R> {
    pub(super) fn new(id: u32, lo: i64, hi: Option<i64>, inherited: Rate) -> Self {
        Window {
            id,
            lo,
            asked_lo: lo,
            hi,
            after: None,
            newest: None,
            oldest: None,
            fetched: 0,
            kept: Vec::new(),
            settled: 0,
            more: false,
            state: State::Idle,
            inherited,
            typical: Rate::UNKNOWN,
            oldest_ids: Vec::new(),
        }
    }

    /// Rows kept in this window, settled or not.
    pub(super) fn kept_count(&self) -> u64 {
        self.settled + self.kept.len() as u64
    }

    /// The newest second this window stands for: its upper bound, or its newest object when it has
    /// none (the first window of an open range).
    pub(super) fn top(&self) -> Option<i64> {
        self.hi.map(|h| h - 1).or(self.newest)
    }

    /// Seconds read so far and the objects in them; `None` before the first page.
    pub(super) fn seen(&self) -> Option<Rate> {
        let top = self.top()?;
        let bottom = if self.state == State::Done {
            self.lo
        } else {
            self.oldest?
        };
        let seconds = u64::try_from(top.checked_sub(bottom)?.checked_add(1)?).ok()?;
        Some(Rate {
            objects: self.fetched,
            seconds,
        })
    }

    /// Objects per second expected below the cursor.
    pub(super) fn rate(&self, average: Rate) -> Rate {
        if self.typical.known() {
            self.typical
        } else if self.inherited.known() {
            self.inherited
        } else {
            average
        }
    }

    /// The second the cursor stands in (it may hold more objects) or, before any page, the window's
    /// top: the newest second still to read.
    pub(super) fn next_second(&self) -> Option<i64> {
        self.oldest.or(self.hi.map(|h| h - 1))
    }
}
