use super::*;
use std::collections::BTreeSet;

const KEY: &str = "rk_live_51QxTestOnlyNotARealKey0000aaaaBBBBccccDDDDeeeeFFFFgggghhhhIIIIjjjjKKKKllllMMMMnnnnOOOOpppp1234";

fn column(name: &str, kind: wit::ColumnType, nullable: bool) -> wit::Column {
    wit::Column {
        name: name.into(),
        kind,
        nullable,
        doc: String::new(),
    }
}

fn result(rows: Vec<Vec<wit::Cell>>) -> wit::QueryResult {
    let columns = vec![
        column("id", wit::ColumnType::Id, false),
        column("name", wit::ColumnType::Text, true),
        column("balance", wit::ColumnType::Amount, true),
    ];
    wit::QueryResult {
        table: "customers".into(),
        columns: columns.clone(),
        rows,
        truncated: false,
        cache_ttl_seconds: u32::MAX,
        shape: wit::Shape {
            table: "email=someone@example.com".into(),
            columns,
            row_count: 99,
            filter_keys: vec!["created".into(), format!("email={KEY}")],
            aggregate: None,
        },
        requests: 0,
        scan_note: Some(format!("note with {}", &KEY[20..40])),
        aggregate: None,
    }
}

/// An aggregate of charges by currency: `n` rows, `groups` groups found.
fn aggregate(n: usize, groups: u64, partial: bool) -> wit::QueryResult {
    let columns = vec![
        column("currency", wit::ColumnType::Currency, false),
        column("n", wit::ColumnType::Integer, false),
        column("amount", wit::ColumnType::Amount, false),
    ];
    let row = vec![
        wit::Cell::Text("usd".into()),
        wit::Cell::Integer(3),
        wit::Cell::Integer(300),
    ];
    wit::QueryResult {
        table: "charges".into(),
        columns: columns.clone(),
        rows: vec![row; n],
        truncated: false,
        cache_ttl_seconds: 60,
        shape: wit::Shape {
            table: "charges".into(),
            columns,
            row_count: 0,
            filter_keys: Vec::new(),
            aggregate: Some(wit::AggregateShape {
                group_by: vec!["currency".into()],
                measures: vec![
                    wit::MeasureShape {
                        name: "n".into(),
                        kind: "count".into(),
                    },
                    wit::MeasureShape {
                        name: "amount".into(),
                        kind: "sum".into(),
                    },
                ],
            }),
        },
        requests: 0,
        scan_note: None,
        aggregate: Some(wit::AggregateStats {
            rows_scanned: 1000,
            partial,
            groups,
        }),
    }
}

#[test]
fn aggregate_results_are_checked_and_truncated_says_what_was_left_out() {
    let runs = SecretRuns::new(KEY);
    for (rows, groups, partial, truncated) in [
        (2, 2, false, false),
        (2, 5, false, true),
        (2, 2, true, true),
        (0, 0, false, false),
    ] {
        let checked = check_query(aggregate(rows, groups, partial), &expect(&runs)).expect("valid");
        assert_eq!(
            checked.truncated, truncated,
            "{rows} of {groups}, partial {partial}"
        );
        assert_eq!(checked.shape.row_count, rows as u64);
        let shape = checked.shape.aggregate.expect("kept");
        assert_eq!(shape.group_by, ["currency"]);
        assert_eq!(shape.measures.len(), 2);
        assert_eq!(checked.aggregate.map(|a| a.groups), Some(groups));
    }
    let mut no_shape = aggregate(1, 1, false);
    no_shape.shape.aggregate = None;
    let mut no_stats = aggregate(1, 1, false);
    no_stats.aggregate = None;
    let mut odd_kind = aggregate(1, 1, false);
    if let Some(a) = &mut odd_kind.shape.aggregate {
        a.measures[1].kind = "median; DROP".into();
    }
    let mut hidden_value = aggregate(1, 1, false);
    if let Some(a) = &mut hidden_value.shape.aggregate {
        a.group_by = vec!["usd".into()];
    }
    let mut reordered = aggregate(1, 1, false);
    if let Some(a) = &mut reordered.shape.aggregate {
        a.measures.reverse();
    }
    let cases = [
        (
            aggregate(2, 1, false),
            "an aggregate of 1 groups returned 2 rows",
        ),
        (no_shape, "without the aggregate part of its shape"),
        (no_stats, "on a result without aggregate stats"),
        (
            odd_kind,
            "not one of count, sum, avg, min, max, count_distinct",
        ),
        (hidden_value, "are not its group columns then its measures"),
        (reordered, "are not its group columns then its measures"),
    ];
    for (bad, why) in cases {
        match check_query(bad, &expect(&runs)) {
            Err(SandboxError::Malformed(m)) => assert!(m.contains(why), "{m} / {why}"),
            other => panic!("{why}: {other:?}"),
        }
    }
}

