//! The proleptic Gregorian calendar in UTC: days since 1970-01-01 to and from a civil date (Howard
//! Hinnant's algorithms, exact for every `i64` day a timestamp can name), leap years and month lengths.
//!
//! One home for the calendar: the connector reads RFC 3339 dates with it, the host prints dates with
//! it, and the emulator steps billing periods with it. No dependencies, no allocation, so it costs the
//! component a few hundred bytes.
#![no_std]

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Whether `year` has a 29 February.
pub const fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub const fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of `year-month-day` (month 1–12, day 1–31).
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of `days` since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if month <= 2 { 1 } else { 0 }, month, day)
}

/// The civil date and time of day `(year, month, day, hour, minute, second)` of unix seconds.
pub const fn civil_from_unix(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (year, month, day) = civil_from_days(seconds.div_euclid(DAY));
    let rem = seconds.rem_euclid(DAY);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// 9999-12-31T23:59:59Z: the last second an RFC 3339 date can name.
pub const LAST_SECOND: i64 = 253_402_300_799;

/// The civil date `(year, month, day)` of the day after the one holding `seconds`, if RFC 3339 can
/// name it (not after 9999-12-31): the bound a query writes for "up to and including that day".
pub const fn day_after(seconds: i64) -> Option<(i64, i64, i64)> {
    let next = seconds.div_euclid(DAY) + 1;
    // Compared in days: `next * DAY` overflows for the last day of `i64`'s seconds (review).
    if next > LAST_SECOND / DAY {
        return None;
    }
    Some(civil_from_days(next))
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_day_after_the_last_one_whatever_the_seconds() {
        use super::*;
        assert_eq!(day_after(LAST_SECOND - DAY), Some((9999, 12, 31)));
        assert_eq!(day_after(LAST_SECOND), None);
        assert_eq!(day_after(LAST_SECOND + 1), None);
        assert_eq!(day_after(i64::MAX - DAY), None);
        assert_eq!(day_after(i64::MAX), None);
    }

    use super::*;

    #[test]
    fn the_day_after() {
        assert_eq!(
            day_after(days_from_civil(2024, 2, 28) * DAY),
            Some((2024, 2, 29))
        );
        assert_eq!(
            day_after(days_from_civil(2025, 12, 31) * DAY + 86_399),
            Some((2026, 1, 1))
        );
        assert_eq!(
            day_after(days_from_civil(9999, 12, 30) * DAY),
            Some((9999, 12, 31))
        );
        assert_eq!(day_after(days_from_civil(9999, 12, 31) * DAY), None);
        assert_eq!(civil_from_unix(LAST_SECOND), (9999, 12, 31, 23, 59, 59));
    }

    #[test]
    fn known_instants() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 1, 1) * DAY, 1_767_225_600);
        assert_eq!(days_from_civil(2000, 2, 29) * DAY, 951_782_400);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(
            civil_from_unix(1_767_225_600 + 3_661),
            (2026, 1, 1, 1, 1, 1)
        );
        assert_eq!(civil_from_unix(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn days_and_dates_round_trip_across_four_centuries() {
        let mut days = days_from_civil(1900, 1, 1);
        for year in 1900..2300 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), days);
                    assert_eq!(civil_from_days(days), (year, month, day));
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn leap_years() {
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2026));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }
}
