//! What a connector component may import and must export, and the linker that gives it exactly that.
//!
//! Deny by construction: the linker is built interface by interface, without `wasi:filesystem` and
//! `wasi:sockets`, so a component importing them could not even be instantiated; the import check below
//! refuses it earlier with an error naming the import. All WASI host functions are the async ones, so a
//! guest waiting in the host (a clock, an HTTP future, a body read) is bounded by the call's deadline.

use super::error::SandboxError;
use super::store::StoreState;
use klairr_policy::manifest::CONTRACT;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView as _};

/// The interfaces a connector component may import. Everything else is refused at load.
pub const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "klairr:connector/types@0.2.0",
    "klairr:connector/progress@0.2.0",
];

/// [`ALLOWED_IMPORT_PREFIXES`] as a message names them: `wasi:io`, …, `klairr:connector/progress@0.2.0`.
pub fn allowed_imports() -> String {
    ALLOWED_IMPORT_PREFIXES
        .iter()
        .map(|p| p.trim_end_matches(['/', '@']))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The export every connector of this contract version provides.
pub const CONNECTOR_EXPORT: &str = "klairr:connector/connector@0.2.0";

/// The types interface of this contract version (an instance with no functions).
const TYPES_IMPORT: &str = "klairr:connector/types@0.2.0";

/// Refuse imports outside the allowlist, naming every one of them. A component built against another
/// version of the contract imports that version's interfaces: it is refused as such, naming the version
/// (the allowlist's message would only say that `klairr:connector/types@0.3.0` is not allowed).
pub fn check_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Result<(), SandboxError> {
    let forbidden: Vec<String> = imports
        .into_iter()
        .filter(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
        .map(str::to_owned)
        .collect();
    // Another version only: an import of this version that is not allowed (an interface it does not
    // have, or its `connector` export imported) is named as any forbidden import is (review: it was
    // told it was "built against klairr:connector@0.2.0, but this host speaks klairr:connector@0.2.0").
    if let Some(found) = forbidden.iter().find_map(|name| {
        let interface = name.strip_prefix("klairr:connector/")?;
        match interface.split_once('@') {
            Some((_, version)) => {
                let found = format!("klairr:connector@{version}");
                (found != CONTRACT).then_some(found)
            }
            None => Some("klairr:connector (without a version)".to_owned()),
        }
    }) {
        return Err(SandboxError::ContractVersion {
            found,
            expected: CONTRACT.to_owned(),
        });
    }
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::ForbiddenImports(forbidden))
    }
}

/// The component must export this host's contract version of `klairr:connector/connector`; one built
/// against another version is refused naming the version it has.
pub fn check_exports<'a>(exports: impl IntoIterator<Item = &'a str>) -> Result<(), SandboxError> {
    let mut other_version = None;
    for name in exports {
        if name == CONNECTOR_EXPORT {
            return Ok(());
        }
        if let Some(version) = name.strip_prefix("klairr:connector/connector@") {
            other_version = Some(format!("klairr:connector@{version}"));
        } else if name == "klairr:connector/connector" {
            other_version = Some("klairr:connector (without a version)".to_owned());
        }
    }
    Err(match other_version {
        Some(found) => SandboxError::ContractVersion {
            found,
            expected: CONTRACT.to_owned(),
        },
        None => SandboxError::NotAConnector(CONNECTOR_EXPORT.to_owned()),
    })
}

/// The linker, interface by interface. Deliberately absent: wasi:filesystem, wasi:sockets.
pub fn connector_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, io, random};
    type T = StoreState;
    let mut linker = Linker::<T>::new(engine);
    let l = &mut linker;

    io::error::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;

    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;

    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;

    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;

    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    bound_request_parts(l)?;
    bound_fields(l)?;
    // klairr:connector/types has no functions; the instance only carries types.
    l.instance(TYPES_IMPORT)?;
    super::progress::add_to_linker(l)?;
    Ok(linker)
}

/// The wasi:http types interface as wasmtime links it (the version the vendored WIT has).
const HTTP_TYPES: &str = "wasi:http/types@0.2.12";

