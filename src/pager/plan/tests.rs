use super::*;
use proptest::prelude::*;

/// One object of a test list: id, created, whether it is kept (a matching charge).
type Obj = (u32, i64, bool);

const OPEN: Span = Span { lo: 0, hi: None };

/// What Stripe answers to `ask` over `list` (newest first): the objects after the cursor inside the
/// window, `limit` of them, and whether more follow.
fn serve(list: &[Obj], ask: &Ask) -> (Vec<Entry<u32>>, bool, Option<String>) {
    let start = match &ask.after {
        None => 0,
        Some(id) => {
            let id: u32 = id.parse().expect("a test id");
            list.iter().position(|o| o.0 == id).expect("a known cursor") + 1
        }
    };
    let inside = |o: &&Obj| o.1 >= ask.span.lo && ask.span.hi.is_none_or(|h| o.1 < h);
    let mut page: Vec<&Obj> = list[start..]
        .iter()
        .filter(inside)
        .take(ask.limit as usize + 1)
        .collect();
    let has_more = page.len() > ask.limit as usize;
    page.truncate(ask.limit as usize);
    let last = page.last().map(|o| o.0.to_string());
    let entries = page
        .into_iter()
        .map(|o| Entry {
            created: o.1,
            id: u64::from(o.0),
            keep: o.2,
            row: o.0,
        })
        .collect();
    (entries, has_more, last)
}

/// What the sequential cursor returns over `list`: rows, truncated, the objects its scan note
/// counts, and its requests. Its loop, object by object: pages of `min(100, rows still wanted)`
/// (when post-filtered, `min(100, objects left to the scan bound)`) after the last object, stopping
/// at the target, at the end, or at the scan bound.
fn sequential(
    list: &[Obj],
    target: u64,
    scan_bound: Option<u64>,
) -> (Vec<u32>, bool, Option<u64>, u64) {
    let (mut rows, mut at, mut requests, mut scanned) = (Vec::new(), 0usize, 0u64, 0u64);
    loop {
        let wanted = target - rows.len() as u64;
        let size = match scan_bound {
            Some(bound) => (bound - scanned).min(PAGE),
            None => wanted.min(PAGE),
        } as usize;
        let page = &list[at.min(list.len())..(at + size).min(list.len())];
        let has_more = at + size < list.len();
        requests += 1;
        scanned += page.len() as u64;
        at += page.len();
        for (n, o) in page.iter().enumerate() {
            if o.2 || scan_bound.is_none() {
                rows.push(o.0);
            }
            if rows.len() as u64 == target {
                let truncated = match scan_bound {
                    None => (n + 1 < page.len() || has_more, None),
                    // Post-filtered: another match follows, read on up to the scan bound.
                    Some(bound) => {
                        if page[n + 1..].iter().any(|o| o.2) {
                            (true, None)
                        } else if has_more {
                            match_follows(list, at, scanned, bound, &mut requests)
                        } else {
                            (false, None)
                        }
                    }
                };
                return (rows, truncated.0, truncated.1, requests);
            }
        }
        if !has_more {
            return (rows, false, None, requests);
        }
        if scan_bound.is_some_and(|b| scanned >= b) {
            return (rows, true, Some(scanned), requests);
        }
    }
}

/// The sequential cursor reading on after its target, from object `at` (`scanned` read so far):
/// whether a kept object comes before the list's end, counting a bound reached first as one, and
/// then the objects scanned (its note's figure).
fn match_follows(
    list: &[Obj],
    mut at: usize,
    mut scanned: u64,
    bound: u64,
    requests: &mut u64,
) -> (bool, Option<u64>) {
    while scanned < bound {
        let size = (bound - scanned).min(PAGE) as usize;
        let page = &list[at.min(list.len())..(at + size).min(list.len())];
        *requests += 1;
        scanned += page.len() as u64;
        at += page.len();
        if page.iter().any(|o| o.2) {
            return (true, None);
        }
        if at >= list.len() {
            return (false, None);
        }
    }
    (true, Some(scanned))
}

struct Run {
    rows: Vec<u32>,
    truncated: bool,
    scanned: Option<u64>,
    read: u64,
    asks: u64,
    most_outstanding: usize,
    /// Rows handed over by `settle` before the verdict.
    settled: usize,
}

