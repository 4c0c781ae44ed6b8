//! `group_by` and `measures`: an aggregate query's two keys, checked against the table's catalogue entry
//! into an [`Aggregate`] (README, "Aggregates"). Everything is refused here, before any request.

use super::json::Json;
use super::{describe, invalid, quote};
use crate::aggregate::{
    self, Aggregate, Bucket, Func, GroupKey, Measure, Order, ResultColumn, MAX_GROUP_COLUMNS,
    MAX_MEASURES,
};
use crate::error::ConnectorError;
use crate::prelude::*;
use crate::schema::{self, ColumnSpec, ColumnType, Table};

const MEASURE_EXAMPLE: &str = r#"{"n": "count", "amount": {"sum": "amount"}}"#;
const GROUP_EXAMPLE: &str = r#"["currency", {"created": "month"}]"#;

/// The aggregate of a query of `table` with these `group_by`, `measures` and `order_by` values
/// (`measures` given: it is what makes a query an aggregate); `currency_filtered` when its filters
/// name one currency.
pub(super) fn aggregate(
    table: Table,
    group_by: Option<Json>,
    measures: Json,
    order_by: Option<Json>,
    max_scan: u32,
    currency_filtered: bool,
) -> Result<Aggregate, ConnectorError> {
    let group_by = match group_by {
        None => Vec::new(),
        Some(Json::Array(items)) => group_keys(table, items)?,
        Some(other) => {
            return Err(invalid(format!(
                "'group_by' must be an array of column names or {{COLUMN: BUCKET}} objects, e.g. {GROUP_EXAMPLE}; \
                 got {}",
                describe(&other)
            )))
        }
    };
    let measures = match measures {
        Json::Object(entries) => measure_list(table, entries)?,
        other => {
            return Err(invalid(format!(
            "'measures' must be an object of output name → measure, e.g. {MEASURE_EXAMPLE}; got {}",
            describe(&other)
        )))
        }
    };
    for m in &measures {
        if group_by.iter().any(|g| g.name() == m.name) {
            return Err(invalid(format!(
                "the measure name {} is also a group column of the result: give the measure another name",
                quote(&m.name)
            )));
        }
    }
    let needing = group_by
        .iter()
        .filter(|g| g.bucket.is_none())
        .map(|g| (None, g.column))
        .chain(
            measures
                .iter()
                .filter_map(|m| Some((Some(m.func), m.column?))),
        )
        .find(|(func, column)| aggregate::needs_currency(*func, column));
    if let (Some((func, column)), Some(currency)) = (needing, aggregate::currency_column(table)) {
        let currency_at = group_by
            .iter()
            .position(|g| g.bucket.is_none() && g.column.name == currency.name);
        // Groups are ordered by their columns in turn (what a top N keeps without `order_by`, and
        // ties under it): an amount before the currency would compare two currencies' amounts, as an
        // `order_by` written so would (review).
        if let Some(amount) =
            currency_at.and_then(|at| group_by[..at].iter().find(|g| g.is_money()))
        {
            let (name, currency) = (amount.column.name, currency.name);
            return Err(invalid(format!(
                "group_by: {name} {NEVER_COMPARED}: put {currency} first, e.g. [\"{currency}\", \"{name}\"]"
            )));
        }
        if currency_at.is_none() {
            let what = match func {
                Some(f) => format!("{} of the amount column {}", f.name(), column.name),
                None => format!("grouping by the amount column {}", column.name),
            };
            // With one currency filtered nothing could mix; the amount still needs its currency
            // beside it (QA: "would mix currencies" under a currency filter).
            return Err(invalid(if currency_filtered {
                format!(
                    "{what} needs \"{0}\" in group_by, even with a {0} filter: every measure of money \
                     does. Add \"{0}\" to group_by (with the filter, one group)",
                    currency.name
                )
            } else {
                format!(
                    "{what} would mix currencies: money is never added or compared across currencies. Add \"{}\" \
                     to group_by (one row per currency)",
                    currency.name
                )
            }));
        }
    }
    let order_by = match order_by {
        None => Vec::new(),
        Some(value) => order_keys(&group_by, &measures, value)?,
    };
    Ok(Aggregate {
        table,
        group_by,
        measures,
        order_by,
        max_scan,
    })
}

