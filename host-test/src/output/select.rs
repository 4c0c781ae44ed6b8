//! `--columns a,b,c`: which columns of a result are printed, in which order (every format), and where
//! each row's currency is, so that an amount can be shown in its currency's units.
//!
//! The currency of a row is its table's column of type `currency` (one per table in the Stripe
//! connector's catalogue; the first one if a connector had several). It is found by type, not name, so
//! the rule holds for any connector that declares its columns' types.

use crate::sandbox::{caller_text, wit};

/// The printed columns (indices into the result's columns) and the row's currency column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub shown: Vec<usize>,
    pub currency: Option<usize>,
}

/// `--columns` named a column the table does not have, or one twice.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{problem}; the columns of this {table} result are: {columns}")]
pub struct UnknownColumn {
    problem: String,
    table: String,
    columns: String,
}

/// What can be said of `--columns` before the query runs: no name left empty, none named twice. Whether
/// each name is one of the result's columns is known only from the result (an aggregate names its own
/// columns), so [`Selection::choose`] says that.
pub fn check_names(names: &[String]) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for name in names.iter().map(|n| n.trim()) {
        if name.is_empty() {
            return Err(
                "--columns: an empty column name (a stray comma?): name each column once, e.g. --columns id,amount"
                    .to_owned(),
            );
        }
        // A name too long to be any column is refused unquoted, whatever it holds (a pasted key):
        // a rule about lengths, which says nothing about the key (see `sandbox::caller_text`).
        if let Some(len) = caller_text::overlong_token(&[name.to_owned()]) {
            return Err(format!(
                "--columns: a name holds {len} letters and digits in a row, more than the {} any column \
                 has: name the result's columns (they are listed by `describe`)",
                caller_text::MAX_TOKEN
            ));
        }
        if seen.contains(&name) {
            return Err(format!("--columns: {name:?} is named twice"));
        }
        seen.push(name);
    }
    Ok(())
}

impl Selection {
    /// Every column, in the result's order.
    pub fn all(result: &wit::QueryResult) -> Selection {
        Selection {
            shown: (0..result.columns.len()).collect(),
            currency: currency_column(&result.columns),
        }
    }

    /// The named columns, in the order named.
    pub fn choose(result: &wit::QueryResult, names: &[String]) -> Result<Selection, UnknownColumn> {
        let refuse = |problem: String| UnknownColumn {
            problem,
            table: result.table.clone(),
            columns: result
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let mut shown = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let i = result
                .columns
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| refuse(format!("--columns: no column {name:?}")))?;
            if shown.contains(&i) {
                return Err(refuse(format!("--columns: {name:?} is named twice")));
            }
            shown.push(i);
        }
        if shown.is_empty() {
            return Err(refuse("--columns: no column named".to_owned()));
        }
        Ok(Selection {
            shown,
            currency: currency_column(&result.columns),
        })
    }

    /// The same, with the currency column right after the first amount column when it was left out: a
    /// spreadsheet of bare decimal amounts must still say what currency they are in.
    pub fn with_currency_beside_amounts(mut self, result: &wit::QueryResult) -> Selection {
        let Some(currency) = self.currency else {
            return self;
        };
        if self.shown.contains(&currency) {
            return self;
        }
        if let Some(at) = self
            .shown
            .iter()
            .position(|&i| result.columns[i].kind == wit::ColumnType::Amount)
        {
            self.shown.insert(at + 1, currency);
        }
        self
    }

    /// The result with only the shown columns, in the shown order (for `--format json`).
    pub fn project(&self, result: &wit::QueryResult) -> wit::QueryResult {
        wit::QueryResult {
            columns: self
                .shown
                .iter()
                .map(|&i| result.columns[i].clone())
                .collect(),
            rows: result
                .rows
                .iter()
                .map(|row| {
                    self.shown
                        .iter()
                        .map(|&i| row.get(i).cloned().unwrap_or(wit::Cell::Null))
                        .collect()
                })
                .collect(),
            // Field by field: `..result.clone()` would copy every row only to drop them.
            table: result.table.clone(),
            truncated: result.truncated,
            cache_ttl_seconds: result.cache_ttl_seconds,
            shape: result.shape.clone(),
            requests: result.requests,
            scan_note: result.scan_note.clone(),
            aggregate: result.aggregate,
        }
    }

    /// The row's currency code, if the table has a currency column and the row a value in it.
    pub fn currency_of<'r>(&self, row: &'r [wit::Cell]) -> Option<&'r str> {
        match self.currency.and_then(|i| row.get(i)) {
            // An empty code names no currency: "(no currency)", not "7  (minor units)".
            Some(wit::Cell::Text(code)) if !code.trim().is_empty() => Some(code),
            _ => None,
        }
    }
}