/// Drive `plan` over `list`, completing outstanding requests in the order `pick` chooses.
fn drive(plan: Plan<u32>, list: &[Obj], pick: impl FnMut(usize) -> usize) -> Run {
    drive_settling(plan, list, pick, false)
}

/// [`drive`], with `settle` after every page when `settling`: the rows are what it handed over, then
/// what `into_rows` gives.
fn drive_settling(
    mut plan: Plan<u32>,
    list: &[Obj],
    mut pick: impl FnMut(usize) -> usize,
    settling: bool,
) -> Run {
    let mut out: Vec<Ask> = Vec::new();
    let mut most = 0;
    let mut settled: Vec<u32> = Vec::new();
    loop {
        while let Some(ask) = plan.next(out.len()) {
            out.push(ask);
        }
        most = most.max(out.len());
        match plan.verdict() {
            Verdict::Done(done) => {
                let asks = plan.issued();
                let count = settled.len();
                settled.extend(plan.into_rows(&done));
                return Run {
                    truncated: done.truncated,
                    scanned: done.scanned,
                    read: done.read,
                    rows: settled,
                    asks,
                    most_outstanding: most,
                    settled: count,
                };
            }
            Verdict::Failed(w) => panic!("window {w} failed"),
            Verdict::Pending => {}
        }
        assert!(!out.is_empty(), "stalled with nothing outstanding");
        let ask = out.remove(pick(out.len()));
        let (entries, more, last) = serve(list, &ask);
        plan.page(ask.window, entries, more, last)
            .expect("a good page");
        if settling {
            plan.settle(&mut |row| {
                settled.push(row);
                Ok::<(), ()>(())
            })
            .expect("the sink never fails");
        }
    }
}

/// `n` objects, newest first, `per_second` of them in each second, `gap` seconds apart.
fn steady(n: u32, per_second: u32, gap: i64) -> Vec<Obj> {
    (0..n)
        .map(|i| (i, 1_800_000_000 - i64::from(i / per_second) * gap, true))
        .collect()
}

#[test]
fn the_first_request_is_the_sequential_cursors_first_page() {
    for (target, scan, limit) in [(250, None, 100), (30, None, 30), (5, Some(1000), 100)] {
        let mut plan: Plan<u32> = Plan::new(target, scan, OPEN, 100);
        let ask = plan.next(0).expect("a first request");
        assert_eq!(
            ask,
            Ask {
                window: 0,
                span: OPEN,
                after: None,
                limit
            }
        );
        assert_eq!(plan.next(1), None, "nothing else before the first page");
    }
}

#[test]
fn a_short_list_is_one_request() {
    let list = steady(42, 1, 60);
    let run = drive(Plan::new(100, None, OPEN, 100), &list, |_| 0);
    assert_eq!(run.rows, (0..42).collect::<Vec<_>>());
    assert!(!run.truncated);
    assert_eq!(run.asks, 1);
}

#[test]
fn windows_overlap_and_return_the_list_in_order() {
    let list = steady(5000, 1, 60);
    let run = drive(Plan::new(3000, None, OPEN, 200), &list, |n| n - 1);
    assert_eq!(run.rows, (0..3000).collect::<Vec<_>>());
    assert!(run.truncated);
    assert!(run.most_outstanding > 4, "{}", run.most_outstanding);
    assert!(run.most_outstanding <= MAX_IN_FLIGHT);
    assert!(run.asks <= 30 + 30 / 4 + SLACK, "{}", run.asks);
}

#[test]
fn hundreds_of_objects_in_one_second_are_read_across_window_edges() {
    // 300 objects in every tenth second, one in each other: every window edge lands next to, or
    // in, a burst.
    let mut list = Vec::new();
    let mut t = 1_800_000_000;
    for i in 0..6000u32 {
        list.push((i, t, true));
        let burst = (t / 10) % 10 == 0 && list.iter().rev().take(300).all(|o| o.1 == t);
        if !burst || list.iter().rev().take_while(|o| o.1 == t).count() >= 300 {
            t -= 7;
        }
    }
    for target in [150, 999, 2500, 5999, 6000, 7000] {
        let want = sequential(&list, target, None);
        let run = drive(Plan::new(target, None, OPEN, 500), &list, |n| n / 2);
        assert_eq!(
            (run.rows, run.truncated),
            (want.0, want.1),
            "target {target}"
        );
    }
}