/// The longest authority a request may be given: a DNS name (253) with a port, brackets and room.
pub const MAX_AUTHORITY_BYTES: usize = 512;
/// The longest extension method a request may be given (the standard ones are at most 7 letters).
pub const MAX_METHOD_BYTES: usize = 32;
/// The longest path and query a request may be given (the http crate allows 64 KiB; servers commonly
/// refuse a request line past 8 KiB).
pub const MAX_PATH_BYTES: usize = 16 << 10;

/// wasi:http keeps what a request is given in the host, outside the guest's linear memory and its
/// limit, for as long as the guest holds the request (which it may never send). `http` bounds a path to
/// 64 KiB and fields to their size limit (`StoreState::new`), but an authority or an extension method
/// only by the 64 MiB a host call may carry: a guest holding a few dozen unsent requests kept gigabytes
/// in the host, and 10,000 requests with 64 KiB paths 640 MiB. Each is refused (`Err`, as an invalid one
/// is) past a length no real request needs.
fn bound_request_parts(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime::StoreContextMut;
    use wasmtime_wasi_http::p2::bindings::http::types::{HostOutgoingRequest as _, Method};
    use wasmtime_wasi_http::p2::types::HostOutgoingRequest;
    use wasmtime_wasi_http::WasiHttpView as _;
    linker.allow_shadowing(true);
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap(
        "[method]outgoing-request.set-authority",
        |mut store: StoreContextMut<'_, StoreState>,
         (request, authority): (Resource<HostOutgoingRequest>, Option<String>)| {
            if authority
                .as_ref()
                .is_some_and(|a| a.len() > MAX_AUTHORITY_BYTES)
            {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_authority(request, authority)?,))
        },
    )?;
    types.func_wrap(
        "[method]outgoing-request.set-method",
        |mut store: StoreContextMut<'_, StoreState>,
         (request, method): (Resource<HostOutgoingRequest>, Method)| {
            if matches!(&method, Method::Other(m) if m.len() > MAX_METHOD_BYTES) {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_method(request, method)?,))
        },
    )?;
    types.func_wrap(
        "[method]outgoing-request.set-path-with-query",
        |mut store: StoreContextMut<'_, StoreState>,
         (request, path): (Resource<HostOutgoingRequest>, Option<String>)| {
            if path.as_ref().is_some_and(|p| p.len() > MAX_PATH_BYTES) {
                return Ok((Err(()),));
            }
            Ok((store.data_mut().http().set_path_with_query(request, path)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The most entries (values, a repeated name's counted each) one wasi:http `fields` may hold.
pub const MAX_FIELD_ENTRIES: usize = 64;

/// wasmtime bounds a `fields` by the bytes of its names and values plus a fixed size per entry
/// (`StoreState::new`: 16 KiB), but an entry costs the host more than it counts: its `HeaderMap`
/// bucket, index and spare capacity. 200 empty headers with two-letter names (~15 KiB as counted)
/// held ~42 KiB, and 1,990 unsent requests with such headers, a 16 KiB path and a buffered body 131 MiB
/// in the host (review), past what the handle limit was set for. A connector sends a handful of headers:
/// a `fields` given more than [`MAX_FIELD_ENTRIES`] traps, as one past wasmtime's size limit does.
fn bound_fields(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime::StoreContextMut;
    use wasmtime_wasi_http::p2::bindings::http::types::{HeaderError, Host as _, HostFields as _};
    use wasmtime_wasi_http::{FieldMap, WasiHttpView as _};
    /// A trap when a `fields` would hold `entries`, more than [`MAX_FIELD_ENTRIES`].
    fn at_most(entries: usize) -> wasmtime::Result<()> {
        if entries > MAX_FIELD_ENTRIES {
            wasmtime::bail!(
                "header limit: the connector gave one wasi:http fields {entries} entries, more than the sandbox's {MAX_FIELD_ENTRIES}"
            );
        }
        Ok(())
    }
    linker.allow_shadowing(true);
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap(
        "[static]fields.from-list",
        |mut store: StoreContextMut<'_, StoreState>, (list,): (Vec<(String, Vec<u8>)>,)| {
            at_most(list.len())?;
            let mut http = store.data_mut().http();
            Ok((match http.from_list(list) {
                Ok(fields) => Ok(fields),
                Err(e) => Err(http.convert_header_error(e)?),
            },))
        },
    )?;
    types.func_wrap(
        "[method]fields.append",
        |mut store: StoreContextMut<'_, StoreState>,
         (fields, name, value): (Resource<FieldMap>, String, Vec<u8>)| {
            at_most(store.data_mut().table.get(&fields)?.len().saturating_add(1))?;
            let mut http = store.data_mut().http();
            Ok((match http.append(fields, name, value) {
                Ok(()) => Ok(()),
                Err(e) => Err::<(), HeaderError>(http.convert_header_error(e)?),
            },))
        },
    )?;
    types.func_wrap(
        "[method]fields.set",
        |mut store: StoreContextMut<'_, StoreState>,
         (fields, name, values): (Resource<FieldMap>, String, Vec<Vec<u8>>)| {
            // What the name holds now is replaced.
            let held = store.data_mut().table.get(&fields)?;
            let replaced = http::HeaderName::from_bytes(name.as_bytes())
                .map_or(0, |n| held.get_all(&n).iter().count());
            at_most((held.len() - replaced).saturating_add(values.len()))?;
            let mut http = store.data_mut().http();
            Ok((match http.set(fields, name, values) {
                Ok(()) => Ok(()),
                Err(e) => Err::<(), HeaderError>(http.convert_header_error(e)?),
            },))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_allowlist() {
        assert!(check_imports([
            "wasi:io/poll@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:http/types@0.2.12",
            "wasi:cli/environment@0.2.3",
            "wasi:random/insecure-seed@0.2.12",
            "wasi:clocks/monotonic-clock@0.2.0",
            "klairr:connector/types@0.2.0",
        ])
        .is_ok());
        for bad in [
            "wasi:filesystem/preopens@0.2.12",
            "wasi:filesystem/types@0.2.12",
            "wasi:sockets/tcp@0.2.12",
            "wasi:sockets/ip-name-lookup@0.2.12",
            "wasi:http/incoming-handler@0.2.12",
            "acme:evil/exfiltrate",
            "wasi:iox/poll@0.2.0",
        ] {
            match check_imports(["wasi:io/poll@0.2.12", bad]) {
                Err(SandboxError::ForbiddenImports(names)) => {
                    assert_eq!(names, vec![bad.to_owned()])
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn imports_of_another_contract_version_name_that_version() {
        for (imports, found) in [
            (
                &["klairr:connector/types@0.1.0"][..],
                "klairr:connector@0.1.0",
            ),
            (
                &[
                    "wasi:io/poll@0.2.12",
                    "klairr:connector/progress@0.3.0",
                    "wasi:sockets/tcp@0.2.12",
                ],
                "klairr:connector@0.3.0",
            ),
            (
                &["klairr:connector/types"],
                "klairr:connector (without a version)",
            ),
        ] {
            match check_imports(imports.iter().copied()) {
                Err(e @ SandboxError::ContractVersion { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(found), "{text}");
                    assert!(text.contains("klairr:connector@0.2.0"), "{text}");
                }
                other => panic!("{imports:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn export_must_be_this_contract_version() {
        assert!(check_exports(["klairr:connector/connector@0.2.0"]).is_ok());
        match check_exports(["wasi:cli/run@0.2.0", "klairr:connector/connector@0.1.0"]) {
            Err(e @ SandboxError::ContractVersion { .. }) => {
                let text = e.to_string();
                assert!(text.contains("klairr:connector@0.1.0"), "{text}");
                assert!(text.contains("klairr:connector@0.2.0"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_exports(["wasi:cli/run@0.2.0"]),
            Err(SandboxError::NotAConnector(_))
        ));
    }

    #[test]
    fn an_unknown_interface_of_this_contract_is_named() {
        for bad in [
            "klairr:connector/connector@0.2.0",
            "klairr:connector/secrets@0.2.0",
        ] {
            let text = check_imports(["wasi:io/poll@0.2.12", bad])
                .expect_err(bad)
                .to_string();
            assert!(text.contains(bad), "{bad}: {text}");
            assert!(!text.contains("built against"), "{bad}: {text}");
        }
    }
}
