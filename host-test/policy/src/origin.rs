//! The host's network policy for connector components: a pure module, table-tested.
//!
//! A connector may only reach the origins its registry entry lists (for Stripe: `https://api.stripe.com:443`).
//! Everything else — another host, another port, plain `http`, a missing authority — is denied before any
//! connection is made. For tests and the demo, `--redirect ORIGIN=http://127.0.0.1:PORT` (or
//! `--stripe-base`, its shorthand for Stripe's origin) delivers an allowed origin's requests to a loopback
//! server; nothing but loopback is accepted as a redirect target, so no flag can turn the host into a way
//! out to an arbitrary address, and a redirect never widens the allowlist.
//!
//! Timeouts asked for by the guest are clamped to the host's ceilings, and missing ones get the ceiling.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// `scheme://host:port`, the unit the allowlist speaks in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// Why a URL was refused: each message says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("'{0}' is not a URL of the form scheme://host[:port]")]
    Malformed(String),
    #[error("scheme '{0}' is not allowed: use https (only a loopback test server, reached with --redirect, may use http)")]
    Scheme(String),
    #[error("'{0}' is not a loopback address: a redirect target is only http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT (or https:// to a loopback server with TLS)")]
    NotLoopback(String),
    #[error("'{0}' is not a bare origin (scheme://host:port): write it without a path, query or credentials")]
    NotBare(String),
    #[error("'{0}' is not a redirect: write ORIGIN=LOOPBACK_BASE, e.g. https://api.stripe.com=http://127.0.0.1:12111")]
    NotARedirect(String),
    #[error("'{0}' has no usable port: write a port from 1 to 65535 after the host, e.g. :443")]
    Port(String),
}

impl Origin {
    /// Parse `scheme://host[:port]` (a path of `/` at most). Host names are lower-cased; IPv6 stays bracketed.
    pub fn parse(url: &str) -> Result<Origin, PolicyError> {
        Origin::parse_noting_port(url).map(|(origin, _)| origin)
    }

