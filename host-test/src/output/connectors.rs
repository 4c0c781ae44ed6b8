//! `klairr-host connectors`: each connector's manifest facts beside its own catalogue's tables.

use super::human::{clean, new_table};
use super::to_json;
use crate::sandbox::wit;
use klairr_policy::manifest::Manifest;
use serde::Serialize;

/// One listed connector: its manifest and what its `describe` said.
pub type Listed = (Manifest, wit::ConnectorInfo);

#[derive(Serialize)]
struct ConnectorJson<'a> {
    name: &'a str,
    version: &'a str,
    contract: &'a str,
    /// `built-in` or the manifest's path.
    manifest: &'a str,
    origins: Vec<String>,
    credential_env: &'a str,
    tables: Vec<&'a str>,
}

#[derive(Serialize)]
struct ConnectorsJson<'a> {
    connectors: Vec<ConnectorJson<'a>>,
}

pub fn connectors_json(listed: &[Listed]) -> String {
    to_json(&ConnectorsJson {
        connectors: listed
            .iter()
            .map(|(manifest, info)| ConnectorJson {
                name: &manifest.name,
                version: &manifest.version,
                contract: &manifest.contract,
                manifest: &manifest.source,
                origins: manifest
                    .network
                    .origins
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                credential_env: &manifest.credential.env,
                tables: info.tables.iter().map(|t| t.name.as_str()).collect(),
            })
            .collect(),
    })
}

pub fn connectors_text(listed: &[Listed]) -> String {
    let mut table = new_table();
    table.set_header([
        "connector",
        "version",
        "contract",
        "origins",
        "credential",
        "tables",
        "manifest",
    ]);
    for (manifest, info) in listed {
        let origins: Vec<String> = manifest
            .network
            .origins
            .iter()
            .map(ToString::to_string)
            .collect();
        let tables: Vec<String> = info.tables.iter().map(|t| clean(&t.name)).collect();
        table.add_row([
            manifest.name.clone(),
            manifest.version.clone(),
            manifest.contract.clone(),
            origins.join(" "),
            format!("${}", manifest.credential.env),
            tables.join(", "),
            clean(&manifest.source),
        ]);
    }
    format!("{table}\n")
}