/// Why an amount is refused before its currency, in `group_by` and in `order_by`.
const NEVER_COMPARED: &str = "is an amount, and amounts of different currencies are never compared";

/// The `order_by` array: `{NAME: "asc" | "desc"}` objects naming the result's columns (measures and
/// group columns), each once; an amount only after the currency, so that no two currencies' amounts
/// are compared. A form written wrongly is answered with the form and the result's columns.
fn order_keys(
    group_by: &[GroupKey],
    measures: &[Measure],
    value: Json,
) -> Result<Vec<Order>, ConnectorError> {
    let Json::Array(items) = value else {
        return Err(order_error(group_by, measures, &value, false));
    };
    let currency = group_by.iter().position(GroupKey::is_currency);
    let mut keys: Vec<Order> = Vec::with_capacity(items.len());
    for item in &items {
        let found = match item {
            Json::Object(entries) => match entries.as_slice() {
                [(name, Json::Str(direction))] if direction == "asc" || direction == "desc" => {
                    let column = measures
                        .iter()
                        .position(|m| m.name == *name)
                        .map(ResultColumn::Measure)
                        .or_else(|| {
                            group_by
                                .iter()
                                .position(|g| g.name() == *name)
                                .map(ResultColumn::Group)
                        });
                    column.map(|column| (name, direction == "desc", column))
                }
                _ => None,
            },
            _ => None,
        };
        let Some((name, descending, column)) = found else {
            return Err(order_error(group_by, measures, item, true));
        };
        if keys.iter().any(|k| k.column == column) {
            return Err(invalid(format!("order_by names {} twice", quote(name))));
        }
        let money = match column {
            ResultColumn::Measure(i) => measures[i].is_money(),
            ResultColumn::Group(i) => group_by[i].is_money(),
        };
        if let (true, Some(currency)) = (money, currency) {
            if !keys
                .iter()
                .any(|k| k.column == ResultColumn::Group(currency))
            {
                let currency = group_by[currency].column.name;
                // `name` is a column of the result here: letters, digits and `_`. The example keeps the
                // direction asked for (QA: it showed "desc" to a query that asked "asc").
                let (direction, which) = if descending {
                    ("desc", "largest")
                } else {
                    ("asc", "smallest")
                };
                return Err(invalid(format!(
                    "order_by: {name} {NEVER_COMPARED}: sort by {currency} first, e.g. [{{\"{currency}\": \"asc\"}}, {{\"{name}\": \"{direction}\"}}] \
                     (each currency's groups, {which} first)"
                )));
            }
        }
        keys.push(Order { column, descending });
    }
    if keys.is_empty() {
        return Err(order_error(
            group_by,
            measures,
            &Json::Array(Vec::new()),
            true,
        ));
    }
    Ok(keys)
}

#[cold]
#[inline(never)]
/// `got` is the whole `order_by` value, or one entry of its array when `is_entry`.
fn order_error(
    group_by: &[GroupKey],
    measures: &[Measure],
    got: &Json,
    is_entry: bool,
) -> ConnectorError {
    // In the result's order: the group columns, then the measures.
    let columns: Vec<String> = group_by
        .iter()
        .map(GroupKey::name)
        .chain(measures.iter().map(|m| m.name.clone()))
        .collect();
    // An example that is itself accepted: a measure of no money alone, else the currency before one.
    let currency = group_by.iter().find(|g| g.is_currency());
    let example = match (
        measures.iter().find(|m| !m.is_money()),
        measures.first(),
        currency,
    ) {
        (Some(m), ..) => format!("[{{\"{}\": \"desc\"}}]", m.name),
        (None, Some(m), Some(c)) => format!(
            "[{{\"{}\": \"asc\"}}, {{\"{}\": \"desc\"}}]",
            c.column.name, m.name
        ),
        _ => String::from("[{\"n\": \"desc\"}]"),
    };
    let columns = columns.join(", ");
    invalid(match got {
        // The form is right, the name is not one of the result's columns (a measure's function, say).
        Json::Object(entries)
            if is_entry
                && matches!(entries.as_slice(), [(_, Json::Str(d))] if d == "asc" || d == "desc") =>
        {
            format!(
                "order_by: {} is no column of the result; its columns are {columns} (a measure is sorted by \
                 the name it has in measures), e.g. {example}",
                quote(&entries[0].0)
            )
        }
        _ => format!(
            "'order_by' is a non-empty array of {{COLUMN: \"asc\" or \"desc\"}} objects, one key each (lower \
             case; \"desc\": largest first), each a column of the result ({columns}), e.g. {example}; got {}",
            if is_entry { entry(got) } else { describe(got) }
        ),
    })
}

