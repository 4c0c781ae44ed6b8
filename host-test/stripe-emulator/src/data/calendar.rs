//! Calendar arithmetic for billing periods (proleptic Gregorian, UTC): month steps that clamp to
//! the month's last day, as Stripe's billing cycles do.

use super::DAY;

use klairr_calendar::{civil_from_days, days_from_civil, days_in_month};

fn add_months(ts: i64, months: i64) -> i64 {
    let days = ts.div_euclid(DAY);
    let secs = ts.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    days_from_civil(ny, nm, d.min(days_in_month(ny, nm))) * DAY + secs
}

pub(super) fn step(anchor: i64, interval: &str, count: i64, k: i64) -> i64 {
    match interval {
        "day" => anchor + k * count * DAY,
        "week" => anchor + k * count * 7 * DAY,
        "month" => add_months(anchor, k * count),
        _ => add_months(anchor, 12 * k * count),
    }
}

/// The billing period (k, start, end) of a price's interval that contains `at`.
pub(super) fn period_at(anchor: i64, interval: &str, count: i64, at: i64) -> (i64, i64, i64) {
    if at < anchor {
        return (0, anchor, step(anchor, interval, count, 1));
    }
    let approx = match interval {
        "day" => DAY,
        "week" => 7 * DAY,
        "month" => 2_629_746,
        _ => 31_556_952,
    } * count.max(1);
    let mut k = ((at - anchor) / approx).max(0);
    while k > 0 && step(anchor, interval, count, k) > at {
        k -= 1;
    }
    while step(anchor, interval, count, k + 1) <= at {
        k += 1;
    }
    (
        k,
        step(anchor, interval, count, k),
        step(anchor, interval, count, k + 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NOW;

    #[test]
    fn calendar_round_trips() {
        for d in [-1000, 0, 1, 59, 365, 10_957, 20_558, 30_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        // 2026-01-31 + 1 month = 2026-02-28
        let jan31 = days_from_civil(2026, 1, 31) * DAY + 3600;
        assert_eq!(
            add_months(jan31, 1),
            days_from_civil(2026, 2, 28) * DAY + 3600
        );
        assert_eq!(NOW, days_from_civil(2026, 4, 15) * DAY);
    }

    #[test]
    fn period_contains_the_instant() {
        let anchor = days_from_civil(2025, 1, 31) * DAY;
        for (interval, count) in [
            ("day", 1),
            ("week", 2),
            ("month", 1),
            ("month", 3),
            ("year", 1),
        ] {
            let (_, s, e) = period_at(anchor, interval, count, NOW);
            assert!(s <= NOW && NOW < e, "{interval}");
        }
    }
}
