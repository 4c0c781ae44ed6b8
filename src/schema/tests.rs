use super::*;

#[test]
fn catalogue_follows_table_order_and_readme() {
    assert_eq!(tables().len(), Table::ALL.len());
    for (i, t) in Table::ALL.into_iter().enumerate() {
        assert_eq!(tables()[i].table, t);
        assert_eq!(table_spec(t).table, t);
        let spec = table_spec(t);
        assert_eq!(spec.columns[0].name, "id", "{}", t.name());
        assert_eq!(spec.columns[0].kind, ColumnType::Id);
        assert!(!spec.columns[0].nullable);
        assert_eq!(spec.columns.last().map(|c| c.name), Some("livemode"));
        assert!(!spec.doc.is_empty());
        let mut names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        for c in spec.columns {
            assert!(!c.doc.is_empty(), "{}.{}", t.name(), c.name);
            if c.kind == ColumnType::Amount {
                assert!(
                    c.doc.contains("minor units of currency"),
                    "{}.{}",
                    t.name(),
                    c.name
                );
            }
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            spec.columns.len(),
            "duplicate column in {}",
            t.name()
        );
        for f in spec.filters {
            assert!(!f.accepts.is_empty() && !f.doc.is_empty());
            if let Some(values) = filter_values(t, f.key) {
                let listed = f.accepts.trim_start_matches("one of: ");
                assert_eq!(listed, values.join(", "), "{}.{}", t.name(), f.key);
            }
        }
    }
}

#[test]
fn columns_are_compares_names_in_order() {
    for t in Table::ALL {
        let names: Vec<&str> = table_spec(t).columns.iter().map(|c| c.name).collect();
        assert!(columns_are(t, &names), "{}", t.name());
        let mut swapped = names.clone();
        swapped.swap(0, 1);
        assert!(!columns_are(t, &swapped), "{}", t.name());
        assert!(!columns_are(t, &names[..names.len() - 1]), "{}", t.name());
        let mut longer = names.clone();
        longer.push("extra");
        assert!(!columns_are(t, &longer), "{}", t.name());
        let mut renamed = names.clone();
        renamed[1] = "createe";
        assert!(!columns_are(t, &renamed), "{}", t.name());
    }
    assert!(!columns_are(Table::Customers, &[]));
}

#[test]
fn column_names_are_exactly_the_readme_tables() {
    let names = |t: Table| -> String {
        let v: Vec<&str> = table_spec(t).columns.iter().map(|c| c.name).collect();
        v.join(", ")
    };
    assert_eq!(
        names(Table::Customers),
        "id, created, email, name, description, currency, balance, delinquent, address_country, tax_exempt, livemode"
    );
    assert_eq!(
        names(Table::Subscriptions),
        "id, customer, status, collection_method, currency, created, start_date, current_period_start, \
         current_period_end, trial_end, cancel_at_period_end, cancel_at, canceled_at, ended_at, item_count, mrr, livemode"
    );
    assert_eq!(
        names(Table::Invoices),
        "id, number, customer, subscription, status, collection_method, billing_reason, currency, total, \
         amount_due, amount_paid, amount_remaining, created, due_date, paid_at, period_start, period_end, \
         attempt_count, livemode"
    );
    assert_eq!(
        names(Table::Charges),
        "id, customer, payment_intent, created, amount, amount_captured, amount_refunded, currency, status, \
         paid, captured, refunded, disputed, failure_code, failure_message, outcome_type, balance_transaction, livemode"
    );
    assert_eq!(
        names(Table::Payouts),
        "id, created, arrival_date, amount, currency, status, type, method, automatic, failure_code, \
         reconciliation_status, balance_transaction, destination, livemode"
    );
}

