//! The catalogue: the ledger's two tables, their typed columns and their filters — what `describe`
//! returns and what every result is shaped by.

/// The tables the connector reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Accounts,
    Entries,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Accounts, Table::Entries];

    pub fn name(self) -> &'static str {
        match self {
            Table::Accounts => "accounts",
            Table::Entries => "entries",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The API's list path for this table.
    pub fn path(self) -> &'static str {
        match self {
            Table::Accounts => "/v1/accounts",
            Table::Entries => "/v1/entries",
        }
    }

    pub fn spec(self) -> &'static TableSpec {
        match self {
            Table::Accounts => &TABLES[0],
            Table::Entries => &TABLES[1],
        }
    }
}

pub use klairr_connector_sdk::catalogue::{Cell, ColumnSpec, ColumnType, FilterSpec};

/// A table of the ledger: its columns and the filters it takes.
pub type TableSpec = klairr_connector_sdk::catalogue::TableSpec<Table, FilterSpec>;

impl klairr_connector_sdk::catalogue::Table for Table {
    fn name(self) -> &'static str {
        Table::name(self)
    }
}

const CURRENCY: FilterSpec = FilterSpec {
    key: "currency",
    accepts: "a three-letter ISO 4217 code, e.g. \"eur\" (any case)",
    doc: "Only rows in this currency.",
};

const CREATED: FilterSpec = FilterSpec {
    key: "created",
    accepts: "unix seconds for one exact second, or an object of gt/gte/lt/lte whose values are unix seconds \
              or UTC dates (\"2026-01-01\") or date-times (\"2026-01-01T10:00:00Z\")",
    doc: "When the row was created.",
};

static TABLES: [TableSpec; 2] = [
    TableSpec {
        table: Table::Accounts,
        doc: "Ledger accounts (one per currency and purpose) with their current balance, newest first.",
        columns: &[
            ColumnSpec::new("id", ColumnType::Id, false, "The account's id, acc_…"),
            ColumnSpec::new("name", ColumnType::Text, false, "The account's name."),
            ColumnSpec::new("currency", ColumnType::Currency, false, "The account's currency."),
            ColumnSpec::new(
                "balance",
                ColumnType::Amount,
                false,
                "The current balance in minor units of the currency (cents for eur); negative when overdrawn.",
            ),
            ColumnSpec::new("created", ColumnType::Timestamp, false, "When the account was opened."),
        ],
        filters: &[CURRENCY, CREATED],
    },
    TableSpec {
        table: Table::Entries,
        doc: "Ledger entries (postings to one account), newest first.",
        columns: &[
            ColumnSpec::new("id", ColumnType::Id, false, "The entry's id, ent_…"),
            ColumnSpec::new("account", ColumnType::Id, false, "The account posted to, acc_…"),
            ColumnSpec::new(
                "amount",
                ColumnType::Amount,
                false,
                "Minor units of the currency: positive credits, negative debits.",
            ),
            ColumnSpec::new("currency", ColumnType::Currency, false, "The entry's currency."),
            ColumnSpec::new("created", ColumnType::Timestamp, false, "When the entry was posted."),
            ColumnSpec::new("memo", ColumnType::Text, true, "Free text from whoever posted it; null when none."),
        ],
        filters: &[
            FilterSpec {
                key: "account",
                accepts: "an account id, acc_ followed by letters and digits",
                doc: "Only entries posted to this account.",
            },
            CURRENCY,
            CREATED,
        ],
    },
];

pub fn tables() -> &'static [TableSpec] {
    &TABLES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_found_by_name_and_path() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
            assert_eq!(t.spec().table, t);
            assert_eq!(t.path(), format!("/v1/{}", t.name()));
        }
        assert_eq!(Table::from_name("Entries"), None);
        assert_eq!(tables().len(), Table::ALL.len());
    }

    #[test]
    fn names_are_identifiers_the_host_accepts() {
        let ident = |s: &str| {
            let mut b = s.bytes();
            s.len() <= 64
                && b.next().is_some_and(|c| c.is_ascii_lowercase())
                && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        };
        for t in tables() {
            assert!(ident(t.table.name()));
            for c in t.columns {
                assert!(ident(c.name), "{}", c.name);
                assert!(!c.doc.is_empty());
            }
            for f in t.filters {
                assert!(ident(f.key), "{}", f.key);
            }
            assert_eq!(t.columns[0].name, "id", "the id comes first");
        }
        assert_eq!(
            Table::Entries.spec().filter_keys(),
            ["account", "currency", "created"]
        );
        assert!(!Table::Accounts.spec().has_filter("account"));
    }
}
