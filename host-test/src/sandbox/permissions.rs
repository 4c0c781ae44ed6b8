//! A credential that can do too much or too little for its connector — write, or not read a table the
//! connector needs, or both — told as what to change, and where when the manifest says
//! (`credential.manage`). Setup judges both from the answers the host saw, so a credential with both
//! faults is told of both in one run (README, "Keys and setup").

use super::wit;

/// What a credential was found able to write and unable to read. `None`: no such fault; `Some` with an
/// empty list: the fault, with no resource the host could name (it drops a name that is no
/// identifier).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionFailure {
    /// Resources a write got through to (a write probe's success, or its `404`).
    pub can_write: Option<Vec<String>>,
    /// Resources whose Read is missing.
    pub cannot_read: Option<Vec<String>>,
    /// Of `can_write`, the resources the connector never reads (a probe the host sent itself): told to
    /// be set to None, not Read.
    pub not_read: Box<[String]>,
}

impl PermissionFailure {
    /// The permission fault a connector's own error reports, if it is one.
    pub fn of(error: &wit::ConnectorError) -> Option<Self> {
        match error {
            wit::ConnectorError::OverPermissioned(r) => Some(PermissionFailure {
                can_write: Some(r.clone()),
                ..PermissionFailure::default()
            }),
            wit::ConnectorError::MissingPermission(r) => Some(PermissionFailure {
                cannot_read: Some(r.clone()),
                ..PermissionFailure::default()
            }),
            _ => None,
        }
    }

    /// Whether anything was found.
    pub fn is_some(&self) -> bool {
        self.can_write.is_some() || self.cannot_read.is_some()
    }

    /// The stable kind: a credential that can write is `over-permissioned` whatever else it lacks (it
    /// must be changed first: Klairr never holds a credential that can write).
    pub fn kind(&self) -> &'static str {
        if self.can_write.is_some() {
            "over-permissioned"
        } else {
            "missing-permission"
        }
    }

    /// What to change, going on from `manage` (where the credential's permissions are changed) when the
    /// manifest says.
    pub fn text(&self, manage: Option<&str>) -> String {
        let listed = |list: &Option<Vec<String>>| list.as_ref().filter(|r| !r.is_empty()).cloned();
        match (listed(&self.can_write), listed(&self.cannot_read)) {
            (Some(write), Some(read)) => both(&write, &read, &self.not_read, manage),
            (Some(write), None) => can_write(&write, &self.not_read, manage),
            // A write no resource could be named for: still told with what it cannot read, and where
            // (review: both were dropped).
            (None, read) if self.can_write.is_some() => {
                let mut text = match manage {
                    Some(manage) => format!(
                        "this credential can write: Klairr only accepts read-only credentials. {manage}: \
                         set every resource Klairr does not read to None, and the connector's tables to \
                         Read, then try again."
                    ),
                    None => "this credential can write: Klairr only accepts read-only credentials; create \
                             one that can read the connector's tables and write nothing"
                        .to_owned(),
                };
                if let Some(read) = read {
                    text.push_str(&format!(
                        " It also lacks Read permission on {}.",
                        named(&read)
                    ));
                }
                text
            }
            (None, Some(read)) => cannot_read(&read, manage),
            (None, None) => match manage {
                Some(manage) => format!(
                    "this credential lacks a Read permission the connector needs. {manage}: set the \
                     connector's tables to Read (and nothing more), then try again."
                ),
                None => "this credential lacks a Read permission the connector needs: grant it Read on \
                         the connector's tables (and nothing more) where the credential was created"
                    .to_owned(),
            },
        }
    }
}

/// What to set, in a permissions page's words: the resources to read at Read, those the connector never
/// reads (`not_read`) at None, and the rest.
fn settings(resources: &[String], not_read: &[String]) -> String {
    let (none, read): (Vec<String>, Vec<String>) = resources
        .iter()
        .cloned()
        .partition(|r| not_read.contains(r));
    match (read.is_empty(), none.is_empty()) {
        (_, true) => format!(
            "set {} to Read, and every resource Klairr does not read to None",
            shown(&read)
        ),
        (true, false) => format!(
            "set {} to None, as every resource Klairr does not read",
            shown(&none)
        ),
        (false, false) => format!(
            "set {} to Read, {} to None, and every other resource Klairr does not read to None",
            shown(&read),
            shown(&none)
        ),
    }
}

fn can_write(resources: &[String], not_read: &[String], manage: Option<&str>) -> String {
    let names = named(resources);
    match manage {
        Some(manage) => format!(
            "this credential can write to {names}: Klairr only accepts read-only credentials. {manage}: \
             {}, then try again.",
            settings(resources, not_read)
        ),
        None => format!(
            "this credential can write to {names}: Klairr only accepts read-only credentials; where the \
             credential was created, take its write access to {} away (or create one that can read the \
             connector's tables and write nothing)",
            it(resources)
        ),
    }
}