    /// [`Origin::parse`], and whether the URL wrote its port (rather than leaving the scheme's default).
    fn parse_noting_port(url: &str) -> Result<(Origin, bool), PolicyError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| PolicyError::Malformed(url.to_owned()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            // Quoted as written: a lower-cased copy of a pasted key would escape the host's redaction.
            _ => return Err(PolicyError::Scheme(scheme.to_owned())),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(PolicyError::Malformed(url.to_owned()));
        }
        if authority.contains(['/', '?', '#', '@']) {
            return Err(PolicyError::NotBare(url.to_owned()));
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| PolicyError::Malformed(url.to_owned()))?;
        let written = port.is_some();
        // Port 0 is not a place to connect to; a port past 65535 is not a port at all.
        let port = match port {
            None => scheme.default_port(),
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| PolicyError::Port(url.to_owned()))?,
        };
        Ok((Origin { scheme, host, port }, written))
    }

    /// Whether the host is a loopback address (127.0.0.0/8, ::1) or `localhost`.
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Split `host[:port]` / `[v6][:port]` into the host and the port's text (`None` when none is written);
/// `None` when the host is empty or something other than a port follows it.
fn split_host_port(authority: &str) -> Option<(String, Option<&str>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (format!("[{v6}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host.is_empty() || host == "[]" || !port_ok {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

/// A loopback server that stands in for an allowed origin (`--redirect`, `--stripe-base`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopbackBase(Origin);

impl LoopbackBase {
    /// Accepts only `http(s)://` + a loopback host + port, with nothing after it.
    pub fn parse(url: &str) -> Result<LoopbackBase, PolicyError> {
        let url = url.trim();
        let (origin, port_written) = Origin::parse_noting_port(url)?;
        if !origin.is_loopback() {
            // The URL as written, not the lower-cased host: see `Redirect::written`.
            return Err(PolicyError::NotLoopback(url.to_owned()));
        }
        // A test server's port is never the scheme's default by accident: one left out is a mistake.
        if !port_written {
            return Err(PolicyError::Port(url.to_owned()));
        }
        Ok(LoopbackBase(origin))
    }

    pub fn origin(&self) -> &Origin {
        &self.0
    }
}

/// `--redirect ORIGIN=LOOPBACK_BASE`: deliver what a connector sends to ORIGIN to a loopback server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub origin: Origin,
    pub base: LoopbackBase,
    /// The origin as the command line wrote it, for messages that quote it: [`Origin`] lower-cases its
    /// host, and a lower-cased copy of a key pasted there would escape the host's (case-sensitive)
    /// redaction of the credential.
    pub written: String,
}

impl Redirect {
    /// `https://api.stripe.com=http://127.0.0.1:12111` (the origin's port may be left out).
    pub fn parse(text: &str) -> Result<Redirect, PolicyError> {
        let (origin, base) = text
            .split_once('=')
            .ok_or_else(|| PolicyError::NotARedirect(text.to_owned()))?;
        Ok(Redirect {
            origin: Origin::parse(origin.trim())?,
            base: LoopbackBase::parse(base)?,
            written: origin.trim().to_owned(),
        })
    }
}

/// The host's ceilings for one outgoing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutCeilings {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Default for TimeoutCeilings {
    fn default() -> Self {
        TimeoutCeilings {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            between_bytes: Duration::from_secs(30),
        }
    }
}

/// Timeouts after clamping: each is `min(asked, ceiling)`, the ceiling when not asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl TimeoutCeilings {
    pub fn clamp(
        &self,
        connect: Option<Duration>,
        first_byte: Option<Duration>,
        between_bytes: Option<Duration>,
    ) -> Timeouts {
        let pick =
            |asked: Option<Duration>, ceiling: Duration| asked.map_or(ceiling, |a| a.min(ceiling));
        Timeouts {
            connect: pick(connect, self.connect),
            first_byte: pick(first_byte, self.first_byte),
            between_bytes: pick(between_bytes, self.between_bytes),
        }
    }
}

/// What to do with one outgoing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it to this origin (the requested one, or the loopback stand-in).
    Send(Origin),
    /// Refuse it; the reason is for the host's log (the guest only sees "denied").
    Deny(String),
}

/// One connector's network policy: its allowlist and the loopback redirects of some of its origins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<Origin>,
    /// (allowed origin, where its requests go instead).
    redirects: Vec<(Origin, LoopbackBase)>,
    pub timeouts: TimeoutCeilings,
}

impl NetworkPolicy {
    pub fn new(allowed: Vec<Origin>) -> NetworkPolicy {
        NetworkPolicy {
            allowed,
            redirects: Vec::new(),
            timeouts: TimeoutCeilings::default(),
        }
    }

    /// Deliver requests for every allowed origin to `base` instead (tests, the demo).
    pub fn redirect_to(mut self, base: LoopbackBase) -> NetworkPolicy {
        self.redirects = self
            .allowed
            .iter()
            .map(|origin| (origin.clone(), base.clone()))
            .collect();
        self
    }

    /// Deliver requests for `redirect.origin` to its base instead; a redirect of an origin this connector
    /// may not reach changes nothing (it never widens the allowlist). The last redirect of an origin wins.
    pub fn redirect(mut self, redirect: &Redirect) -> NetworkPolicy {
        if self.allowed.contains(&redirect.origin) {
            self.redirects
                .retain(|(origin, _)| *origin != redirect.origin);
            self.redirects
                .push((redirect.origin.clone(), redirect.base.clone()));
        }
        self
    }

    pub fn allowed(&self) -> &[Origin] {
        &self.allowed
    }

    /// Whether `origin` is one this connector may reach.
    pub fn allows(&self, origin: &Origin) -> bool {
        self.allowed.contains(origin)
    }