#[test]
fn truncated_is_known_only_once_the_next_window_has_answered() {
    // Exactly 200 objects, target 200: the 200th object closes its window; whether anything
    // follows is the next window's answer.
    let list = steady(200, 1, 3600);
    let mut plan: Plan<u32> = Plan::new(200, None, OPEN, 100);
    let first = plan.next(0).expect("first");
    let (e, m, l) = serve(&list, &first);
    plan.page(first.window, e, m, l).expect("page");
    let mut out = Vec::new();
    while let Some(ask) = plan.next(out.len()) {
        out.push(ask);
    }
    while let Some(ask) = out.pop() {
        let (e, m, l) = serve(&list, &ask);
        plan.page(ask.window, e, m, l).expect("page");
        while let Some(ask) = plan.next(out.len()) {
            out.push(ask);
        }
    }
    let Verdict::Done(done) = plan.verdict() else {
        panic!("{:?}", plan.verdict())
    };
    assert!(!done.truncated);
    assert_eq!(plan.into_rows(&done).len(), 200);
}

#[test]
fn a_scan_stops_at_its_bound_like_the_sequential_cursor() {
    // One match in 50: a target of 100 is never reached within a 1,050-object bound, which the
    // sequential cursor reads as 10 pages of 100 and one of 50: exactly the bound.
    let list: Vec<Obj> = (0..4000)
        .map(|i| (i, 1_800_000_000 - i64::from(i) * 30, i % 50 == 0))
        .collect();
    let want = sequential(&list, 100, Some(1050));
    assert_eq!((want.2, want.3), (Some(1050), 11));
    let run = drive(Plan::new(100, Some(1050), OPEN, 100), &list, |n| n - 1);
    assert_eq!(
        (run.rows, run.truncated, run.scanned),
        (want.0, want.1, want.2)
    );
}

#[test]
fn settling_hands_over_finished_windows_before_the_verdict() {
    // 5,000 objects read to the end: every window but the last to finish is settled on the way.
    let list = steady(5000, 1, 60);
    let run = drive_settling(Plan::new(10_000, None, OPEN, 500), &list, |n| n - 1, true);
    assert_eq!(run.rows, (0..5000).collect::<Vec<_>>());
    assert!(!run.truncated);
    assert_eq!(run.read, 5000);
    assert!(run.settled >= 4000, "{} rows settled early", run.settled);
    // With a target inside the list, the window the result ends in is never settled early.
    let run = drive_settling(Plan::new(2500, None, OPEN, 500), &list, |n| n / 2, true);
    assert_eq!(run.rows, (0..2500).collect::<Vec<_>>());
    assert!(run.truncated);
    assert_eq!(run.read, 2500);
    assert!(run.settled < 2500);
    // The scan bound of a post-filtered scan is respected the same way.
    let list: Vec<Obj> = (0..4000)
        .map(|i| (i, 1_800_000_000 - i64::from(i) * 30, i % 3 == 0))
        .collect();
    let want = sequential(&list, 4000, Some(1500));
    let run = drive_settling(
        Plan::new(4000, Some(1500), OPEN, 500),
        &list,
        |n| n - 1,
        true,
    );
    assert_eq!((&run.rows, run.truncated, run.read), (&want.0, true, 1500));
}

#[test]
fn a_window_split_while_its_page_is_out_is_cut_at_the_new_bound() {
    let list = steady(3000, 1, 60);
    let mut plan: Plan<u32> = Plan::new(3000, None, OPEN, 500);
    let first = plan.next(0).expect("first");
    let (e, m, l) = serve(&list, &first);
    plan.page(first.window, e, m, l).expect("page");
    let cont = plan.next(0).expect("the first window goes on");
    assert_eq!(cont.window, 0);
    // While it is out, raise its lower bound above what the request asked for.
    let lo = 1_800_000_000 - 150 * 60;
    plan.windows[0].lo = lo;
    let (e, m, l) = serve(&list, &cont);
    assert!(m && e.len() == 100);
    plan.page(cont.window, e, m, l).expect("page");
    let w = &plan.windows[0];
    assert_eq!((w.state, w.fetched, w.oldest), (State::Done, 151, Some(lo)));
}