fn currency_column(columns: &[wit::Column]) -> Option<usize> {
    columns
        .iter()
        .position(|c| c.kind == wit::ColumnType::Currency)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn column(name: &str, kind: wit::ColumnType) -> wit::Column {
        wit::Column {
            name: name.into(),
            kind,
            nullable: true,
            doc: String::new(),
        }
    }

    pub(crate) fn charges() -> wit::QueryResult {
        use wit::ColumnType::*;
        wit::QueryResult {
            table: "charges".into(),
            columns: vec![
                column("id", Id),
                column("amount", Amount),
                column("currency", Currency),
                column("status", Text),
            ],
            rows: vec![vec![
                wit::Cell::Text("ch_1".into()),
                wit::Cell::Integer(421_100),
                wit::Cell::Text("eur".into()),
                wit::Cell::Text("failed".into()),
            ]],
            truncated: false,
            cache_ttl_seconds: 60,
            shape: wit::Shape {
                table: "charges".into(),
                columns: vec![],
                row_count: 1,
                filter_keys: vec![],
                aggregate: None,
            },
            requests: 1,
            scan_note: None,
            aggregate: None,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_are_chosen_and_ordered_by_name() {
        let r = charges();
        let s = Selection::choose(&r, &names(&["status", "id"])).expect("valid");
        assert_eq!(s.shown, vec![3, 0]);
        assert_eq!(s.currency, Some(2));
        let p = s.project(&r);
        assert_eq!(p.columns[0].name, "status");
        assert_eq!(p.rows[0][1], wit::Cell::Text("ch_1".into()));
    }

    #[test]
    fn a_blank_currency_is_no_currency() {
        let r = charges();
        let s = Selection::choose(&r, &names(&["amount"])).expect("valid");
        let row = |code: &str| {
            vec![
                wit::Cell::Text("ch_1".into()),
                wit::Cell::Integer(7),
                wit::Cell::Text(code.into()),
                wit::Cell::Null,
            ]
        };
        assert_eq!(s.currency_of(&row("eur")), Some("eur"));
        assert_eq!(s.currency_of(&row("")), None);
        assert_eq!(s.currency_of(&row("  ")), None);
    }

    #[test]
    fn an_unknown_or_repeated_column_names_the_tables_columns() {
        let r = charges();
        for (list, problem) in [
            (&["id", "amount_due"][..], "no column \"amount_due\""),
            (&["id", "id"][..], "\"id\" is named twice"),
        ] {
            let err = Selection::choose(&r, &names(list)).expect_err("refused");
            let text = err.to_string();
            assert!(text.contains(problem), "{text}");
            assert!(
                text.contains(
                    "the columns of this charges result are: id, amount, currency, status"
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_checked_alone_for_what_needs_no_result() {
        assert_eq!(check_names(&names(&["id", "amount"])), Ok(()));
        for (list, problem) in [
            (&["id", " id "][..], "\"id\" is named twice"),
            (&["id", ""][..], "an empty column name"),
            (&[" "][..], "an empty column name"),
            (
                &["rk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcde"][..],
                "43 letters and digits in a row",
            ),
        ] {
            let err = check_names(&names(list)).expect_err("refused");
            assert!(err.contains(problem), "{list:?}: {err}");
            assert!(!err.contains("AbCdEf"), "never quoted: {err}");
        }
    }

    #[test]
    fn csv_keeps_the_currency_beside_an_amount() {
        let r = charges();
        let s = Selection::choose(&r, &names(&["status", "amount", "id"]))
            .expect("valid")
            .with_currency_beside_amounts(&r);
        assert_eq!(s.shown, vec![3, 1, 2, 0]);
        // Already there, or no amount: unchanged.
        let s = Selection::all(&r).with_currency_beside_amounts(&r);
        assert_eq!(s.shown, vec![0, 1, 2, 3]);
        let s = Selection::choose(&r, &names(&["id"]))
            .expect("valid")
            .with_currency_beside_amounts(&r);
        assert_eq!(s.shown, vec![0]);
    }
}