fn cannot_read(resources: &[String], manage: Option<&str>) -> String {
    let names = named(resources);
    match manage {
        Some(manage) => format!(
            "this credential lacks Read permission on {names}. {manage}: set {} to Read (and nothing \
             more), then try again.",
            shown(resources)
        ),
        None => format!(
            "this credential lacks Read permission on {names}: grant it Read on {} (and nothing more) \
             where the credential was created",
            it(resources)
        ),
    }
}

fn both(write: &[String], read: &[String], not_read: &[String], manage: Option<&str>) -> String {
    let (writes, reads) = (named(write), named(read));
    match manage {
        Some(manage) => {
            // One list to set to Read: what it writes and what it cannot read, each named once.
            let mut all: Vec<String> = write.to_vec();
            all.extend(read.iter().filter(|r| !write.contains(r)).cloned());
            format!(
                "this credential can write to {writes} and lacks Read permission on {reads}: Klairr only \
                 accepts read-only credentials that can read what it needs. {manage}: {}, then try \
                 again.",
                settings(&all, not_read)
            )
        }
        None => format!(
            "this credential can write to {writes} and lacks Read permission on {reads}: Klairr only \
             accepts read-only credentials; where the credential was created, take its write access to \
             {} away and grant it Read on {} (or create one that can read the connector's tables and \
             write nothing)",
            it(write),
            it(read)
        ),
    }
}

/// `it` for one resource, `them` for more.
fn it(resources: &[String]) -> &'static str {
    if resources.len() == 1 {
        "it"
    } else {
        "them"
    }
}

/// The resources as a sentence names them: as the connector spells them, `_` read as a space
/// (`webhook_endpoints`: webhook endpoints), so a message does not name one resource two ways.
fn named(resources: &[String]) -> String {
    let named: Vec<String> = resources.iter().map(|r| r.replace('_', " ")).collect();
    in_words(&named)
}

/// The resources as a permissions page lists them (Stripe's: Customers, Invoices, Credit notes, …).
fn shown(resources: &[String]) -> String {
    let shown: Vec<String> = resources.iter().map(|r| shown_name(r)).collect();
    in_words(&shown)
}

/// One resource as a message shows it: capitalised, `_` read as a space (`credit_notes`: Credit notes).
pub(crate) fn shown_name(resource: &str) -> String {
    capitalised(resource).replace('_', " ")
}

