//! `service_config.http_allow`: whether a script's `request` or `download`
//! may reach a URL.
//!
//! One check for the first URL of a request, for every redirect it follows
//! and for `download`, so that none of them is a way around the others.
//! Loopback (and the unspecified address, which reaches the same machine)
//! is where the host's own admin endpoint and a developer's sandbox listen,
//! so it is refused even with no `http_allow` unless an entry names it
//! exactly (no wildcard); the admin endpoint's own address needs an exact
//! `host:port` entry wherever it listens. This check sees the URL only: a
//! name that resolves to loopback is refused where it is resolved
//! (`host::resolver`), by the same rule ([`RequestPolicy::names_exactly`]).

use super::RequestPolicy;
use reqwest::Url;
use std::net::{IpAddr, SocketAddr};

/// A URL `http_allow` does not let scripts reach; shows the `host:port`
/// that was checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} is not in service_config.http_allow")]
pub struct NotAllowed {
    /// `host:port`, the port the scheme's default when the URL gives none.
    pub target: String,
}

/// A redirect `http_allow` refused: `redirect to HOST:PORT is not in
/// service_config.http_allow`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect to {0}")]
pub struct RedirectRefused(pub NotAllowed);

/// Redirects one request or download may follow, each checked; a loop or
/// a long chain ends there.
pub const MAX_REDIRECTS: usize = 5;

/// More than [`MAX_REDIRECTS`] redirects.
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

impl RequestPolicy {
    /// How a client follows redirects for scripts: every hop checked as the
    /// first URL was, at most [`MAX_REDIRECTS`] of them.
    pub fn redirects(&self) -> reqwest::redirect::Policy {
        let policy = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if let Err(refused) = policy.check(attempt.url()) {
                attempt.error(RedirectRefused(refused))
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(TooManyRedirects)
            } else {
                attempt.follow()
            }
        })
    }

    /// Whether `url` may be reached.
    pub fn check(&self, url: &Url) -> Result<(), NotAllowed> {
        let host = bare_name(&url.host_str().unwrap_or_default().to_ascii_lowercase()).to_string();
        let port = url.port_or_known_default();
        let target = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let ip = ip_of(&host);
        // A name an entry names exactly may resolve to loopback (nothing
        // else does, see `host::resolver`): at the admin's port it needs
        // the `host:port` entry as the address itself would.
        let admin = self.admin.is_some_and(|a| {
            is_address(a, ip, port)
                || (ip.is_none() && port == Some(a.port()) && self.names_exactly(&host))
        });
        let listed = |entry: &str| entry == target || (!admin && entry == host);
        let allowed = if admin || ip.is_some_and(reaches_this_machine) || is_local_name(&host) {
            self.allow
                .iter()
                .flatten()
                .any(|e| listed(&e.to_ascii_lowercase()))
        } else {
            self.allows(&host, port)
        };
        if allowed {
            Ok(())
        } else {
            Err(NotAllowed { target })
        }
    }
}

impl RequestPolicy {
    /// Whether an entry names `host` itself, with or without a port (a
    /// wildcard does not): only such a name may resolve to loopback.
    pub fn names_exactly(&self, host: &str) -> bool {
        let host = bare_name(host);
        self.allow.iter().flatten().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            let named = match entry.rsplit_once(':') {
                Some((h, port)) if port.parse::<u16>().is_ok() => h,
                _ => entry.as_str(),
            };
            bare_name(named).eq_ignore_ascii_case(host)
        })
    }
}

/// A host name without the trailing dot of a fully qualified one
/// (`localhost.` is `localhost`).
fn bare_name(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// A URL's host as an address, when it is one (`[::1]` for IPv6).
fn ip_of(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Loopback, or the unspecified address (a connection to it reaches this
/// machine), in either family or IPv4-mapped.
pub fn reaches_this_machine(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified()
}

/// `localhost` and its subdomains, which resolve to loopback.
fn is_local_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Whether `ip:port` is `addr` (any address on its port when it listens on
/// all of them).
fn is_address(addr: SocketAddr, ip: Option<IpAddr>, port: Option<u16>) -> bool {
    port == Some(addr.port()) && (addr.ip().is_unspecified() || ip == Some(addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: Option<&[&str]>) -> RequestPolicy {
        RequestPolicy {
            allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            admin: Some("127.0.0.1:9100".parse().unwrap()),
            ..RequestPolicy::default()
        }
    }

    fn check(p: &RequestPolicy, url: &str) -> Result<(), String> {
        p.check(&Url::parse(url).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn loopback_needs_an_exact_entry_even_when_any_host_is_allowed() {
        let any = policy(None);
        assert!(check(&any, "https://api.example.com/x").is_ok());
        for url in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
            "http://0.0.0.0:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8080/",
            "http://localhost.:8080/",
            "http://a.localhost./",
        ] {
            assert!(check(&any, url).is_err(), "{url}");
        }
        assert_eq!(
            check(&any, "http://127.0.0.1:8080/healthz"),
            Err("127.0.0.1:8080 is not in service_config.http_allow".into())
        );
        let listed = policy(Some(&["127.0.0.1:8080", "localhost"]));
        assert!(check(&listed, "http://127.0.0.1:8080/").is_ok());
        assert!(check(&listed, "http://127.0.0.1:8081/").is_err());
        assert!(check(&listed, "http://localhost:3000/").is_ok());
    }

    #[test]
    fn the_admin_address_needs_its_host_and_port() {
        let host_only = policy(Some(&["127.0.0.1"]));
        assert!(check(&host_only, "http://127.0.0.1:8080/").is_ok());
        assert!(check(&host_only, "http://127.0.0.1:9100/healthz").is_err());
        let exact = policy(Some(&["127.0.0.1:9100"]));
        assert!(check(&exact, "http://127.0.0.1:9100/healthz").is_ok());
        // A name listed alone may resolve to the admin's address.
        let name = policy(Some(&["vm", "api.example.com:9100"]));
        assert!(check(&name, "http://vm:8080/").is_ok());
        assert!(check(&name, "http://vm:9100/spell").is_err());
        assert!(check(&name, "http://api.example.com:9100/").is_ok());
        let name_and_port = policy(Some(&["vm:9100"]));
        assert!(check(&name_and_port, "http://vm:9100/spell").is_ok());
    }

    #[test]
    fn only_an_entry_without_a_wildcard_names_a_host() {
        let p = policy(Some(&["vm:8080", "Box.", "*.example.org", "[::1]:80"]));
        for named in ["vm", "vm.", "box", "BOX."] {
            assert!(p.names_exactly(named), "{named}");
        }
        for not in ["x.example.org", "example.org", "vm2", "::1"] {
            assert!(!p.names_exactly(not), "{not}");
        }
        assert!(!policy(None).names_exactly("vm"));
    }

    #[test]
    fn other_hosts_follow_the_list_with_the_default_port_shown() {
        let p = policy(Some(&["api.example.com", "*.example.org"]));
        assert!(check(&p, "https://API.example.com/").is_ok());
        assert!(check(&p, "https://x.example.org/").is_ok());
        assert_eq!(
            check(&p, "https://example.net/"),
            Err("example.net:443 is not in service_config.http_allow".into())
        );
    }
}
