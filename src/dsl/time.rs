//! Timestamps written as RFC 3339 dates: the proleptic Gregorian calendar, in unix seconds.

use crate::prelude::*;
use alloc::borrow::Cow;
use klairr_calendar::{days_from_civil, days_in_month};

/// 9999-12-31T23:59:59Z: the last second an RFC 3339 date can name; larger integers are refused too.
pub const MAX_TIMESTAMP: i64 = klairr_calendar::LAST_SECOND;

/// A fraction of a second is rounded down, or up when `round_up` (a `gte` or `lt` bound: the first whole
/// second at or after `00.5` is `01`). Leap seconds (`:60`) are refused: unix time cannot name them.
/// `Err` says why not: a fixed text where it can be, so that each refusal is no allocation of its own.
pub(super) fn parse_rfc3339(s: &str, round_up: bool) -> Result<i64, Cow<'static, str>> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let expected = "expected YYYY-MM-DD (e.g. 2026-01-01) or YYYY-MM-DDTHH:MM:SS with Z or an offset (e.g. 2026-01-01T10:00:00Z)";
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return Err(expected.into());
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(expected.into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not 01-12").into());
    }
    let last_day = days_in_month(year, month);
    if !(1..=last_day).contains(&day) {
        return Err(
            format!("day {day:02} is not 01-{last_day:02} for {year:04}-{month:02}").into(),
        );
    }
    let midnight = days_from_civil(year, month, day) * 86_400;
    let seconds = if b.len() == 10 {
        midnight
    } else {
        // The forms near RFC 3339 that an LLM writes, each told what to change.
        match b.get(10) {
            Some(b'T' | b't') => {}
            Some(b' ') => {
                return Err(
                    "write T between the date and the time (e.g. 2026-01-01T10:00:00Z)".into(),
                )
            }
            _ => return Err(expected.into()),
        }
        let (Some(hour), Some(minute)) = (digits(11, 2), digits(14, 2)) else {
            return Err(expected.into());
        };
        if b.get(13) != Some(&b':') {
            return Err(expected.into());
        }
        if b.get(16) != Some(&b':') {
            return Err(
                "the seconds are missing: write HH:MM:SS (e.g. 2026-01-01T10:00:00Z)".into(),
            );
        }
        let Some(second) = digits(17, 2) else {
            return Err(expected.into());
        };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!(
                "time {hour:02}:{minute:02}:{second:02} is out of range (hours 00-23, minutes and seconds 00-59)"
            ).into());
        }
        let mut i = 19;
        let mut part = 0;
        if b.get(i) == Some(&b'.') {
            let frac = b
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if frac == 0 {
                return Err("a '.' must be followed by digits of a second".into());
            }
            let fraction = &b[i + 1..i + 1 + frac];
            part = i64::from(round_up && fraction.iter().any(|&d| d != b'0'));
            i += 1 + frac;
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if b.len() == i + 1 => 0,
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b.get(i + 3) == Some(&b':') => {
                let (Some(oh), Some(om)) = (digits(i + 1, 2), digits(i + 4, 2)) else {
                    return Err("the offset must be ±HH:MM, e.g. +02:00".into());
                };
                if oh > 23 || om > 59 {
                    return Err(
                        format!("offset {oh:02}:{om:02} is out of range (at most 23:59)").into(),
                    );
                }
                let o = oh * 3600 + om * 60;
                if sign == b'+' {
                    o
                } else {
                    -o
                }
            }
            Some(b'+' | b'-') if b.len() == i + 5 && digits(i + 1, 4).is_some() => {
                return Err("the offset needs a colon: ±HH:MM, e.g. +02:00".into())
            }
            None => return Err("a date-time needs a UTC offset: end it with Z or ±HH:MM".into()),
            Some(_) => return Err(expected.into()),
        };
        midnight + hour * 3600 + minute * 60 + second + part - offset
    };
    if seconds < 0 {
        return Err("it is before 1970-01-01T00:00:00Z, where unix seconds start".into());
    }
    if seconds > MAX_TIMESTAMP {
        return Err("it is after 9999-12-31T23:59:59Z".into());
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_arithmetic_matches_known_instants() {
        let cases = [
            ("1970-01-01", 0),
            ("1970-01-02", 86_400),
            ("2000-01-01", 946_684_800),
            ("2000-03-01", 951_868_800),
            ("2026-01-01", 1_767_225_600),
            ("2026-04-22T12:34:56Z", 1_776_861_296),
            ("2038-01-19T03:14:07Z", 2_147_483_647),
            ("2100-03-01", 4_107_542_400),
            ("9999-12-31T23:59:59Z", MAX_TIMESTAMP),
            ("2026-01-01T00:00:00.5Z", 1_767_225_600),
            ("2026-01-01T01:00:00+01:00", 1_767_225_600),
            ("2025-12-31T23:00:00-01:00", 1_767_225_600),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rfc3339(text, false), Ok(want), "{text}");
        }
    }
}