/// `a`, `a and b`, `a, b and c`.
fn in_words<S: AsRef<str>>(items: &[S]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.as_ref().to_owned(),
        Some((last, rest)) => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// `word` with its first letter upper-case, as messages show a resource.
pub(crate) fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| (*n).to_owned()).collect())
    }

    fn failure(
        can_write: Option<Vec<String>>,
        cannot_read: Option<Vec<String>>,
    ) -> PermissionFailure {
        PermissionFailure {
            can_write,
            cannot_read,
            not_read: Box::default(),
        }
    }

    /// A write to a resource the connector never reads is told to be set to None, not Read.
    #[test]
    fn a_resource_never_read_is_set_to_none() {
        let unread = |write: &[&str], read: Option<Vec<String>>| PermissionFailure {
            not_read: ["refunds".into(), "transfers".into()].into(),
            ..failure(list(write), read)
        };
        assert_eq!(
            unread(&["refunds", "transfers"], None).text(Some("Edit it")),
            "this credential can write to refunds and transfers: Klairr only accepts read-only \
             credentials. Edit it: set Refunds and Transfers to None, as every resource Klairr does not \
             read, then try again."
        );
        assert_eq!(
            unread(&["customers", "refunds"], None).text(Some("Edit it")),
            "this credential can write to customers and refunds: Klairr only accepts read-only \
             credentials. Edit it: set Customers to Read, Refunds to None, and every other resource \
             Klairr does not read to None, then try again."
        );
        assert!(unread(&["refunds"], list(&["invoices"]))
            .text(Some("Edit it"))
            .contains("Edit it: set Invoices to Read, Refunds to None, and every other"));
    }

    #[test]
    fn each_fault_says_what_to_change_and_where() {
        assert_eq!(
            failure(None, list(&["invoices"])).text(None),
            "this credential lacks Read permission on invoices: grant it Read on it (and nothing more) \
             where the credential was created"
        );
        assert_eq!(
            failure(None, list(&["a", "b", "c"])).text(Some("Edit it at example.com")),
            "this credential lacks Read permission on a, b and c. Edit it at example.com: set A, B and C to \
             Read (and nothing more), then try again."
        );
        assert!(failure(list(&["a", "b", "c"]), None)
            .text(None)
            .contains("take its write access to them away"));
        assert!(failure(list(&["invoices"]), None)
            .text(Some("Edit it"))
            .contains("Edit it: set Invoices to Read, and every resource"));
    }

    /// A credential with both faults is told of both at once, with one list of what to set to Read.
    #[test]
    fn both_faults_are_told_together() {
        let both = failure(list(&["customers"]), list(&["invoices", "payouts"]));
        assert_eq!(both.kind(), "over-permissioned");
        assert_eq!(
            both.text(Some("Edit the key")),
            "this credential can write to customers and lacks Read permission on invoices and payouts: \
             Klairr only accepts read-only credentials that can read what it needs. Edit the key: set \
             Customers, Invoices and Payouts to Read, and every resource Klairr does not read to None, \
             then try again."
        );
        assert_eq!(
            both.text(None),
            "this credential can write to customers and lacks Read permission on invoices and payouts: \
             Klairr only accepts read-only credentials; where the credential was created, take its write \
             access to it away and grant it Read on them (or create one that can read the connector's \
             tables and write nothing)"
        );
        // A resource in both lists is named once in what to set.
        let overlap = failure(list(&["a", "b"]), list(&["b"]));
        assert!(overlap.text(Some("M")).contains("M: set A and B to Read,"));
        // A resource of two words is named one way throughout: `_` read as a space.
        let words = failure(list(&["credit_notes"]), list(&["line_items"]));
        assert!(
            words.text(Some("M")).starts_with(
                "this credential can write to credit notes and lacks Read permission on line items: "
            ),
            "{}",
            words.text(Some("M"))
        );
        assert!(words
            .text(Some("M"))
            .contains("M: set Credit notes and Line items to Read"));
    }

    #[test]
    fn a_fault_with_no_resource_named_is_still_a_whole_sentence() {
        assert!(failure(None, list(&[]))
            .text(None)
            .starts_with("this credential lacks a Read permission the connector needs: grant"));
        assert!(failure(None, list(&[]))
            .text(Some("M"))
            .starts_with("this credential lacks a Read permission the connector needs. M: set"));
        assert!(failure(list(&[]), list(&["x"]))
            .text(None)
            .starts_with("this credential can write: "));
        assert_eq!(failure(list(&[]), None).kind(), "over-permissioned");
        assert_eq!(failure(None, list(&[])).kind(), "missing-permission");
    }

    #[test]
    fn only_the_permission_errors_are_permission_faults() {
        use wit::ConnectorError as E;
        assert_eq!(PermissionFailure::of(&E::InvalidQuery("x".into())), None);
        assert_eq!(
            PermissionFailure::of(&E::OverPermissioned(vec!["a".into()])),
            Some(failure(list(&["a"]), None))
        );
        assert!(!PermissionFailure::default().is_some());
    }

    /// A resource a message shows capitalised is never a run of the key (review: the name was checked
    /// as written, and shown capitalised it was 12 characters of the key).
    #[test]
    fn a_shown_resource_name_is_never_a_run_of_the_key() {
        use klairr_policy::redact::SecretRuns;
        const KEY: &str = "rk_live_51QzXa7Kp2Lm9Nb4Vc8Xd3Fghjkl5zq0wr7et2Yu9Io4Pa8Sd3Fg";
        let runs = SecretRuns::new(KEY);
        let error = crate::returned::check_error(
            wit::ConnectorError::OverPermissioned(vec!["fghjkl5zq0wr".into(), "invoices".into()]),
            Some(&runs),
        );
        let text = PermissionFailure::of(&error)
            .expect("a permission failure")
            .text(Some("Edit it"));
        assert!(!runs.contains(&text), "{text}");
        assert!(text.contains("Invoices"), "{text}");
    }

    /// A write no resource could be named for keeps the read fault beside it and where to change the
    /// credential; an unnamed read fault says where too (review).
    #[test]
    fn unnamed_faults_keep_the_other_fault_and_where() {
        let fault = |write: Option<&[&str]>, read: Option<&[&str]>| PermissionFailure {
            can_write: write.map(|w| w.iter().map(|s| (*s).to_owned()).collect()),
            cannot_read: read.map(|r| r.iter().map(|s| (*s).to_owned()).collect()),
            not_read: Box::default(),
        };
        let text = fault(Some(&[]), Some(&["invoices"])).text(Some("Edit it at the Dashboard"));
        assert!(text.contains("invoices"), "{text}");
        assert!(text.contains("Edit it at the Dashboard"), "{text}");
        for f in [fault(None, Some(&[])), fault(Some(&[]), None)] {
            let text = f.text(Some("Edit it at the Dashboard"));
            assert!(text.contains("Edit it at the Dashboard"), "{text}");
        }
    }
}