#[test]
fn pages_that_would_loop_or_mislead_are_refused() {
    let entry = |id: u32, created: i64| Entry {
        created,
        id: u64::from(id),
        keep: true,
        row: id,
    };
    let fresh = |max_pages| {
        let mut plan: Plan<u32> = Plan::new(
            500,
            None,
            Span {
                lo: 100,
                hi: Some(1000),
            },
            max_pages,
        );
        plan.next(0).expect("first");
        plan
    };
    let mut plan = fresh(10);
    assert_eq!(
        plan.page(0, Vec::new(), true, None),
        Err(Guard::EmptyWithMore)
    );
    // Outside the window, on either side, or newer than the object before.
    assert_eq!(
        plan.page(0, vec![entry(1, 1000)], true, Some("1".into())),
        Err(Guard::Disorder(1000))
    );
    assert_eq!(
        plan.page(0, vec![entry(1, 99)], true, Some("1".into())),
        Err(Guard::Disorder(99))
    );
    assert_eq!(
        plan.page(
            0,
            vec![entry(1, 500), entry(2, 501)],
            true,
            Some("2".into())
        ),
        Err(Guard::Disorder(501))
    );
    assert_eq!(
        plan.page(0, vec![entry(1, 500)], true, Some("1".into())),
        Ok(())
    );
    // The same last object again, a cursor that comes back, or an object newer than the cursor's.
    assert_eq!(
        plan.page(0, vec![entry(1, 500)], true, Some("1".into())),
        Err(Guard::Repeat(500))
    );
    assert_eq!(
        plan.page(0, vec![entry(4, 500)], true, Some("1".into())),
        Err(Guard::CursorRepeat("1".into()))
    );
    assert_eq!(
        plan.page(0, vec![entry(3, 501)], true, Some("3".into())),
        Err(Guard::Disorder(501))
    );

    // An object twice in one page; the same id in another second is not a repeat of it.
    let mut plan = fresh(9);
    assert_eq!(
        plan.page(
            0,
            vec![entry(5, 500), entry(6, 500), entry(5, 500)],
            true,
            Some("5".into())
        ),
        Err(Guard::Repeat(500))
    );
    let mut plan = fresh(9);
    assert_eq!(
        plan.page(0, vec![entry(5, 500), entry(5, 499)], false, None),
        Ok(())
    );

    let mut plan = fresh(2);
    assert_eq!(
        plan.page(0, vec![entry(1, 500)], true, Some("1".into())),
        Ok(())
    );
    assert_eq!(
        plan.page(0, vec![entry(2, 499)], true, Some("2".into())),
        Err(Guard::TooManyPages(2))
    );
    // The last page of a list is never too many.
    assert_eq!(
        plan.page(0, vec![entry(2, 499)], false, Some("2".into())),
        Ok(())
    );
}

#[test]
fn with_nothing_outstanding_the_first_unfinished_window_is_always_asked() {
    let list = steady(2000, 1, 60);
    let mut plan: Plan<u32> = Plan::new(2000, None, OPEN, 500);
    plan.issued = 1_000; // as if speculation had spent every request allowed
    let ask = plan.next(0).expect("asked anyway");
    assert_eq!(plan.next(1), None, "but nothing more");
    let (e, m, l) = serve(&list, &ask);
    plan.page(ask.window, e, m, l).expect("page");
    assert!(plan.next(0).is_some());
}

