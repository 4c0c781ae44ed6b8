//! Which hosts a manifest's origins may name: a DNS name or an IP address written the one way it is
//! compared, never this machine, its link, or no one host — IPv4 addresses carried inside IPv6 ones
//! included (mapped, compatible, translated, NAT64, 6to4, Teredo).

/// Whether `host` (lower-cased by [`crate::origin::Origin::parse`]) is one an API can be at: a DNS name — dot-separated
/// labels of letters, digits and inner hyphens, 63 bytes each, 253 in all — or an IP address written the
/// one way it is compared (IPv6 in brackets), neither on this machine nor on its link. What else a URL
/// parser lets through (`*.example.com`, a space, `[zz]`) can never match a request; a name whose last
/// label is a number (`127.1`, `2130706433`, `0x7f.0.0.1`) is an IPv4 address in another spelling to a
/// resolver. `Err` says what is wrong and what to write, after the origin.
pub(super) fn usable_host(host: &str) -> Result<(), String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    const WRITE: &str =
        "write a DNS name (letters, digits, '-' and '.'; no wildcard or space) or an IP \
                         address, e.g. \"https://api.stripe.com:443\"";
    let ip: IpAddr = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let Ok(ip) = v6.parse::<Ipv6Addr>() else {
            return Err(format!("has no usable host: {WRITE}"));
        };
        // Where it leads first (an IPv4 address inside is where it leads), then how it is written.
        if is_local(IpAddr::V6(ip)) {
            return Err(LOCAL.to_owned());
        }
        if format!("[{ip}]") != host {
            return Err(format!(
                "writes an IPv6 address another way than its usual form: write [{ip}]"
            ));
        }
        IpAddr::V6(ip)
    } else {
        let last = host.rsplit('.').next().unwrap_or(host);
        let numeric = !last.is_empty()
            && (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x"));
        if !numeric {
            let dns = host.len() <= 253
                && host.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if !dns {
                return Err(format!("has no usable host: {WRITE}"));
            }
            // The names every resolver gives this machine or its link (RFC 6761's, and the usual
            // /etc/hosts ones: Fedora's and RHEL's `localhost4`, Debian's link-local multicast names).
            const LOCAL_NAMES: &[&str] = &[
                "localhost",
                "localhost4",
                "localhost6",
                "ip6-localhost",
                "ip6-loopback",
                "localhost.localdomain",
                "localhost4.localdomain4",
                "localhost6.localdomain6",
                "ip6-allnodes",
                "ip6-allrouters",
                "ip6-localnet",
                "ip6-mcastprefix",
            ];
            // `.local` is multicast DNS: a name on the link, answered by whoever claims it there.
            if LOCAL_NAMES.contains(&host)
                || host.ends_with(".localhost")
                || host.ends_with(".local")
            {
                return Err(LOCAL.to_owned());
            }
            return Ok(());
        }
        match host.parse::<Ipv4Addr>() {
            Ok(ip) if ip.to_string() == host => IpAddr::V4(ip),
            _ => {
                return Err(
                    "writes its host as a number a resolver reads as an IPv4 address: write the address as \
                     four decimal numbers (e.g. 192.0.2.10), or the API's DNS name"
                        .to_owned(),
                )
            }
        }
    };
    if is_local(ip) {
        return Err(LOCAL.to_owned());
    }
    Ok(())
}

/// Whether `ip` is on this machine or its link, or no one host: loopback, 0.0.0.0/8, link-local (IPv6's
/// site-local too), broadcast, multicast, and an IPv6 address that carries such an IPv4 one (mapped
/// `::ffff:127.0.0.1`, compatible `::127.0.0.1`, translated `::ffff:0:127.0.0.1`, NAT64's
/// `64:ff9b::a9fe:a9fe`, 6to4's `2002:7f00:1::` and Teredo's `2001:0:…`, whose server and (inverted)
/// client addresses it carries), which leads to it.
fn is_local(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.octets()[0] == 0
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) and SIIT's translated
            // ::ffff:0:0/96 carry the IPv4 address in their last 32 bits.
            let translated = (s[0] == 0x64 && s[1] == 0xff9b) || s[..6] == [0, 0, 0, 0, 0xffff, 0];
            let inside = if translated {
                let [.., a, b, c, d] = v6.octets();
                Some(Ipv4Addr::new(a, b, c, d))
            } else {
                // `to_ipv4` reads both the mapped and the (deprecated) compatible forms.
                v6.to_ipv4()
                    .filter(|_| !v6.is_loopback() && !v6.is_unspecified())
            };
            let o = v6.octets();
            // 6to4 (2002::/16) carries its IPv4 address in bits 16–47; Teredo (2001:0::/32) its
            // server's in bits 32–63 and its client's, inverted, in the last 32 (QA).
            let tunnelled = match (s[0], s[1]) {
                (0x2002, _) => vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])],
                (0x2001, 0) => vec![
                    Ipv4Addr::new(o[4], o[5], o[6], o[7]),
                    Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]),
                ],
                _ => Vec::new(),
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || v6.is_multicast()
                || inside.is_some_and(|v4| is_local(IpAddr::V4(v4)))
                || tunnelled.into_iter().any(|v4| is_local(IpAddr::V4(v4)))
        }
    }
}

/// Why an origin on this machine or its link is refused.
const LOCAL: &str = "is on this machine or its link, or is no one host (loopback, 0.0.0.0/8, link-local: \
                     a cloud's metadata service is at 169.254.169.254; .local names; broadcast, multicast), \
                     where no connector's API is: a loopback test server is reached with --redirect, not by \
                     the manifest";