/// Customers and charges; the caller wrote a measure named `n`.
fn expect(runs: &SecretRuns) -> Expect<'_> {
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect();
    let catalogue = CatalogueNames {
        tables: names(&["customers", "charges"]),
        names: names(&[
            "id",
            "name",
            "balance",
            "currency",
            "amount",
            "created",
            "created_month",
            "email",
            "customer",
        ]),
        filters: [
            ("customers".to_owned(), names(&["created", "email"])),
            ("charges".to_owned(), names(&["created", "customer"])),
        ]
        .into(),
        kinds: {
            use wit::ColumnType as T;
            [
                ("id", T::Id),
                ("name", T::Text),
                ("balance", T::Amount),
                ("currency", T::Currency),
                ("amount", T::Amount),
                ("created", T::Timestamp),
                ("created_month", T::Timestamp),
                ("email", T::Text),
                ("customer", T::Id),
            ]
            .map(|(name, kind)| (name.to_owned(), vec![kind]))
            .into()
        },
    };
    Expect {
        max_rows: 2,
        ttl_ceiling: 3600,
        requests: 3,
        runs,
        catalogue: Box::leak(Box::new(catalogue)),
        names_written: Box::leak(Box::new(
            ["list", "filters", "created", "measures", "n"].map(String::from),
        )),
        deadline: CallDeadline::after(std::time::Duration::from_secs(600)),
    }
}

