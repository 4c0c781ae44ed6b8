use super::*;

fn ok(text: &str) -> Query {
    parse(text, 1000).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn refused(text: &str) -> String {
    let e = parse(text, 1000).expect_err(text);
    assert_eq!(e.kind(), "invalid-query", "{text}: {e}");
    e.to_string()
}

#[test]
fn a_plain_list_takes_the_connection_limit() {
    let q = ok(r#"{"list":"accounts"}"#);
    assert_eq!(q.table, Table::Accounts);
    assert_eq!(q.row_target, 1000);
    assert!(q.filter_keys.is_empty());
    assert_eq!(q.canonical(), "accounts?#rows=1000");
    assert_eq!(q.page_path(100, None), "/v1/accounts?limit=100");
}

#[test]
fn filters_become_api_parameters_in_a_fixed_order() {
    let q = ok(
        r#"{"limit":250,"filters":{"created":{"lte":"2026-01-31T00:00:00Z","gt":1767225599},"currency":"EUR","account":"acc_9Zq"},"list":"entries"}"#,
    );
    assert_eq!(q.account.as_deref(), Some("acc_9Zq"));
    assert_eq!(q.currency.as_deref(), Some("eur"), "currency lower-cased");
    assert_eq!(q.created_gte, Some(1_767_225_600), "gt N is gte N+1");
    assert_eq!(q.created_lt, Some(1_769_817_601), "lte N is lt N+1");
    assert_eq!(q.row_target, 250);
    assert_eq!(q.filter_keys, ["account", "created", "currency"]);
    assert_eq!(
        q.page_path(100, Some("c/1+2=")),
        "/v1/entries?limit=100&account=acc_9Zq&currency=eur&created_gte=1767225600&created_lt=1769817601&cursor=c%2F1%2B2%3D"
    );
}

#[test]
fn equivalent_queries_share_a_canonical_form_and_others_do_not() {
    let same = [
        r#"{"list":"entries","filters":{"created":{"gte":"2026-01-01"}}}"#,
        r#"{"filters":{"created":{"gte":1767225600}},"list":"entries"}"#,
        r#"{"list":"entries","filters":{"created":{"gt":1767225599}},"limit":5000}"#,
        r#"{"list":"entries","filters":{"created":{"gt":"2025-12-31T23:59:59Z"}}}"#,
    ];
    let canon: Vec<String> = same.iter().map(|t| ok(t).canonical()).collect();
    assert!(canon.iter().all(|c| *c == canon[0]), "{canon:?}");
    assert_eq!(canon[0], "entries?created=[1767225600,*)#rows=1000");

    let exact = ok(r#"{"list":"entries","filters":{"created":1767225600}}"#).canonical();
    let pair =
        ok(r#"{"list":"entries","filters":{"created":{"gte":1767225600,"lte":1767225600}}}"#)
            .canonical();
    assert_eq!(exact, pair, "an exact second is a one-second range");

    let different = [
        r#"{"list":"entries"}"#,
        r#"{"list":"accounts"}"#,
        r#"{"list":"entries","limit":10}"#,
        r#"{"list":"entries","filters":{"currency":"usd"}}"#,
        r#"{"list":"entries","filters":{"account":"acc_1"}}"#,
        r#"{"list":"entries","filters":{"created":{"lt":1767225600}}}"#,
    ];
    let mut all: Vec<String> = different.iter().map(|t| ok(t).canonical()).collect();
    all.push(canon[0].clone());
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}

#[test]
fn the_limit_is_capped_by_the_connection() {
    assert_eq!(ok(r#"{"list":"entries","limit":5}"#).row_target, 5);
    assert_eq!(
        ok(r#"{"list":"entries","limit":99999999999}"#).row_target,
        1000
    );
    assert_eq!(
        parse(r#"{"list":"entries","limit":20}"#, 7).map(|q| q.row_target),
        Ok(7)
    );
}

#[test]
fn mistakes_are_refused_saying_what_to_write() {
    let cases = [
        ("not json", "not a valid query"),
        (
            r#"{"list":"balances"}"#,
            "there is no table \"balances\": list one of accounts, entries",
        ),
        (r#"{"table":"entries"}"#, "unknown field `table`"),
        (
            r#"{"list":"entries","expand":["x"]}"#,
            "unknown field `expand`",
        ),
        (r#"{"list":"entries","limit":0}"#, "limit 0 is out of range"),
        (
            r#"{"list":"entries","limit":-3}"#,
            "limit -3 is out of range",
        ),
        (r#"{"list":"entries","limit":2.5}"#, "limit"),
        (
            r#"{"list":"entries","limit":"10"}"#,
            "expected a whole number",
        ),
        (
            r#"{"list":"accounts","filters":{"account":"acc_1"}}"#,
            "accounts has no filter \"account\": its filters are currency, created",
        ),
        (
            r#"{"list":"entries","filters":{"status":"posted"}}"#,
            "entries has no filter \"status\": its filters are account, currency, created",
        ),
        (
            r#"{"list":"entries","filters":{"account":"cus_1"}}"#,
            "is not an account id",
        ),
        (
            r#"{"list":"entries","filters":{"account":"acc_1&limit=5"}}"#,
            "is not an account id",
        ),
        (
            r#"{"list":"entries","filters":{"currency":"euro"}}"#,
            "is not a currency code",
        ),
        (
            r#"{"list":"entries","filters":{"currency":"e%r"}}"#,
            "is not a currency code",
        ),
        (
            r#"{"list":"entries","filters":{"currency":"eur","currency":"usd"}}"#,
            "given twice",
        ),
        (
            r#"{"list":"entries","filters":{"created":{}}}"#,
            "empty object",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"after":1}}}"#,
            "no bound \"after\"",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gt":1,"gt":2}}}"#,
            "created.gt is given twice",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":10,"lt":10}}}"#,
            "empty range",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gt":"2025-12-31T23:59:59Z","gte":1000}}}"#,
            "gt and gte together: give only one lower bound",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"lt":20,"lte":10}}}"#,
            "lt and lte together: give only one upper bound",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":-1}}}"#,
            "out of range",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":"2026-02-30"}}}"#,
            "no day 30 in 2026-02",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":"yesterday"}}}"#,
            "is not a date",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":"2026-01-01T25:00:00Z"}}}"#,
            "time out of range",
        ),
        (
            r#"{"list":"entries","filters":{"created":true}}"#,
            "unix seconds",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gte":1.5}}}"#,
            "unix seconds",
        ),
        (r#"{"list":"entries","filters":[]}"#, "an object of filters"),
        // A date alone is not a day: it would match its first second only.
        (
            r#"{"list":"entries","filters":{"created":"2026-01-01"}}"#,
            "a date goes inside a range, e.g. for one whole day",
        ),
        (
            r#"{"list":"entries","group_by":["currency"],"measures":{"n":"count"}}"#,
            "this connector answers list queries only: it computes no aggregates",
        ),
        (
            r#"{"list":"entries","measures":{"n":"count"}}"#,
            "no group_by, no measures",
        ),
        // A date is its first second: lte or gt of one is refused with the bound to write.
        (
            r#"{"list":"entries","filters":{"created":{"lte":"2026-01-31"}}}"#,
            "filter created.lte: \"2026-01-31\" is that day's first second (00:00 UTC), so the rest of the day would be left out; write {\"lt\": \"2026-02-01\"} or a date-time",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"gt":"2024-02-28"}}}"#,
            "so the rest of the day would be kept; write {\"gte\": \"2024-02-29\"} or a date-time",
        ),
        (
            r#"{"list":"entries","filters":{"created":{"lte":"9999-12-31"}}}"#,
            "write {\"lte\": \"9999-12-31T23:59:59Z\"} or a date-time",
        ),
    ];
    for (text, says) in cases {
        let message = refused(text);
        assert!(message.contains(says), "{text}: {message}");
        assert!(message.len() < 1024, "{text}: a long message");
    }
    let huge = format!(
        r#"{{"list":"entries","x":"{}"}}"#,
        "a".repeat(MAX_QUERY_BYTES)
    );
    assert!(refused(&huge).contains("at most 16384 bytes"));
}

#[test]
fn dates_are_utc() {
    assert_eq!(parse_date("1970-01-01"), Ok(0));
    assert_eq!(parse_date("2026-01-01"), Ok(1_767_225_600));
    assert_eq!(parse_date("2024-02-29T12:30:05Z"), Ok(1_709_209_805));
    for bad in [
        "2026-1-01",
        "2026-01-01T10:00:00+01:00",
        "2026-13-01",
        "2026-01-01T10:00Z",
        "",
    ] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
}

#[test]
fn cursors_are_percent_encoded_whole() {
    assert_eq!(percent_encode("abc-._~XYZ09"), "abc-._~XYZ09");
    assert_eq!(percent_encode("a b&c=d#é"), "a%20b%26c%3Dd%23%C3%A9");
}

#[test]
fn numbers_past_64_bits_are_read_as_what_they_are() {
    assert_eq!(
        ok(r#"{"list":"entries","limit":18446744073709551615}"#).row_target,
        1000,
        "more than any connection returns: clamped"
    );
    let m = refused(r#"{"list":"entries","limit":2.5}"#);
    assert!(m.contains("expected a whole number"), "{m}");
    let m = refused(r#"{"list":"entries","filters":{"created":{"gte":18446744073709551615}}}"#);
    assert!(
        m.contains("18446744073709551615 is out of range") && !m.contains("9223372036854775807"),
        "{m}"
    );
    let m = refused(r#"{"list":"entries","filters":{"created":{"gte":-5}}}"#);
    assert!(m.contains("-5 is out of range"), "{m}");
}

#[test]
fn ranges_no_row_can_satisfy_are_refused_like_explicit_empty_ones() {
    for text in [
        r#"{"list":"entries","filters":{"created":{"lt":0}}}"#,
        r#"{"list":"entries","filters":{"created":{"lt":"1970-01-01"}}}"#,
        r#"{"list":"entries","filters":{"created":{"gt":253402300799}}}"#,
        r#"{"list":"entries","filters":{"created":{"gte":10,"lt":10}}}"#,
    ] {
        let m = refused(text);
        assert!(m.contains("empty range"), "{text}: {m}");
    }
    // The ends themselves can match.
    assert_eq!(
        ok(r#"{"list":"entries","filters":{"created":{"lt":1}}}"#).created_lt,
        Some(1)
    );
    assert_eq!(
        ok(r#"{"list":"entries","filters":{"created":{"gte":253402300799}}}"#).created_gte,
        Some(253_402_300_799)
    );
}