/// A list with bursts, ties and quiet stretches, from proptest's choices.
fn timeline() -> impl Strategy<Value = Vec<Obj>> {
    let step = (
        0u32..400,
        prop_oneof![Just(1u32), 1u32..300],
        0i64..100_000,
        any::<bool>(),
    );
    proptest::collection::vec(step, 1..120).prop_map(|steps| {
        let mut list = Vec::new();
        let mut t = 1_800_000_000i64;
        for (n, burst, gap, keep) in steps {
            for i in 0..n {
                let same = if i % 5 == 0 { burst } else { 1 };
                for _ in 0..same.min(3000) {
                    let id = list.len() as u32;
                    list.push((id, t, keep ^ id.is_multiple_of(3)));
                }
                t -= 1 + gap % 3600;
            }
            t -= gap * 7;
        }
        list
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(9),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_order_of_completions_gives_the_sequential_result(
        list in timeline(),
        target in 1u64..4000,
        scan in any::<bool>(),
        span in (0u8..4, any::<u16>(), any::<u16>()),
        order in any::<u64>(),
        settling in any::<bool>(),
    ) {
        // The user's own range: none, a lower bound, an upper bound, or both, on the list's seconds.
        let at = |k: u16| list[k as usize % list.len()].1;
        let span = match span.0 {
            0 => OPEN,
            1 => Span { lo: at(span.1), hi: None },
            2 => Span { lo: 0, hi: Some(at(span.2)) },
            _ => Span { lo: at(span.1).min(at(span.2)), hi: Some(at(span.1).max(at(span.2)) + 1) },
        };
        let visible: Vec<Obj> = list
            .iter()
            .copied()
            .filter(|o| o.1 >= span.lo && span.hi.is_none_or(|h| o.1 < h))
            .map(|o| (o.0, o.1, o.2 || !scan))
            .collect();
        let bound = scan.then(|| (target * 10).clamp(1000, 100_000));
        let cap = bound.map(|b| b.div_ceil(PAGE) * PAGE);
        let want = sequential(&visible, target, bound);
        let mut rng = order | 1;
        let run = drive_settling(Plan::new(target, cap, span, 1_000_000), &visible, |n| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        }, settling);
        prop_assert_eq!(&run.rows, &want.0);
        // What the sequential cursor looked at for its rows: through its last row, or all of it.
        let looked = match (want.1, want.2) {
            (_, Some(scanned)) => scanned.min(visible.len() as u64),
            (true, None) => visible.iter().position(|o| Some(&o.0) == want.0.last()).map_or(0, |i| i as u64 + 1),
            (false, None) => visible.len() as u64,
        };
        prop_assert_eq!(run.read, looked);
        if !settling {
            prop_assert_eq!(run.settled, 0);
        }
        prop_assert_eq!(run.truncated, want.1);
        prop_assert_eq!(run.scanned, want.2);
        prop_assert!(run.most_outstanding <= MAX_IN_FLIGHT);
    }
}

/// Where the scan bound decides `truncated`: the limit-th match a few objects either side of the bound,
/// the list ending just past it, at it or beyond, another match after it or none — in several orders
/// of completion. The sequential cursor reads exactly the bound's objects and knows past it only that
/// more follow; the plan judged "a match follows" from objects past the bound, which speculative
/// windows had read (review: truncated without the scan's note, or not truncated where the cursor is).
#[test]
fn truncated_near_the_scan_bound_is_judged_from_what_the_cursor_reads() {
    const BOUND: u64 = 1000;
    for last in 990u32..1006 {
        for len in [last + 1, last + 2, 1000, 1001, 1010] {
            if len <= last {
                continue;
            }
            for after in [None, Some(last + 1), Some(999), Some(1000), Some(1004)] {
                let list: Vec<Obj> = steady(len, 1, 60)
                    .into_iter()
                    .map(|(id, created, _)| {
                        // 99 matches before, the 100th at `last`, maybe one more after it.
                        let early = id < 990 && id % 10 == 9;
                        let more = after.is_some_and(|a| a == id && a > last);
                        (id, created, early || id == last || more)
                    })
                    .collect();
                let want = sequential(&list, 100, Some(BOUND));
                // The newest request answered first, then orders drawn at random.
                for seed in 0..5u64 {
                    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    let plan = Plan::new(100, Some(BOUND), OPEN, 1_000_000);
                    let run = drive(plan, &list, |n| {
                        if seed == 0 {
                            return n - 1;
                        }
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        (rng % n as u64) as usize
                    });
                    let case =
                        format!("last match {last}, {len} objects, then {after:?}, order {seed}");
                    assert_eq!(run.rows, want.0, "{case}");
                    assert_eq!((run.truncated, run.scanned), (want.1, want.2), "{case}");
                }
            }
        }
    }
}