#[test]
fn a_shape_names_only_the_catalogue_and_what_the_caller_wrote() {
    let runs = SecretRuns::new(KEY);
    // A row's value dressed up as an identifier: a table, a column, a filter key.
    let mut as_table = result(vec![]);
    as_table.table = "vera_haddad32_example_net".into();
    let mut as_column = aggregate(1, 1, false);
    as_column.columns[1].name = "cus_piitxlialf6rd8".into();
    if let Some(a) = as_column.shape.aggregate.as_mut() {
        a.measures[0].name = "cus_piitxlialf6rd8".into();
    }
    for (bad, why) in [
        (
            as_table,
            "neither one of its catalogue's tables nor written in the query",
        ),
        (
            as_column,
            "neither in its catalogue nor written in the query",
        ),
    ] {
        match check_query(bad, &expect(&runs)) {
            Err(SandboxError::Malformed(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    let mut keys = result(vec![]);
    // A value of the source, a name the caller wrote that is no filter, another table's filter.
    keys.shape.filter_keys = ["created", "vera_haddad32_example_net", "n", "customer"]
        .map(String::from)
        .into();
    let checked = check_query(keys, &expect(&runs)).expect("valid");
    assert_eq!(
        checked.shape.filter_keys,
        ["created"],
        "only the table's own filters are kept"
    );
    // A filter of the table the caller did not write, and the order or repetition of those it did
    // (QA spelled an email with one-letter filter keys): a sorted set of what the caller wrote.
    let mut spelled = result(vec![]);
    spelled.shape.filter_keys = ["email", "created", "created", "email", "created"]
        .map(String::from)
        .into();
    let checked = check_query(spelled, &expect(&runs)).expect("valid");
    assert_eq!(checked.shape.filter_keys, ["created"]);
    let mut columns = result(vec![]);
    columns.columns.reverse();
    let checked = check_query(columns, &expect(&runs)).expect("valid");
    let names: Vec<&str> = checked
        .shape
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "the columns as a set, whatever their order");
    // The measure `n` is the caller's own name.
    check_query(aggregate(1, 1, false), &expect(&runs)).expect("n was written");
}

fn row(name: wit::Cell) -> Vec<wit::Cell> {
    vec![wit::Cell::Text("cus_1".into()), name, wit::Cell::Integer(5)]
}

/// The checks of a result stop at its call's deadline: a component's text is read for the credential
/// in every way a reader could see it, which for text made to be slow costs the host ~150 ms a MiB.
#[test]
fn checking_a_result_stops_at_the_calls_deadline() {
    let runs = SecretRuns::new(KEY);
    let slow = wit::Cell::Text("\u{1b}[1ma\u{200b}b".repeat(10_000));
    let rows = vec![row(slow.clone()), row(slow)];
    let past = Expect {
        deadline: CallDeadline::after(std::time::Duration::ZERO),
        ..expect(&runs)
    };
    match check_query(result(rows.clone()), &past) {
        Err(SandboxError::Deadline { .. }) => {}
        other => panic!("{other:?}"),
    }
    check_query(result(rows), &expect(&runs)).expect("within the deadline");
    // What is checked between two looks at the clock is small: a result that never needs one is
    // checked whole, even late.
    check_query(result(vec![row(wit::Cell::Null)]), &past).expect("too small to look");
}

#[test]
fn a_good_result_is_redacted_clamped_and_its_shape_rebuilt() {
    let runs = SecretRuns::new(KEY);
    let leak = format!("name {}", &KEY[30..50]);
    let checked = check_query(
        result(vec![row(wit::Cell::Text(leak)), row(wit::Cell::Null)]),
        &expect(&runs),
    )
    .expect("valid");
    assert_eq!(checked.cache_ttl_seconds, 3600);
    assert_eq!(checked.requests, 3);
    assert_eq!(checked.shape.table, "customers");
    assert_eq!(checked.shape.row_count, 2);
    assert_eq!(checked.shape.filter_keys, vec!["created".to_owned()]);
    let shown = format!("{:?}", checked);
    for start in 0..KEY.len() - 12 {
        assert!(!shown.contains(&KEY[start..start + 12]), "{shown}");
    }
}

#[test]
fn results_that_break_the_contract_are_refused() {
    let runs = SecretRuns::new(KEY);
    let cases: Vec<(wit::QueryResult, &str)> = vec![
        (
            result(vec![row(wit::Cell::Null); 3]),
            "more than the 2 the connection asked for",
        ),
        (
            result(vec![vec![wit::Cell::Text("cus_1".into())]]),
            "1 cells for 3 columns",
        ),
        (
            result(vec![row(wit::Cell::Integer(1))]),
            "an integer in a text column",
        ),
        (
            result(vec![vec![
                wit::Cell::Null,
                wit::Cell::Null,
                wit::Cell::Null,
            ]]),
            "null in a non-nullable id column",
        ),
        (
            wit::QueryResult {
                table: "Customers; DROP".into(),
                ..result(vec![])
            },
            "not an identifier",
        ),
        (
            wit::QueryResult {
                columns: vec![
                    column("id", wit::ColumnType::Id, false),
                    column("name", wit::ColumnType::Text, true),
                    column("name", wit::ColumnType::Text, true),
                ],
                ..result(vec![])
            },
            "column name is named twice",
        ),
        // Review: reading a cell for the credential costs several times its size in the host.
        (
            result(vec![row(wit::Cell::Text("x".repeat(MAX_CELL_BYTES + 1)))]),
            "row 0, column name: a text of 1048577 bytes, more than the 1048576 a cell may hold",
        ),
    ];
    for (bad, why) in cases {
        match check_query(bad, &expect(&runs)) {
            Err(SandboxError::Malformed(m)) => assert!(m.contains(why), "{m} / {why}"),
            other => panic!("{why}: {other:?}"),
        }
    }
}

/// A name that is not an identifier is quoted in the refusal, escaped; a key cut by invisible
/// characters in it is redacted before the escaping could turn them into plain ASCII.
#[test]
fn a_refused_name_never_shows_a_key_its_invisible_characters_cut() {
    let runs = SecretRuns::new(KEY);
    for separator in ["\u{200b}", "\u{7}", "\u{a0}", "\t", "\u{1b}[0m", "\u{e000}"] {
        let cut: String = KEY[8..60]
            .chars()
            .flat_map(|c| [c.to_string(), separator.to_owned()])
            .collect();
        let as_table = wit::QueryResult {
            table: cut.clone(),
            ..result(vec![])
        };
        let mut as_kind = aggregate(1, 1, false);
        if let Some(a) = as_kind.shape.aggregate.as_mut() {
            a.measures[0].kind = cut.clone();
        }
        let mut as_measure = aggregate(1, 1, false);
        if let Some(a) = as_measure.shape.aggregate.as_mut() {
            a.measures[0].name = cut.clone();
        }
        let report = wit::VerifyReport {
            mode: wit::Mode::Test,
            readable: vec![cut.clone()],
            write_probes_refused: Vec::new(),
            requests: 0,
        };
        let refusals = [
            check_query(as_table, &expect(&runs)),
            check_query(as_kind, &expect(&runs)),
            check_query(as_measure, &expect(&runs)),
        ]
        .into_iter()
        .map(|r| r.map(|_| ()))
        .chain([check_report(report, &runs, 0).map(|_| ())]);
        for refused in refusals {
            let Err(SandboxError::Malformed(m)) = refused else {
                panic!("{separator:?}: refused: {refused:?}");
            };
            let seen: String = m
                .replace(&format!("{separator:?}").replace('"', ""), "")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            for start in 0..KEY.len() - 12 {
                let run: String = KEY[start..start + 12]
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                assert!(!seen.contains(&run), "{separator:?}: {m}");
            }
            assert!(m.contains("[redacted]"), "{separator:?}: {m}");
        }
    }
}

#[test]
fn errors_are_redacted_and_capped() {
    let runs = SecretRuns::new(KEY);
    let huge = "x".repeat(200_000);
    let e = check_error(
        wit::ConnectorError::Upstream(wit::UpstreamError {
            status: Some(500),
            code: Some(KEY.into()),
            message: format!("{huge} {KEY}"),
            request_id: None,
        }),
        Some(&runs),
    );
    let wit::ConnectorError::Upstream(u) = e else {
        panic!("kind kept")
    };
    assert!(u.message.len() <= MESSAGE_CAP + 64, "{}", u.message.len());
    // The count of what was left out is the whole message's, though only its head was read.
    assert!(
        u.message.ends_with(&format!(
            "[{} more bytes]",
            huge.len() + 1 + KEY.len() - MESSAGE_CAP
        )),
        "{}",
        &u.message[MESSAGE_CAP - 10..]
    );
    // A key at the cut is hidden whole before the cut, as a key within the kept part is.
    let at_the_cut = format!("{}{KEY}", "y".repeat(MESSAGE_CAP - 20));
    let e = check_error(wit::ConnectorError::Network(at_the_cut), Some(&runs));
    let wit::ConnectorError::Network(m) = e else {
        panic!("kind kept")
    };
    assert!(m.contains("[redacted]") && !m.contains(&KEY[..12]), "{m}");
    assert!(!u.code.unwrap_or_default().contains(&KEY[8..20]));
    let e = check_error(
        wit::ConnectorError::OverPermissioned(vec!["customers".into(), KEY.into()]),
        Some(&runs),
    );
    assert_eq!(
        e,
        wit::ConnectorError::OverPermissioned(vec!["customers".into()])
    );
}

/// The cache's byte bound is kept by `weight`: a row costs its own `Vec` and a column its doc (kept, up
/// to 4 KiB each, up to 512 columns), or a result that passes `check_query` could hold thousands of times
/// its weight (review: 1,024 entries of these held ~2 GiB that the cache weighed at ~1 MiB).
#[test]
fn a_results_weight_covers_what_it_holds() {
    let runs = SecretRuns::new(KEY);
    let names: Vec<String> = (0..MAX_COLUMNS).map(|i| format!("c{i}")).collect();
    let catalogue = CatalogueNames {
        tables: ["wide".to_owned()].into(),
        names: names.iter().cloned().collect(),
        filters: [("wide".to_owned(), BTreeSet::new())].into(),
        kinds: names
            .iter()
            .map(|n| (n.clone(), vec![wit::ColumnType::Integer]))
            .collect(),
    };
    let columns: Vec<wit::Column> = names
        .iter()
        .map(|n| wit::Column {
            name: n.clone(),
            kind: wit::ColumnType::Integer,
            nullable: true,
            doc: "d".repeat(DOC_CAP),
        })
        .collect();
    let wide = wit::QueryResult {
        table: "wide".into(),
        columns: columns.clone(),
        rows: Vec::new(),
        truncated: false,
        cache_ttl_seconds: 3600,
        shape: wit::Shape {
            table: "wide".into(),
            columns,
            row_count: 0,
            filter_keys: Vec::new(),
            aggregate: None,
        },
        requests: 0,
        scan_note: None,
        aggregate: None,
    };
    // And the other way: rows of no column, as many as the connection may return.
    let tall = wit::QueryResult {
        table: "wide".into(),
        columns: Vec::new(),
        rows: vec![Vec::new(); 100_000],
        shape: wit::Shape {
            columns: Vec::new(),
            ..wide.shape.clone()
        },
        ..wide.clone()
    };
    let expect = Expect {
        max_rows: 100_000,
        ttl_ceiling: 3600,
        requests: 1,
        runs: &runs,
        catalogue: &catalogue,
        names_written: &[],
        deadline: CallDeadline::after(std::time::Duration::from_secs(600)),
    };
    let mut short = Vec::new();
    for (what, result) in [("wide", wide), ("tall", tall)] {
        let weight = weight(&result);
        let checked = check_query(result, &expect).expect("passes the contract");
        let held = checked.columns.iter().map(|c| c.doc.len()).sum::<usize>()
            + checked.rows.len() * std::mem::size_of::<Vec<wit::Cell>>();
        if weight < held {
            short.push(format!(
                "{what}: weighed {weight} bytes for a cached value holding at least {held}"
            ));
        }
    }
    assert!(short.is_empty(), "{short:#?}");
}

/// A catalogue's column comes back with the catalogue's type: the memory shape keeps types, and with no
/// rows any type fits the cells (review: `email` as `boolean`, `id` as `timestamp`, ~2.8 bits of the
/// component's choosing per column, beside the choices the README names).
#[test]
fn a_shape_keeps_only_the_catalogues_column_types() {
    let runs = SecretRuns::new(KEY);
    let info = wit::ConnectorInfo {
        name: "stripe".into(),
        api_version: "2024-06-20".into(),
        default_cache_ttl_seconds: 3600,
        default_max_rows: 2,
        max_rows_limit: 2,
        query_doc: String::new(),
        tables: vec![wit::TableSpec {
            name: "customers".into(),
            doc: String::new(),
            columns: vec![
                column("id", wit::ColumnType::Id, false),
                column("email", wit::ColumnType::Text, true),
            ],
            filters: Vec::new(),
            aggregate: None,
        }],
        aggregates: None,
    };
    let catalogue = CatalogueNames::of(&info);
    let expect = Expect {
        max_rows: 2,
        ttl_ceiling: 3600,
        requests: 1,
        runs: &runs,
        catalogue: &catalogue,
        names_written: &[],
        deadline: CallDeadline::after(std::time::Duration::from_secs(600)),
    };
    let mut lying = result(Vec::new());
    lying.columns = vec![
        column("email", wit::ColumnType::Boolean, true),
        column("id", wit::ColumnType::Timestamp, true),
    ];
    lying.shape.filter_keys.clear();
    match check_query(lying, &expect) {
        Err(SandboxError::Malformed(_)) => {}
        Ok(checked) => panic!(
            "accepted; memory would record {:?}",
            crate::memory::ShapeRecord::from_shape("stripe", &checked.shape).columns
        ),
        Err(e) => panic!("{e:?}"),
    }
}

/// A run of the key can be an identifier (`rk_live_51hq`, for about a third of keys): the refusal of a
/// name the catalogue lacks and a permission error's list of resources show it no more than any other
/// text of a component (review).
#[test]
fn a_run_of_the_key_shaped_like_an_identifier_is_not_shown() {
    const LOWER_HEAD: &str = concat!(
        "rk_live_51hq",
        "0x8TvLmNq2RsZpWbYcKd4Xe7Gf9Hj3Ak5Bl6Cm1Dn0Eo8Fp2Gq4Hr6Is9Jt3Ku5Lv7Mw1Nx0Oy2Pz4Qa6Rb8Sc"
    );
    let runs = SecretRuns::new(LOWER_HEAD);
    let run = &LOWER_HEAD[..12];
    assert!(is_identifier(run));
    let mut as_column = result(vec![]);
    as_column.columns[1].name = run.to_owned();
    let Err(SandboxError::Malformed(m)) = check_query(as_column, &expect(&runs)) else {
        panic!("refused")
    };
    let mut as_table = result(vec![]);
    as_table.table = run.to_owned();
    let Err(SandboxError::Malformed(t)) = check_query(as_table, &expect(&runs)) else {
        panic!("refused")
    };
    let e = check_error(
        wit::ConnectorError::MissingPermission(vec!["customers".into(), run.to_owned()]),
        Some(&runs),
    );
    let e = format!("{e:?}");
    assert!(
        !m.contains(run) && !t.contains(run) && !e.contains(run),
        "column refusal: {m}\ntable refusal: {t}\npermission error: {e}"
    );
    assert!(e.contains("customers"), "{e}");
}

/// The order of an aggregate's group columns is the component's choice as much as the order of filter
/// keys was (QA spelled an email with one-letter filter keys): any list or aggregate result may come
/// back as an aggregate whose group columns are catalogue names in an order that spells a value —
/// log2(k!) bits per record for k names, hundreds with the Stripe catalogue's. Memory keeps them as a
/// set, as it keeps columns, measures and filter keys.
#[test]
fn group_columns_in_a_shape_do_not_keep_an_order_the_component_chose() {
    use wit::ColumnType as T;
    let runs = SecretRuns::new(KEY);
    let names = [
        ("id", T::Id),
        ("name", T::Text),
        ("balance", T::Amount),
        ("currency", T::Currency),
        ("created", T::Timestamp),
        ("email", T::Text),
        ("customer", T::Id),
    ];
    let spelling = |order: &[usize]| {
        let columns: Vec<wit::Column> = order
            .iter()
            .map(|&i| column(names[i].0, names[i].1, true))
            .collect();
        let mut r = aggregate(0, 0, false);
        r.columns = columns.clone();
        r.shape.columns = columns;
        if let Some(a) = r.shape.aggregate.as_mut() {
            a.group_by = order.iter().map(|&i| names[i].0.to_owned()).collect();
            a.measures.clear();
        }
        let checked = check_query(r, &expect(&runs)).expect("a valid aggregate");
        crate::memory::ShapeRecord {
            recorded_at: 0,
            ..crate::memory::ShapeRecord::from_shape("stripe", &checked.shape)
        }
    };
    // Two values spelled as two orders of the same names.
    let one = spelling(&[0, 1, 2, 3, 4, 5, 6]);
    let other = spelling(&[6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(
        one.aggregate, other.aggregate,
        "memory records the order the component chose"
    );
}