#[test]
fn filters_are_exactly_the_readme_tables() {
    let keys = |t: Table| table_spec(t).filter_list();
    assert_eq!(keys(Table::Customers), "created, delinquent, currency");
    assert_eq!(
        keys(Table::Subscriptions),
        "created, current_period_start, current_period_end, customer, status, collection_method, \
         cancel_at_period_end, currency"
    );
    assert_eq!(
        keys(Table::Invoices),
        "created, due_date, customer, subscription, status, collection_method, currency"
    );
    assert_eq!(
        keys(Table::Charges),
        "created, customer, status, refunded, disputed, currency"
    );
    assert_eq!(
        keys(Table::Payouts),
        "created, arrival_date, status, currency"
    );
    let sub_status = table_spec(Table::Subscriptions)
        .filter("status")
        .map(|f| f.doc);
    assert!(sub_status.is_some_and(|d| d.contains("status=all")));
    let charge_status = table_spec(Table::Charges).filter("status").map(|f| f.doc);
    assert!(charge_status.is_some_and(|d| d.contains("applied by the connector")));
}

#[test]
fn filter_kinds_say_how_each_filter_is_read_and_sent() {
    let mut by_connector = Vec::new();
    let mut defaults = Vec::new();
    for t in Table::ALL {
        for f in table_spec(t).filters {
            let name = format!("{}.{}", t.name(), f.key);
            match f.kind {
                FilterKind::Range => {
                    assert_eq!(f.accepts, RANGE_ACCEPTS, "{name}");
                    assert_eq!(filter_values(t, f.key), None, "{name}");
                }
                FilterKind::Id { prefix } => {
                    assert_eq!(filter_values(t, f.key), None, "{name}");
                    assert!(prefix.ends_with('_'), "{name}");
                    let what = f.key;
                    let start = format!("a {what} id: {prefix} followed by letters and digits");
                    assert!(f.accepts.starts_with(&start), "{name}: {}", f.accepts);
                }
                FilterKind::OneOf(values) => {
                    assert_eq!(filter_values(t, f.key), Some(values), "{name}");
                    assert_eq!(f.accepts, format!("one of: {}", values.join(", ")));
                }
                FilterKind::Currency => {
                    assert_eq!(f.accepts, CURRENCY_ACCEPTS, "{name}");
                    assert_eq!(filter_values(t, f.key), None, "{name}");
                    assert!(f.by_connector, "{name}: Stripe's lists filter no currency");
                }
                FilterKind::Boolean => {
                    assert_eq!(f.accepts, BOOLEAN_ACCEPTS, "{name}");
                    assert_eq!(filter_values(t, f.key), None, "{name}");
                    assert!(f.by_connector, "{name}: Stripe's lists filter no boolean");
                }
            }
            if f.by_connector {
                // The connector compares the row's cell of the column named like the filter: a text
                // column for a value of an enumeration, a boolean column for a boolean.
                let column = table_spec(t)
                    .columns
                    .iter()
                    .find(|c| c.name == f.key)
                    .unwrap_or_else(|| panic!("{name} names no column"));
                let want = match f.kind {
                    FilterKind::Boolean => ColumnType::Boolean,
                    FilterKind::Currency => ColumnType::Currency,
                    _ => ColumnType::Text,
                };
                assert_eq!(column.kind, want, "{name}");
                by_connector.push(name.clone());
            }
            if let Some(value) = f.default {
                assert!(
                    filter_values(t, f.key).is_some_and(|v| v.contains(&value)),
                    "{name}"
                );
                defaults.push(format!("{name}={value}"));
            }
        }
    }
    assert_eq!(
        by_connector,
        [
            "customers.delinquent",
            "customers.currency",
            "subscriptions.cancel_at_period_end",
            "subscriptions.currency",
            "invoices.currency",
            "charges.status",
            "charges.refunded",
            "charges.disputed",
            "charges.currency",
            "payouts.status",
            "payouts.currency"
        ]
    );
    assert_eq!(defaults, ["subscriptions.status=all"]);
    assert_eq!(filter_values(Table::Customers, "created"), None);
    assert_eq!(filter_values(Table::Customers, "status"), None);
}

#[test]
fn column_index_finds_every_column() {
    for t in Table::ALL {
        let spec = table_spec(t);
        for (i, column) in spec.columns.iter().enumerate() {
            assert_eq!(spec.column_index(column.name), Some(i));
        }
        assert_eq!(spec.column_index("no_such_column"), None);
    }
}