    /// Decide for a request the guest addressed to `scheme://authority`.
    pub fn decide(&self, scheme: Option<&str>, authority: Option<&str>) -> Decision {
        let (Some(scheme), Some(authority)) = (scheme, authority) else {
            return Decision::Deny("request without a scheme or authority".into());
        };
        let requested = match Origin::parse(&format!("{scheme}://{authority}")) {
            Ok(o) => o,
            Err(e) => return Decision::Deny(e.to_string()),
        };
        if !self.allowed.contains(&requested) {
            let allowed: Vec<String> = self.allowed.iter().map(Origin::to_string).collect();
            return Decision::Deny(format!(
                "{requested} is not allowed for this connector (allowed: {})",
                allowed.join(", ")
            ));
        }
        match self
            .redirects
            .iter()
            .find(|(origin, _)| *origin == requested)
        {
            Some((_, base)) => Decision::Send(base.origin().clone()),
            None => Decision::Send(requested),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripe() -> NetworkPolicy {
        NetworkPolicy::new(vec![
            Origin::parse("https://api.stripe.com:443").expect("valid")
        ])
    }

    #[test]
    fn allowlist_decisions() {
        let policy = stripe();
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            // (scheme, authority, Some(origin it is sent to) or None for denied)
            (
                Some("https"),
                Some("api.stripe.com"),
                Some("https://api.stripe.com:443"),
            ),
            (
                Some("https"),
                Some("api.stripe.com:443"),
                Some("https://api.stripe.com:443"),
            ),
            (
                Some("HTTPS"),
                Some("API.Stripe.com"),
                Some("https://api.stripe.com:443"),
            ),
            (Some("http"), Some("api.stripe.com"), None),
            (Some("http"), Some("api.stripe.com:443"), None),
            (Some("https"), Some("api.stripe.com:8443"), None),
            (Some("https"), Some("files.stripe.com"), None),
            (Some("https"), Some("api.stripe.com.evil.example"), None),
            (Some("https"), Some("evil.example"), None),
            (Some("https"), Some("127.0.0.1"), None),
            (Some("https"), Some("169.254.169.254"), None),
            (Some("https"), Some("user@api.stripe.com"), None),
            (Some("https"), Some(""), None),
            (Some("ftp"), Some("api.stripe.com"), None),
            (None, Some("api.stripe.com"), None),
            (Some("https"), None, None),
        ];
        for (scheme, authority, expected) in cases {
            let got = policy.decide(*scheme, *authority);
            match expected {
                Some(origin) => assert_eq!(
                    got,
                    Decision::Send(Origin::parse(origin).expect("valid")),
                    "{scheme:?} {authority:?}"
                ),
                None => assert!(
                    matches!(got, Decision::Deny(_)),
                    "{scheme:?} {authority:?} → {got:?}"
                ),
            }
        }
    }

    #[test]
    fn redirect_applies_only_to_allowed_origins() {
        let base = LoopbackBase::parse("http://127.0.0.1:12111").expect("loopback");
        let policy = stripe().redirect_to(base.clone());
        assert_eq!(
            policy.decide(Some("https"), Some("api.stripe.com")),
            Decision::Send(base.origin().clone())
        );
        assert!(matches!(
            policy.decide(Some("https"), Some("example.com")),
            Decision::Deny(_)
        ));
        // The loopback target itself is not addressable by the guest.
        assert!(matches!(
            policy.decide(Some("http"), Some("127.0.0.1:12111")),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn a_redirect_moves_one_origin_and_never_widens_the_allowlist() {
        let two = NetworkPolicy::new(vec![
            Origin::parse("https://api.stripe.com").expect("valid"),
            Origin::parse("https://files.stripe.com").expect("valid"),
        ]);
        let api = Redirect::parse("https://api.stripe.com=http://127.0.0.1:9001").expect("valid");
        let elsewhere =
            Redirect::parse("https://api.ledger.example:443=http://127.0.0.1:9002").expect("valid");
        let policy = two.redirect(&api).redirect(&elsewhere);
        assert_eq!(
            policy.decide(Some("https"), Some("api.stripe.com")),
            Decision::Send(api.base.origin().clone())
        );
        // Not redirected: sent where it was addressed.
        assert_eq!(
            policy.decide(Some("https"), Some("files.stripe.com")),
            Decision::Send(Origin::parse("https://files.stripe.com:443").expect("valid"))
        );
        // A redirect of an origin the connector may not reach does not let it reach it.
        assert!(matches!(
            policy.decide(Some("https"), Some("api.ledger.example")),
            Decision::Deny(_)
        ));
        // The last redirect of an origin wins.
        let again = Redirect::parse("https://api.stripe.com=http://127.0.0.1:9003").expect("valid");
        assert_eq!(
            policy
                .redirect(&again)
                .decide(Some("https"), Some("api.stripe.com")),
            Decision::Send(again.base.origin().clone())
        );
    }

    #[test]
    fn redirects_parse_or_say_what_to_write() {
        let refused: &[(&str, &str)] = &[
            ("http://127.0.0.1:9001", "ORIGIN=LOOPBACK_BASE"),
            (
                "https://api.stripe.com=http://10.0.0.1:80",
                "not a loopback",
            ),
            ("api.stripe.com=http://127.0.0.1:80", "not a URL"),
            (
                "https://api.stripe.com=http://127.0.0.1:80/v1",
                "bare origin",
            ),
        ];
        for (text, why) in refused {
            let err = Redirect::parse(text).expect_err(text);
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn loopback_base_accepts_loopback_only() {
        let ok = [
            "http://127.0.0.1:12111",
            "http://127.0.0.1:12111/",
            "http://127.1.2.3:80",
            "http://localhost:8080",
            "http://[::1]:9000",
            "https://127.0.0.1:8443",
        ];
        for url in ok {
            assert!(LoopbackBase::parse(url).is_ok(), "{url}");
        }
        let refused: &[(&str, &str)] = &[
            ("http://10.0.0.1:80", "not a loopback"),
            ("http://192.168.1.1:80", "not a loopback"),
            ("http://api.stripe.com", "not a loopback"),
            ("http://0.0.0.0:80", "not a loopback"),
            ("http://[::]:80", "not a loopback"),
            ("http://127.0.0.1.evil.example:80", "not a loopback"),
            ("http://localhost.evil.example:80", "not a loopback"),
            ("ftp://127.0.0.1:21", "scheme"),
            ("127.0.0.1:8080", "not a URL"),
            (
                "http://127.0.0.1:99999",
                "no usable port: write a port from 1 to 65535",
            ),
            ("http://127.0.0.1:0", "no usable port"),
            // No port written: a loopback server is not on port 80 by accident (QA).
            ("http://127.0.0.1", "no usable port"),
            ("http://localhost/", "no usable port"),
            ("http://[::1]", "no usable port"),
            ("http://[::1]:70000", "no usable port"),
            ("http://127.0.0.1:", "not a URL"),
            ("http://127.0.0.1:80x", "not a URL"),
            ("http://127.0.0.1:80/v1", "bare origin"),
            ("http://user@127.0.0.1:80", "bare origin"),
            ("http://", "not a URL"),
        ];
        for (url, why) in refused {
            let err = LoopbackBase::parse(url).expect_err(url);
            assert!(err.to_string().contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn timeouts_are_clamped_to_ceilings() {
        let c = TimeoutCeilings::default();
        let t = c.clamp(
            Some(Duration::from_secs(600)),
            None,
            Some(Duration::from_millis(5)),
        );
        assert_eq!(t.connect, c.connect);
        assert_eq!(t.first_byte, c.first_byte);
        assert_eq!(t.between_bytes, Duration::from_millis(5));
    }
}
