use super::*;

fn ok(body: &str) -> Response {
    Response {
        status: 200,
        request_id: Some("req_1".into()),
        should_retry: None,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    }
}

fn refused(table: Table, body: &str) -> String {
    match decode_page(table, &ok(body)) {
        Err(ConnectorError::Upstream(u)) => {
            assert_eq!(u.status, Some(200));
            assert_eq!(u.request_id.as_deref(), Some("req_1"));
            u.message
        }
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn accounts_and_entries_become_typed_rows() {
    let accounts = decode_page(
        Table::Accounts,
        &ok(r#"{"data":[{"id":"acc_1","name":"Operating","currency":"eur","balance":{"amount":-1250,"currency":"eur"},"created":1767225600,"extra":true}],"next_cursor":"c_2","livemode":false}"#),
    )
    .expect("a page");
    assert_eq!(
        accounts.rows,
        [vec![
            Cell::Text("acc_1".into()),
            Cell::Text("Operating".into()),
            Cell::Text("eur".into()),
            Cell::Integer(-1250),
            Cell::Integer(1_767_225_600),
        ]]
    );
    assert_eq!(accounts.next_cursor.as_deref(), Some("c_2"));
    assert_eq!(accounts.livemode, Some(false));
    assert_eq!(accounts.created, [1_767_225_600]);

    let entries = decode_page(
        Table::Entries,
        &ok(r#"{"data":[{"id":"ent_2","account":"acc_1","amount":500,"currency":"usd","created":20,"memo":"rent"},{"id":"ent_1","account":"acc_1","amount":-7,"currency":"usd","created":10,"memo":null}],"next_cursor":null}"#),
    )
    .expect("a page");
    assert_eq!(entries.rows.len(), 2);
    assert_eq!(entries.rows[0][5], Cell::Text("rent".into()));
    assert_eq!(entries.rows[1][5], Cell::Null, "a null memo is a null cell");
    assert_eq!(entries.rows[1][2], Cell::Integer(-7));
    assert_eq!(entries.next_cursor, None);
    assert_eq!(entries.livemode, None);
    for (page, table) in [(&accounts, Table::Accounts), (&entries, Table::Entries)] {
        for row in &page.rows {
            assert_eq!(row.len(), table.spec().columns.len(), "one cell per column");
        }
    }
}

#[test]
fn pages_that_are_not_the_api_s_are_refused_without_quoting_values() {
    let secret_memo = "SSN 078-05-1120";
    let cases = [
        (Table::Entries, "<html>".to_owned(), "is not valid JSON"),
        (Table::Entries, r#"{"next_cursor":null}"#.to_owned(), "missing field"),
        (
            Table::Entries,
            format!(r#"{{"data":[{{"id":"ent_1","account":"acc_1","amount":"{secret_memo}","currency":"usd","created":1}}]}}"#),
            "wrong type",
        ),
        (
            Table::Entries,
            r#"{"data":[{"id":"cus_1","account":"acc_1","amount":1,"currency":"usd","created":1}]}"#.to_owned(),
            "entry 0 (cus_1) with an id that is not ent_",
        ),
        (
            Table::Entries,
            r#"{"data":[{"id":"ent_1","account":"acc 1","amount":1,"currency":"usd","created":1}]}"#.to_owned(),
            "an account that is not acc_",
        ),
        (
            Table::Entries,
            r#"{"data":[{"id":"ent_1","account":"acc_1","amount":1,"currency":"USD","created":1}]}"#.to_owned(),
            "a currency that is not a three-letter code",
        ),
        (
            Table::Entries,
            r#"{"data":[{"id":"ent_1","account":"acc_1","amount":1,"currency":"usd","created":-5}]}"#.to_owned(),
            "a created time",
        ),
        (
            Table::Accounts,
            r#"{"data":[{"id":"acc_1","name":"x","currency":"eur","balance":{"amount":1,"currency":"usd"},"created":1}]}"#.to_owned(),
            "a balance in another currency",
        ),
        (
            Table::Accounts,
            format!(r#"{{"data":[],"next_cursor":"{}"}}"#, "c".repeat(MAX_CURSOR_LEN + 1)),
            "a next_cursor of 513 characters",
        ),
        (Table::Accounts, r#"{"data":[],"next_cursor":""}"#.to_owned(), "a next_cursor of 0 characters"),
    ];
    for (table, body, says) in cases {
        let message = refused(table, &body);
        assert!(message.contains(says), "{body}: {message}");
        assert!(
            message.starts_with(&format!("the ledger's {} page", table.name())),
            "{message}"
        );
        assert!(!message.contains(secret_memo), "{message}");
    }
    let odd_id = "ent_\u{1b}[31m";
    let message = refused(
        Table::Entries,
        &format!(
            r#"{{"data":[{{"id":"{odd_id}","account":"acc_1","amount":1,"currency":"usd","created":1}}]}}"#
        ),
    );
    assert!(
        !message.contains('\u{1b}'),
        "an id that is not one is not quoted: {message}"
    );
}

#[test]
fn errors_keep_the_api_s_code_message_and_request_id() {
    let response = |status: u16, body: &str| Response {
        status,
        request_id: Some("req_9".into()),
        should_retry: None,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    };
    let e = upstream_error(&response(
        400,
        r#"{"error":{"code":"bad_parameter","message":"unknown parameter foo"}}"#,
    ));
    assert_eq!(e.status, Some(400));
    assert_eq!(e.code.as_deref(), Some("bad_parameter"));
    assert_eq!(e.message, "unknown parameter foo");
    assert_eq!(e.request_id.as_deref(), Some("req_9"));

    let e = upstream_error(&response(502, "Bad Gateway"));
    assert_eq!(e.code, None);
    assert_eq!(
        e.message,
        "the ledger answered HTTP 502 with a body that is not its error format"
    );

    let e = upstream_error(&response(500, r#"{"error":{"code":"internal"}}"#));
    assert_eq!(e.code.as_deref(), Some("internal"));
    assert_eq!(e.message, "the ledger answered HTTP 500 without a message");
}
