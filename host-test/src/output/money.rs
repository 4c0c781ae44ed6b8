//! Amounts for people: Stripe sends every amount as an integer of the currency's minor unit (cents for
//! USD, yen for JPY, fils for KWD); tables and CSV show major units with the decimals Stripe's API uses
//! for that currency.
//!
//! Stripe's exponents are its own (Stripe's "Supported currencies" page,
//! <https://docs.stripe.com/currencies>, sections "Zero-decimal currencies", "Three-decimal currencies"
//! and "Special cases"), and they differ from ISO 4217's for one code:
//! - ISK is zero-decimal in ISO 4217, but Stripe's API keeps it two-decimal (`100` is 1 króna);
//! - UGX is zero-decimal in both;
//! - HUF and TWD are two-decimal in both (Stripe only requires whole units for their payouts).
//!
//! A code not in this table is shown in minor units and says so: a wrong exponent would misstate the
//! amount by a power of ten, which is worse than an unformatted number.

/// Stripe's zero-decimal currencies: the amount is already in major units.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Stripe's three-decimal currencies.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Stripe's two-decimal presentment currencies (everything else it supports; ISK, HUF and TWD
/// included, see the module docs).
const TWO_DECIMAL: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "cny",
    "cop", "crc", "cve", "czk", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp",
    "gel", "gip", "gmd", "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk",
    "jmd", "kes", "kgs", "khr", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl",
    "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio",
    "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "qar", "ron", "rsd", "rub",
    "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs",
    "top", "try", "ttd", "twd", "tzs", "uah", "usd", "uyu", "uzs", "wst", "xcd", "yer", "zar",
    "zmw",
];

/// The number of decimals Stripe's API uses for `code` (any case), or `None` for a code this table does
/// not know.
pub fn decimals(code: &str) -> Option<u32> {
    let code = code.to_ascii_lowercase();
    let known = |list: &[&str]| list.contains(&code.as_str());
    if known(ZERO_DECIMAL) {
        Some(0)
    } else if known(THREE_DECIMAL) {
        Some(3)
    } else if known(TWO_DECIMAL) {
        Some(2)
    } else {
        None
    }
}

/// `minor` in major units with `decimals` digits after the point, e.g. `-1234` with 2 → `-12.34`;
/// `grouped` puts a comma between thousands (`4,211.00`) for people, not for CSV.
pub fn major_units(minor: i64, decimals: u32, grouped: bool) -> String {
    // i128: the magnitude of i64::MIN does not fit an i64.
    let magnitude = i128::from(minor).unsigned_abs();
    let scale = 10u128.pow(decimals);
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    let mut digits = whole.to_string();
    if grouped {
        digits = group_thousands(&digits);
    }
    let sign = if minor < 0 { "-" } else { "" };
    if decimals == 0 {
        format!("{sign}{digits}")
    } else {
        format!(
            "{sign}{digits}.{fraction:0width$}",
            width = decimals as usize
        )
    }
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// An amount cell for a table: it stands alone, code included (`4,211.00 EUR`, `1,200 JPY`); an unknown
/// code or a missing currency says so rather than guess.
pub fn amount_cell(minor: i64, currency: Option<&str>) -> String {
    match currency {
        Some(code) => match decimals(code) {
            Some(d) => format!(
                "{} {}",
                major_units(minor, d, true),
                code.to_ascii_uppercase()
            ),
            None => format!("{minor} {} (minor units)", short_code(code)),
        },
        None => format!("{minor} (no currency)"),
    }
}

/// The most characters of an unknown code an amount cell shows: amount columns are never wrapped, and
/// one code as long as a cell may be (1 MiB) widened every line of a table to it (review: 30 MB of
/// table for one such row among a hundred). The currency column itself shows it as any text.
const CODE_CHARS: usize = 12;

fn short_code(code: &str) -> String {
    match code.char_indices().nth(CODE_CHARS) {
        None => code.to_ascii_uppercase(),
        Some((cut, _)) => format!("{}…", code[..cut].to_ascii_uppercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_exponents_including_its_special_cases() {
        for (code, want) in [
            ("usd", Some(2)),
            ("EUR", Some(2)),
            ("jpy", Some(0)),
            ("krw", Some(0)),
            ("ugx", Some(0)),
            ("kwd", Some(3)),
            ("tnd", Some(3)),
            ("isk", Some(2)),
            ("huf", Some(2)),
            ("twd", Some(2)),
            ("xyz", None),
            ("", None),
        ] {
            assert_eq!(decimals(code), want, "{code}");
        }
        // One list per exponent: no code in two of them.
        for code in TWO_DECIMAL {
            assert!(
                !ZERO_DECIMAL.contains(code) && !THREE_DECIMAL.contains(code),
                "{code}"
            );
        }
    }

    #[test]
    fn major_units_for_people_and_for_spreadsheets() {
        for (minor, d, grouped, want) in [
            (421_100, 2, true, "4,211.00"),
            (421_100, 2, false, "4211.00"),
            (-1234, 2, true, "-12.34"),
            (-5, 2, true, "-0.05"),
            (1200, 0, true, "1,200"),
            (1_234_567, 3, true, "1,234.567"),
            (0, 3, false, "0.000"),
            (999, 2, true, "9.99"),
            (100_000_000, 2, true, "1,000,000.00"),
            (i64::MIN, 2, false, "-92233720368547758.08"),
        ] {
            assert_eq!(major_units(minor, d, grouped), want, "{minor} {d}");
        }
    }

    #[test]
    fn a_cell_stands_alone() {
        assert_eq!(amount_cell(421_100, Some("eur")), "4,211.00 EUR");
        assert_eq!(amount_cell(1200, Some("jpy")), "1,200 JPY");
        assert_eq!(amount_cell(-1234, Some("usd")), "-12.34 USD");
        assert_eq!(amount_cell(1_234_567, Some("kwd")), "1,234.567 KWD");
        assert_eq!(amount_cell(500, Some("xyz")), "500 XYZ (minor units)");
        assert_eq!(amount_cell(500, None), "500 (no currency)");
        // An unknown code is cut in an amount cell (review), whatever its length.
        assert_eq!(
            amount_cell(7, Some(&"x".repeat(1 << 20))),
            "7 XXXXXXXXXXXX… (minor units)"
        );
        assert_eq!(
            amount_cell(7, Some("abcdefghijkl")),
            "7 ABCDEFGHIJKL (minor units)"
        );
    }
}
