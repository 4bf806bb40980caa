//! Domain templates: origin patterns such as `https://*.example.com` or `https://shop.example:8443`.
//! With Restrict Access on, only an `Origin` matching one of them may call the customer API.

use url::Url;

/// One origin pattern: scheme, host labels (a leading `*` matches one or more labels), port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTemplate {
    scheme: String,
    labels: Vec<String>,
    port: Option<u16>,
}

impl DomainTemplate {
    pub fn parse(text: &str) -> Option<DomainTemplate> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '@', '?', '#']) || rest.is_empty() {
            return None;
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (rest, None),
        };
        let labels: Vec<String> = host.split('.').map(str::to_ascii_lowercase).collect();
        let wildcard_ok = labels.iter().enumerate().all(|(i, l)| l != "*" || i == 0);
        if labels
            .iter()
            .any(|l| l.is_empty() || (l.contains('*') && l != "*"))
            || !wildcard_ok
        {
            return None;
        }
        if labels[0] == "*" && labels.len() < 3 {
            return None;
        }
        Some(DomainTemplate {
            scheme,
            labels,
            port,
        })
    }

    /// Whether a browser `Origin` header value matches this template.
    pub fn matches(&self, origin: &str) -> bool {
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        if url.scheme() != self.scheme || !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        if url.path() != "/" && !url.path().is_empty() {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host: Vec<&str> = host.split('.').collect();
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        if url.port_or_known_default() != Some(self.port.unwrap_or(default_port)) {
            return false;
        }
        match self.labels.split_first() {
            Some((first, rest)) if first == "*" => {
                host.len() > rest.len()
                    && host[host.len() - rest.len()..]
                        .iter()
                        .zip(rest)
                        .all(|(h, p)| h.eq_ignore_ascii_case(p))
            }
            _ => {
                host.len() == self.labels.len()
                    && host
                        .iter()
                        .zip(&self.labels)
                        .all(|(h, p)| h.eq_ignore_ascii_case(p))
            }
        }
    }
}

/// Whether `origin` may call, given the contact's Restrict Access setting and templates.
pub fn allowed(restrict: bool, templates: &[String], origin: Option<&str>) -> bool {
    if !restrict {
        return true;
    }
    let Some(origin) = origin else { return false };
    templates
        .iter()
        .filter_map(|t| DomainTemplate::parse(t))
        .any(|t| t.matches(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DomainTemplate {
        DomainTemplate::parse(s).expect("template")
    }

    #[test]
    fn exact_wildcard_port_and_scheme_rules() {
        assert!(t("https://shop.example.com").matches("https://shop.example.com"));
        assert!(t("https://shop.example.com").matches("https://SHOP.example.com"));
        assert!(
            !t("https://shop.example.com").matches("http://shop.example.com"),
            "scheme"
        );
        assert!(
            !t("https://shop.example.com").matches("https://shop.example.com:8443"),
            "port"
        );
        assert!(t("https://shop.example.com:8443").matches("https://shop.example.com:8443"));
        assert!(t("https://*.example.com").matches("https://a.b.example.com"));
        assert!(
            !t("https://*.example.com").matches("https://example.com"),
            "the wildcard needs a label"
        );
    }

    #[test]
    fn look_alike_origins_do_not_match() {
        let template = t("https://example.com");
        for origin in [
            "https://example.com.evil.test",
            "https://evilexample.com",
            "https://example.com@evil.test",
            "https://evil.test/https://example.com",
            "null",
            "",
        ] {
            assert!(!template.matches(origin), "{origin}");
        }
        assert!(!t("https://*.example.com").matches("https://x.example.com.evil.test"));
    }

    #[test]
    fn bad_templates_are_rejected_and_restriction_fails_closed() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://*.com",
            "https://a.*.com",
            "https://x.com/path",
        ] {
            assert!(DomainTemplate::parse(bad).is_none(), "{bad}");
        }
        assert!(allowed(false, &[], None));
        assert!(!allowed(true, &["https://example.com".into()], None));
        assert!(!allowed(true, &[], Some("https://example.com")));
    }
}
