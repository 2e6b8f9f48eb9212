//! Name resolution for scripts' requests and downloads.
//!
//! `http_allow`'s check sees only the URL's host, so a name that resolves
//! to loopback (`localhost.`, the machine's own host name, any DNS name
//! pointed at 127.0.0.1) would pass it and reach the admin endpoint or a
//! developer's sandbox, on the first URL or after a redirect. The client
//! resolves every name here instead: loopback and unspecified addresses are
//! dropped unless an `http_allow` entry names the host exactly (a wildcard
//! does not), as the check does for a literal address.

use crate::config::{reaches_this_machine, RequestPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// A name that resolves only to addresses of this machine, which no
/// `http_allow` entry names.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to loopback, which service_config.http_allow does not name")]
pub struct ResolvesToLoopback {
    pub name: String,
}

/// The resolver of the scripts' client: the system's, less this machine's
/// addresses for names `http_allow` does not name exactly.
#[derive(Debug, Clone)]
pub struct ScriptResolver {
    policy: Arc<RequestPolicy>,
}

impl ScriptResolver {
    pub fn new(policy: RequestPolicy) -> Self {
        ScriptResolver {
            policy: Arc::new(policy),
        }
    }
}

impl Resolve for ScriptResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_ascii_lowercase();
        let named = self.policy.names_exactly(&name);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept = keep(&name, found, named)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// `found` less this machine's addresses unless `named`; an error when
/// nothing is left.
fn keep(
    name: &str,
    found: Vec<SocketAddr>,
    named: bool,
) -> Result<Vec<SocketAddr>, ResolvesToLoopback> {
    if named {
        return Ok(found);
    }
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| !reaches_this_machine(a.ip()))
        .collect();
    if kept.is_empty() {
        return Err(ResolvesToLoopback {
            name: name.to_string(),
        });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn this_machine_is_dropped_unless_named() {
        let mixed = addrs(&[
            "127.0.0.1:0",
            "[::1]:0",
            "[::ffff:127.0.0.2]:0",
            "0.0.0.0:0",
            "[::]:0",
            "93.184.215.14:0",
        ]);
        assert_eq!(
            keep("a.example", mixed.clone(), false).unwrap(),
            addrs(&["93.184.215.14:0"])
        );
        assert_eq!(keep("a.example", mixed.clone(), true).unwrap(), mixed);
        let local = addrs(&["127.0.0.1:0", "[::1]:0"]);
        assert_eq!(
            keep("vm", local, false).unwrap_err().to_string(),
            "vm resolves to loopback, which service_config.http_allow does not name"
        );
    }
}
