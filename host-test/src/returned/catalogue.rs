//! The catalogue a component describes, checked before anything is built from it ([`check_info`]), and
//! the names it holds ([`CatalogueNames`]): what a memory shape may name. Its counts are bounded first,
//! since the host's work on it (the bucketed names above all) grows with them.

use super::{check_columns, identifier, malformed, text, DOC_CAP, MAX_COLUMNS};
use crate::sandbox::{wit, SandboxError};
use klairr_policy::redact::cap;
use std::collections::{BTreeMap, BTreeSet};

/// The most tables a catalogue may have, and the most buckets (`day`, `month`…) its aggregates may
/// offer; far above any real catalogue (Stripe's: 5 tables, 5 buckets).
const MAX_TABLES: usize = 256;
const MAX_BUCKETS: usize = 32;
/// The most `column_bucket` names a catalogue may make (each bucketed column of each table, times each
/// bucket): the host makes and keeps every one ([`CatalogueNames::of`]), on its own thread, after the
/// call has returned. Stripe's make a few dozen.
const MAX_BUCKETED_NAMES: usize = 4096;

/// The names a connector's catalogue holds: its tables, and its columns, filter keys and bucketed group
/// columns (`created_month`). `describe` runs before any credential or data reaches a component, so none
/// of these can carry a value of the source: they are what a memory shape may name, with what the caller
/// wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogueNames {
    pub(super) tables: BTreeSet<String>,
    pub(super) names: BTreeSet<String>,
    /// Each table's filter keys.
    pub(super) filters: BTreeMap<String, BTreeSet<String>>,
    /// The types a column of that name has in the catalogue (a name may be a column of several tables);
    /// `timestamp` for a bucketed group column.
    pub(super) kinds: BTreeMap<String, Vec<wit::ColumnType>>,
}

impl CatalogueNames {
    /// Whether `name` is one of the catalogue's tables.
    pub fn is_table(&self, name: &str) -> bool {
        self.tables.contains(name)
    }

    /// The catalogue's tables, in name order.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(String::as_str)
    }

    pub fn of(info: &wit::ConnectorInfo) -> CatalogueNames {
        let buckets: &[String] = info.aggregates.as_ref().map_or(&[], |a| &a.buckets);
        let mut known = CatalogueNames::default();
        for table in &info.tables {
            known.tables.insert(table.name.clone());
            known
                .names
                .extend(table.columns.iter().map(|c| c.name.clone()));
            for column in &table.columns {
                known.add_kind(&column.name, column.kind);
            }
            known
                .names
                .extend(table.filters.iter().map(|f| f.key.clone()));
            known.filters.insert(
                table.name.clone(),
                table.filters.iter().map(|f| f.key.clone()).collect(),
            );
            for column in table.aggregate.iter().flat_map(|a| &a.bucket_by) {
                for bucket in buckets {
                    let name = format!("{column}_{bucket}");
                    known.add_kind(&name, wit::ColumnType::Timestamp);
                    known.names.insert(name);
                }
            }
        }
        known
    }

    fn add_kind(&mut self, name: &str, kind: wit::ColumnType) {
        let kinds = self.kinds.entry(name.to_owned()).or_default();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
}

/// The catalogue from `describe`: identifiers for names, docs capped; an aggregate spec names only its
/// table's columns.
pub fn check_info(mut info: wit::ConnectorInfo) -> Result<wit::ConnectorInfo, SandboxError> {
    identifier("connector name", &info.name, None)?;
    // Counts first: what follows, and `CatalogueNames::of`, costs the host time and memory in
    // proportion to them (review: 100,000 bucketed columns times 100,000 buckets, 5 MiB handed back,
    // made the host build 10^10 names after the call had returned; distinct buckets over 512 columns
    // kept gigabytes). A list of names names each once.
    if info.tables.len() > MAX_TABLES {
        return Err(malformed(format!(
            "{} tables, more than {MAX_TABLES}",
            info.tables.len()
        )));
    }
    let buckets = info.aggregates.as_ref().map_or(0, |a| a.buckets.len());
    if buckets > MAX_BUCKETS {
        return Err(malformed(format!(
            "{buckets} aggregate buckets, more than {MAX_BUCKETS}"
        )));
    }
    if let Some(aggregates) = &info.aggregates {
        once_each("aggregate buckets", &aggregates.buckets)?;
    }
    let mut bucketed = 0usize;
    for t in &info.tables {
        for (what, count) in [
            ("filters", t.filters.len()),
            (
                "measures",
                t.aggregate.as_ref().map_or(0, |a| a.measures.len()),
            ),
        ] {
            if count > MAX_COLUMNS {
                return Err(malformed(format!(
                    "table {}: {count} {what}, more than {MAX_COLUMNS}",
                    cap(&t.name, 80)
                )));
            }
        }
        if let Some(spec) = &t.aggregate {
            once_each("group-by", &spec.group_by)?;
            once_each("bucket-by", &spec.bucket_by)?;
            for m in &spec.measures {
                once_each("a measure's columns", &m.columns)?;
            }
            bucketed = bucketed.saturating_add(spec.bucket_by.len().saturating_mul(buckets));
        }
    }
    if bucketed > MAX_BUCKETED_NAMES {
        return Err(malformed(format!(
            "{bucketed} bucketed group columns (columns times buckets), more than {MAX_BUCKETED_NAMES}"
        )));
    }
    info.api_version = text(std::mem::take(&mut info.api_version), None, 64);
    info.query_doc = text(std::mem::take(&mut info.query_doc), None, DOC_CAP);
    for t in &mut info.tables {
        identifier("table", &t.name, None)?;
        t.doc = text(std::mem::take(&mut t.doc), None, DOC_CAP);
        check_columns(&mut t.columns, None)?;
        for f in &mut t.filters {
            identifier("filter", &f.key, None)?;
            f.accepts = text(std::mem::take(&mut f.accepts), None, DOC_CAP);
            f.doc = text(std::mem::take(&mut f.doc), None, DOC_CAP);
        }
        if let Some(spec) = &mut t.aggregate {
            let columns: BTreeSet<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            let of_table = |what: &str, names: &[String]| -> Result<(), SandboxError> {
                match names.iter().find(|n| !columns.contains(&n.as_str())) {
                    Some(n) => Err(malformed(format!(
                        "table {}: {what} names {:?}, not one of its columns",
                        t.name,
                        cap(n, 80)
                    ))),
                    None => Ok(()),
                }
            };
            of_table("group-by", &spec.group_by)?;
            of_table("bucket-by", &spec.bucket_by)?;
            for m in &mut spec.measures {
                identifier("measure", &m.name, None)?;
                of_table(&format!("measure {}", m.name), &m.columns)?;
                m.doc = text(std::mem::take(&mut m.doc), None, DOC_CAP);
            }
        }
    }
    if let Some(aggregates) = &mut info.aggregates {
        aggregates.doc = text(std::mem::take(&mut aggregates.doc), None, 2 * DOC_CAP);
        for bucket in &aggregates.buckets {
            identifier("bucket", bucket, None)?;
        }
    }
    Ok(info)
}

/// `names` holds no name twice.
fn once_each(what: &str, names: &[String]) -> Result<(), SandboxError> {
    let mut seen = BTreeSet::new();
    match names.iter().find(|n| !seen.insert(n.as_str())) {
        Some(n) => Err(malformed(format!(
            "{what} name {:?} more than once",
            cap(n, 80)
        ))),
        None => Ok(()),
    }
}
