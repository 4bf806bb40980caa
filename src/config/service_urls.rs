//! `bot.allowed_service_urls`: the hosts our bearer token may be sent to (reference §2 "Trusted
//! service URL concept", "Implications" 4). The Connector checks each service URL against it
//! before it sends a token there.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Default,
    Exact(u16),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: String,
    /// Lower-case labels; `*` matches one label, a leading `*` one or more.
    labels: Vec<String>,
    port: PortPattern,
}

/// The hosts a bearer token may be sent to, as patterns like `https://*.botframework.com`,
/// `https://smba.infra.*.teams.microsoft.com`, `http://127.0.0.1:*`.
#[derive(Debug, Clone, Default)]
pub struct ServiceUrlAllowList {
    patterns: Vec<HostPattern>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid service URL pattern {pattern:?}: {reason}")]
pub struct InvalidPattern {
    pattern: String,
    reason: &'static str,
}

impl ServiceUrlAllowList {
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, InvalidPattern> {
        let patterns = patterns
            .iter()
            .map(|p| parse_pattern(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(ServiceUrlAllowList { patterns })
    }

    /// Whether `url` (a service URL) is on the list: its scheme, host and port match a
    /// pattern. A URL that carries user information never is.
    pub fn allows(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        let port = url.port_or_known_default();
        self.patterns.iter().any(|p| {
            p.scheme == url.scheme()
                && port_matches(&p.port, url.port(), port)
                && labels_match(&p.labels, &labels)
        })
    }

    /// Parses and checks a raw URL; anything unparsable is not allowed.
    pub fn allows_str(&self, raw: &str) -> bool {
        Url::parse(raw).is_ok_and(|u| self.allows(&u))
    }
}

fn port_matches(pattern: &PortPattern, explicit: Option<u16>, effective: Option<u16>) -> bool {
    match pattern {
        PortPattern::Any => true,
        PortPattern::Default => explicit.is_none(),
        PortPattern::Exact(p) => effective == Some(*p),
    }
}

fn labels_match(pattern: &[String], host: &[&str]) -> bool {
    match pattern.split_first() {
        // `*.example.com` (parse guarantees two fixed labels after it): one or more labels
        // before the suffix.
        Some((first, rest)) if first == "*" => {
            host.len() > rest.len()
                && host[host.len() - rest.len()..]
                    .iter()
                    .zip(rest)
                    .all(|(h, p)| p == "*" || p == h)
        }
        _ => {
            pattern.len() == host.len() && pattern.iter().zip(host).all(|(p, h)| p == "*" || p == h)
        }
    }
}

fn parse_pattern(pattern: &str) -> Result<HostPattern, InvalidPattern> {
    let bad = |reason| InvalidPattern {
        pattern: pattern.to_owned(),
        reason,
    };
    let (scheme, rest) = pattern
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host[:port]"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(bad("scheme must be http or https"));
    }
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('@') || rest.contains('?') || rest.contains('#') {
        return Err(bad("only a host and an optional port are allowed"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, "*")) => (h, PortPattern::Any),
        Some((h, p)) => (
            h,
            PortPattern::Exact(p.parse().map_err(|_| bad("port must be a number or *"))?),
        ),
        None => (rest, PortPattern::Default),
    };
    let labels: Vec<String> = host.split('.').map(str::to_ascii_lowercase).collect();
    if labels.iter().any(String::is_empty) {
        return Err(bad("empty host label"));
    }
    if labels.first().is_some_and(|l| l == "*") && labels.len() < 3 {
        return Err(bad(
            "a leading wildcard needs at least two fixed labels after it",
        ));
    }
    if labels.iter().any(|l| l.contains('*') && l != "*") {
        return Err(bad("a wildcard must be a whole label"));
    }
    Ok(HostPattern {
        scheme,
        labels,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ALLOWED_SERVICE_URLS;

    fn defaults() -> ServiceUrlAllowList {
        ServiceUrlAllowList::parse(DEFAULT_ALLOWED_SERVICE_URLS).expect("defaults parse")
    }

    #[test]
    fn teams_service_urls_are_allowed_by_default() {
        let list = defaults();
        for ok in [
            "https://smba.trafficmanager.net/amer/",
            "https://smba.trafficmanager.net/teams/",
            "https://europe.webchat.botframework.com/",
            "https://smba.infra.gcc.teams.microsoft.com/teams",
            "https://smba.infra.gov.teams.microsoft.us/teams",
        ] {
            assert!(list.allows_str(ok), "{ok} should be allowed");
        }
    }

    #[test]
    fn lookalike_and_spoofed_hosts_are_refused() {
        let list = defaults();
        for bad in [
            "http://smba.trafficmanager.net/amer/",
            "https://smba.trafficmanager.net.evil.com/",
            "https://evilbotframework.com/",
            "https://botframework.com.evil/",
            "https://smba.trafficmanager.net@evil.com/",
            "https://evil.com@smba.trafficmanager.net/",
            "https://smba.trafficmanager.net:8443/",
            "https://smba.infra.a.b.teams.microsoft.com/",
            "not a url",
        ] {
            assert!(!list.allows_str(bad), "{bad} should be refused");
        }
    }

    #[test]
    fn loopback_patterns_with_any_port_match_only_loopback() {
        let list = ServiceUrlAllowList::parse(&["http://127.0.0.1:*"]).expect("parse");
        assert!(list.allows_str("http://127.0.0.1:56150/_connector"));
        assert!(!list.allows_str("https://127.0.0.1:56150/"));
        assert!(!list.allows_str("http://127.0.0.2:56150/"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for p in [
            "smba.trafficmanager.net",
            "ftp://x.com",
            "https://*.com",
            "https://a*.b.com",
            "https://x.com/path",
        ] {
            assert!(ServiceUrlAllowList::parse(&[p]).is_err(), "{p}");
        }
    }
}
