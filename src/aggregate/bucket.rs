//! Calendar buckets of a timestamp group column: the unix second (UTC) the day, ISO week, month, quarter
//! or year of a timestamp starts at.

use klairr_calendar::{civil_from_days, days_from_civil, DAY};

/// How a timestamp group column is bucketed (README, "Aggregates").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// ISO 8601 weeks: Monday 00:00 UTC to the next Monday. A week that spans New Year is one bucket,
    /// named by its Monday (2025-12-29 for 2026-01-01).
    Week,
    Month,
    /// January, April, July, October.
    Quarter,
    Year,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Day,
        Bucket::Week,
        Bucket::Month,
        Bucket::Quarter,
        Bucket::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
            Bucket::Quarter => "quarter",
            Bucket::Year => "year",
        }
    }

    pub fn from_name(name: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The first second of the bucket holding `seconds`; `i64::MIN` for the bucket holding it when that
    /// bucket starts earlier still (only timestamps within a year of −2⁶³ s, some 292 billion years BC).
    pub fn start(self, seconds: i64) -> i64 {
        let days = seconds.div_euclid(DAY);
        let first_day = match self {
            Bucket::Day => days,
            // 1970-01-01 was a Thursday: Monday is 3 days before it.
            Bucket::Week => days - (days + 3).rem_euclid(7),
            Bucket::Month | Bucket::Quarter | Bucket::Year => {
                let (year, month, _) = civil_from_days(days);
                let month = match self {
                    Bucket::Month => month,
                    Bucket::Quarter => (month - 1) / 3 * 3 + 1,
                    _ => 1,
                };
                days_from_civil(year, month, 1)
            }
        };
        first_day.checked_mul(DAY).unwrap_or(i64::MIN)
    }
}