/// An `order_by` entry in a message: a one-key object as `{'name': the string 'up'}`.
#[cold]
#[inline(never)]
fn entry(item: &Json) -> String {
    match item {
        Json::Array(items) if items.is_empty() => "[]".into(),
        Json::Object(entries) => match entries.as_slice() {
            [(name, direction)] => format!("{{{}: {}}}", quote(name), describe(direction)),
            _ => describe(item),
        },
        other => describe(other),
    }
}

/// The `group_by` array: column names, or `{COLUMN: BUCKET}` for a timestamp column.
fn group_keys(table: Table, items: Vec<Json>) -> Result<Vec<GroupKey>, ConnectorError> {
    if items.len() > MAX_GROUP_COLUMNS {
        return Err(invalid(format!(
            "'group_by' has {} columns; at most {MAX_GROUP_COLUMNS} are accepted",
            items.len()
        )));
    }
    let mut keys: Vec<GroupKey> = Vec::with_capacity(items.len());
    for item in items {
        let key = match item {
            Json::Str(name) => GroupKey {
                column: column_of(table, &name, "group_by")?,
                bucket: None,
            },
            Json::Object(mut entries) if entries.len() == 1 => {
                let (name, bucket) = entries.remove(0);
                let column = column_of(table, &name, "group_by")?;
                if column.kind != ColumnType::Timestamp {
                    return Err(invalid(format!(
                        "group_by: {} has type {}; buckets apply to timestamp columns only ({}). Group by \
                         \"{}\" as it is instead",
                        quote(&name),
                        column.kind.as_str(),
                        timestamp_columns(table),
                        column.name
                    )));
                }
                let bucket = match &bucket {
                    Json::Str(b) => Bucket::from_name(b),
                    _ => None,
                };
                let Some(bucket) = bucket else {
                    return Err(invalid(format!(
                        "group_by: the bucket of {} must be one of: {}",
                        quote(&name),
                        bucket_names()
                    )));
                };
                GroupKey {
                    column,
                    bucket: Some(bucket),
                }
            }
            other => {
                return Err(invalid(format!(
                    "each group_by entry is a column name or one {{COLUMN: BUCKET}}, e.g. {GROUP_EXAMPLE}; got {}",
                    describe(&other)
                )))
            }
        };
        if key.bucket.is_none() && key.column.personal {
            return Err(invalid(format!(
                "group_by: {} is free text about a person and cannot be a group key (its values would leave the \
                 connector); count it with {{\"count_distinct\": \"{}\"}} instead",
                key.column.name, key.column.name
            )));
        }
        let name = key.name();
        if keys.iter().any(|k| k.name() == name) {
            return Err(invalid(format!(
                "group_by names {} twice: give each group column once",
                quote(&name)
            )));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The `measures` object: output name → measure, in the order written.
fn measure_list(
    table: Table,
    entries: Vec<(String, Json)>,
) -> Result<Vec<Measure>, ConnectorError> {
    if entries.is_empty() {
        return Err(invalid(format!(
            "'measures' is empty: give at least one, e.g. {MEASURE_EXAMPLE}"
        )));
    }
    if entries.len() > MAX_MEASURES {
        return Err(invalid(format!(
            "'measures' has {} entries; at most {MAX_MEASURES} are accepted",
            entries.len()
        )));
    }
    // The JSON reader refuses a name given twice.
    let mut measures = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if !is_output_name(&name) {
            return Err(invalid(format!(
                "the measure name {} must match [a-z][a-z0-9_]{{0,63}} (lower-case letters, digits, underscores; \
                 a letter first; at most 64 characters)",
                quote(&name)
            )));
        }
        let (func, column) = match value {
            Json::Str(s) if s == "count" => (Func::Count, None),
            Json::Object(mut entries) if entries.len() == 1 => {
                let (func_name, column_name) = entries.remove(0);
                let func = Func::from_name(&func_name)
                    .ok_or_else(|| unknown_measure(&name, &quote(&func_name)))?;
                let Json::Str(column_name) = column_name else {
                    return Err(invalid(format!(
                        "measure {}: {} takes a column name, e.g. {{\"{}\": \"amount\"}}; got {}",
                        quote(&name),
                        func.name(),
                        func.name(),
                        describe(&column_name)
                    )));
                };
                let column = column_of(table, &column_name, func.name())?;
                if !func.accepts(column.kind) {
                    return Err(invalid(format!(
                        "measure {}: {} takes {}; {} has type {}. Columns of {} it accepts: {}",
                        quote(&name),
                        func.name(),
                        func.accepts_text(),
                        column.name,
                        column.kind.as_str(),
                        table.name(),
                        accepted_columns(table, func)
                    )));
                }
                (func, Some(column))
            }
            // Two measures under one name: each needs a name of its own.
            Json::Object(entries) if entries.len() > 1 => {
                let keys: Vec<String> = entries.iter().map(|(k, _)| quote(k)).collect();
                return Err(invalid(format!(
                    "measure {}: one measure per name, written {{MEASURE: COLUMN}} with one key; got {} keys \
                     ({}): give each measure a name of its own, e.g. {{\"s\": {{\"sum\": COLUMN}}, \"n\": {{\"count\": COLUMN}}}}",
                    quote(&name),
                    entries.len(),
                    keys.join(", ")
                )));
            }
            other => return Err(unknown_measure(&name, &describe(&other))),
        };
        measures.push(Measure { name, func, column });
    }
    Ok(measures)
}

fn unknown_measure(name: &str, got: &str) -> ConnectorError {
    let funcs: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
    invalid(format!(
        "measure {}: expected \"count\" or {{MEASURE: COLUMN}} with MEASURE one of {}; got {got}",
        quote(name),
        funcs.join(", ")
    ))
}

/// An output name: `[a-z][a-z0-9_]{0,63}`.
fn is_output_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn column_of(table: Table, name: &str, what: &str) -> Result<&'static ColumnSpec, ConnectorError> {
    let spec = schema::table_spec(table);
    spec.columns.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        // `created_month` is a bucket's name in the result, not a column: say how a bucket is written.
        let bucket = name
            .rsplit_once('_')
            .and_then(|(column, _)| spec.columns.iter().find(|c| c.name == column))
            .filter(|c| c.kind == ColumnType::Timestamp)
            .map_or(String::new(), |c| {
                format!(
                    "; a bucket of {0} is written {{\"{0}\": BUCKET}} in group_by",
                    c.name
                )
            });
        invalid(format!(
            "{what}: unknown column {} for table {}: its columns are: {}{bucket}",
            quote(name),
            table.name(),
            names.join(", ")
        ))
    })
}

fn accepted_columns(table: Table, func: Func) -> String {
    let names: Vec<&str> = schema::table_spec(table)
        .columns
        .iter()
        .filter(|c| func.accepts(c.kind))
        .map(|c| c.name)
        .collect();
    names.join(", ")
}

fn timestamp_columns(table: Table) -> String {
    let names: Vec<&str> = schema::table_spec(table)
        .columns
        .iter()
        .filter(|c| c.kind == ColumnType::Timestamp)
        .map(|c| c.name)
        .collect();
    names.join(", ")
}

fn bucket_names() -> String {
    let names: Vec<&str> = Bucket::ALL.iter().map(|b| b.name()).collect();
    names.join(", ")
}
