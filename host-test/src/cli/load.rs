//! What the flags load: the registry (`--connectors`, `--redirect`, `--stripe-base`), the selected
//! connector's component (`--component`), and the sandbox options (`--call-timeout`, `--compile-cache`).

use super::{Cli, Failure};
use crate::policy::origin::{LoopbackBase, Redirect};
use crate::registry::{read_component, Connector, Registry, RegistryError};
use crate::sandbox::{
    CompileCache, Sandbox, SandboxError, SandboxLimits, SandboxOptions, SharedHost,
};
use std::time::Duration;

/// The built-in connectors plus `--connectors DIR`, with the redirects checked against their origins.
pub fn registry(cli: &Cli) -> Result<Registry, Failure> {
    let registry = match &cli.connectors {
        None => Registry::builtin(),
        Some(dir) => Registry::with_dir(dir).map_err(usage_or_config)?,
    };
    registry
        .check_redirects(&redirects(cli)?)
        .map_err(usage_or_config)?;
    Ok(registry)
}

/// A name, redirect or `--connectors` path the command line got wrong is a usage error (exit 2); a
/// manifest or component that cannot be used is the host's configuration failing (exit 1).
pub(super) fn usage_or_config(e: RegistryError) -> Failure {
    let kind = match e {
        RegistryError::Unknown { .. }
        | RegistryError::UnusedRedirect { .. }
        | RegistryError::Directory { .. } => "usage",
        _ => "connector-config",
    };
    Failure::new(kind, e.to_string())
}

pub(super) fn parse_redirect(text: &str) -> Result<Redirect, String> {
    Redirect::parse(text).map_err(|e| e.to_string())
}

/// `--redirect`s, and `--stripe-base` as the redirect of each of the built-in Stripe connector's
/// origins.
fn redirects(cli: &Cli) -> Result<Vec<Redirect>, Failure> {
    let mut redirects = Vec::new();
    if let Some(base) = &cli.stripe_base {
        let base = LoopbackBase::parse(base)
            .map_err(|e| Failure::new("usage", format!("--stripe-base: {e}")))?;
        for origin in &Connector::stripe().manifest.network.origins {
            redirects.push(Redirect {
                origin: origin.clone(),
                base: base.clone(),
                written: origin.to_string(),
            });
        }
    }
    for redirect in &cli.redirect {
        // Two places for one origin: whichever won, the other was ignored without a word.
        if redirects.iter().any(|r| r.origin == redirect.origin) {
            return Err(Failure::new(
                "usage",
                format!(
                    "{} is redirected twice (by --redirect{}): give one loopback base per origin",
                    redirect.written,
                    if cli.stripe_base.is_some() {
                        " or --stripe-base"
                    } else {
                        ""
                    }
                ),
            ));
        }
        redirects.push(redirect.clone());
    }
    Ok(redirects)
}

/// The component bytes: `--component PATH`, or the connector's own.
pub fn load_component(cli: &Cli, connector: &Connector) -> Result<Vec<u8>, Failure> {
    match &cli.component {
        None => connector
            .component()
            .map(|bytes| bytes.into_owned())
            .map_err(usage_or_config),
        // The path on the command line is the caller's to fix; it is held to the rules a manifest's
        // component is (a regular file, 64 MiB at most), so a FIFO cannot hang the command.
        Some(path) => read_component(path).map_err(|e| match e {
            RegistryError::Component { path, error } => Failure::new(
                "usage",
                format!("--component {path}: cannot be read ({error}): give a component file"),
            ),
            other => usage_or_config(other),
        }),
    }
}

/// A component that would not load, said with which connector and which file it was: a platform with
/// several connectors cannot leave the user to guess.
fn loading(cli: &Cli, connector: &Connector) -> impl Fn(SandboxError) -> Failure {
    let source = match &cli.component {
        Some(path) if connector.name() == cli.connector_name() => {
            format!("--component {}", path.display())
        }
        _ => connector.component_source(),
    };
    let name = connector.name().to_owned();
    move |e: SandboxError| {
        let failure = Failure::from(e);
        Failure::new(
            &failure.kind,
            format!("connector {name}, component {source}: {}", failure.message),
        )
    }
}

/// The sandbox options the flags ask for: the loopback redirects and the call deadline.
pub fn sandbox_options(cli: &Cli) -> Result<SandboxOptions, Failure> {
    Ok(SandboxOptions {
        redirects: redirects(cli)?,
        limits: SandboxLimits {
            call_timeout: Duration::from_secs(u64::from(cli.call_timeout)),
            ..SandboxLimits::default()
        },
        compile_cache: cli
            .compile_cache
            .clone()
            .unwrap_or_else(default_compile_cache),
        ..SandboxOptions::default()
    })
}

/// The default compile cache; without a place for it (neither `XDG_CACHE_HOME` nor `HOME` an absolute
/// path), off, said once: every command then compiles the component again, which is slow for no
/// visible reason, as an unsafe default directory is said to be.
fn default_compile_cache() -> CompileCache {
    let cache = CompileCache::default_location();
    if matches!(cache, CompileCache::Off) {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            crate::log_line(format_args!(
                "klairr-host: warning: no compile cache: neither XDG_CACHE_HOME nor HOME is an absolute \
                 path, so each command compiles the component again (~0.2 to 0.6 s); give one with \
                 --compile-cache DIR or KLAIRR_CACHE_DIR=DIR, or say --compile-cache off"
            ));
        });
    }
    cache
}

/// Load the component under the connector's manifest, with the flags' options.
pub fn load_sandbox(cli: &Cli, connector: &Connector) -> Result<Sandbox, Failure> {
    let bytes = load_component(cli, connector)?;
    Sandbox::load(&bytes, connector.manifest.clone(), sandbox_options(cli)?)
        .map_err(loading(cli, connector))
}

/// [`load_sandbox`] into a shared host; `--component` applies only to the selected connector.
pub fn load_sandbox_in(
    shared: &SharedHost,
    cli: &Cli,
    connector: &Connector,
    override_component: bool,
) -> Result<Sandbox, Failure> {
    let bytes = if override_component || connector.name() == cli.connector_name() {
        load_component(cli, connector)?
    } else {
        connector
            .component()
            .map(|bytes| bytes.into_owned())
            .map_err(usage_or_config)?
    };
    Sandbox::load_in(
        shared,
        &bytes,
        connector.manifest.clone(),
        sandbox_options(cli)?,
    )
    .map_err(loading(cli, connector))
}
