//! Checks what an admin writes as webhook endpoints (tenant settings, tenant file): ids, a
//! secret for every new endpoint, and URLs checked when they are configured as SendHttpRequest
//! targets are when they are called — https, and never an internal network unless the
//! tenant's `httpAllowedNetworks` allows it (plain http only to an allowed loopback address,
//! for tests and local development). Every problem comes with its JSON path.

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use super::endpoints::{Endpoint, EndpointInput};
use crate::config::Network;
use crate::engine::http_request::{self, TargetRefused};

/// The most endpoints one tenant may have.
pub const MAX_ENDPOINTS: usize = 10;
/// Shortest secret accepted (characters).
pub const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 512;
const MAX_URL: usize = 2000;
const MAX_ID: usize = 64;

fn problem(path: &str, code: &str, message: impl Into<String>) -> Value {
    json!({"path": path, "code": code, "message": message.into()})
}

/// Parses and checks the endpoints an admin wrote at `path` (`/webhooks`): ids, URLs (resolved
/// and refused on internal networks not in `allowed_networks`), and a secret for every endpoint
/// not already stored (`known`). Returns every problem with its path.
pub async fn endpoints(
    raw: &Value,
    path: &str,
    allowed_networks: &[String],
    known: &[Endpoint],
) -> Result<Vec<EndpointInput>, Vec<Value>> {
    let Some(items) = raw.as_array() else {
        return Err(vec![problem(
            path,
            "invalid_shape",
            "webhooks is a list of {id, url, secret}",
        )]);
    };
    let allowed: Vec<Network> = allowed_networks
        .iter()
        .filter_map(|n| Network::parse(n))
        .collect();
    let mut problems = Vec::new();
    if items.len() > MAX_ENDPOINTS {
        problems.push(problem(
            path,
            "too_many_webhooks",
            format!("a tenant has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("{path}/{i}{field}");
        let input: EndpointInput = match serde_json::from_value(item.clone()) {
            Ok(input) => input,
            Err(e) => {
                problems.push(problem(&at(""), "invalid_shape", e.to_string()));
                continue;
            }
        };
        let id_ok = !input.id.is_empty()
            && input.id.len() <= MAX_ID
            && input
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            problems.push(problem(
                &at("/id"),
                "webhook_id_invalid",
                format!("an id is 1 to {MAX_ID} letters, digits, '-', '_' or '.'"),
            ));
        } else if !seen.insert(input.id.clone()) {
            problems.push(problem(
                &at("/id"),
                "webhook_id_duplicate",
                format!("webhook {:?} is listed more than once", input.id),
            ));
        }
        if let Err((code, message)) = url(&input.url, &allowed).await {
            problems.push(problem(&at("/url"), code, message));
        }
        match &input.secret {
            None if !known.iter().any(|k| k.id == input.id) => problems.push(problem(
                &at("/secret"),
                "webhook_secret_required",
                "a new webhook endpoint needs a secret (it is never shown again)",
            )),
            Some(s)
                if s.expose_secret().chars().count() < MIN_SECRET
                    || s.expose_secret().len() > MAX_SECRET =>
            {
                problems.push(problem(
                    &at("/secret"),
                    "webhook_secret_too_short",
                    format!("a secret has {MIN_SECRET} to {MAX_SECRET} characters"),
                ))
            }
            _ => {}
        }
        out.push(input);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Whether `url` may receive webhooks: an absolute https URL without credentials whose host
/// resolves, and not to an internal address (unless allowed); http only to allowed loopback.
/// A name that does not resolve now is refused now, rather than retried for a day of
/// deliveries (delivery checks the address again each time).
pub async fn url(url: &str, allowed: &[Network]) -> Result<(), (&'static str, String)> {
    let invalid = |why: &str| ("webhook_url_invalid", why.to_owned());
    if url.len() > MAX_URL {
        return Err(invalid("the URL is too long"));
    }
    let parsed = Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "credentials in the URL are not allowed (the secret signs each delivery)",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("a URL with a #fragment is not allowed"));
    }
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(("webhook_url_not_https", "the URL must be https".to_owned()));
    }
    let addrs = match http_request::vet(&parsed, allowed).await {
        Ok(addrs) => addrs,
        Err(TargetRefused::BadUrl) => return Err(invalid("not an absolute http(s) URL")),
        Err(TargetRefused::Unresolvable) => {
            return Err((
                "webhook_url_unresolvable",
                "the host does not resolve to an address now: check its spelling and DNS"
                    .to_owned(),
            ));
        }
        Err(TargetRefused::Internal(ip)) => {
            return Err((
                "webhook_url_private",
                format!(
                    "the host resolves to an internal address ({ip}); webhooks go to public \
                     networks unless the tenant's httpAllowedNetworks lists it"
                ),
            ));
        }
    };
    let loopback = !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback());
    if parsed.scheme() == "http" && !loopback {
        return Err((
            "webhook_url_not_https",
            "the URL must be https (http only to an allowed loopback address)".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(nets: &[&str]) -> Vec<Network> {
        nets.iter().filter_map(|n| Network::parse(n)).collect()
    }

    #[tokio::test]
    async fn urls_must_be_https_and_public_unless_an_allowed_loopback() {
        let none = allowed(&[]);
        let code = |r: Result<(), (&'static str, String)>| r.err().map(|(c, _)| c);
        assert_eq!(code(url("https://93.184.216.34/hook", &none).await), None);
        assert_eq!(
            code(url("http://93.184.216.34/hook", &none).await),
            Some("webhook_url_not_https")
        );
        for private in [
            "https://10.0.0.5/hook",
            "https://127.0.0.1:8443/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest",
            "https://localhost/hook",
        ] {
            assert_eq!(
                code(url(private, &none).await),
                Some("webhook_url_private"),
                "{private}"
            );
        }
        assert_eq!(
            code(url("ftp://93.184.216.34/x", &none).await),
            Some("webhook_url_not_https")
        );
        assert_eq!(
            code(url("https://user:pw@93.184.216.34/x", &none).await),
            Some("webhook_url_invalid")
        );
        assert_eq!(
            code(url("/relative", &none).await),
            Some("webhook_url_invalid")
        );
        let loopback = allowed(&["127.0.0.0/8"]);
        assert_eq!(code(url("http://127.0.0.1:9/hook", &loopback).await), None);
        let private = allowed(&["10.0.0.0/8"]);
        assert_eq!(code(url("https://10.0.0.5/hook", &private).await), None);
        assert_eq!(
            code(url("http://10.0.0.5/hook", &private).await),
            Some("webhook_url_not_https")
        );
    }

    #[tokio::test]
    async fn new_endpoints_need_a_long_enough_secret_and_ids_are_unique() {
        let raw = json!([
            {"id": "crm", "url": "https://93.184.216.34/a"},
            {"id": "crm", "url": "https://93.184.216.34/b", "secret": "s3cret-s3cret-s3cret"},
            {"id": "x|y", "url": "https://93.184.216.34/c", "secret": "short"},
        ]);
        let problems = endpoints(&raw, "/webhooks", &[], &[])
            .await
            .expect_err("refused");
        let codes: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap_or_default(),
                    p["code"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("/webhooks/0/secret", "webhook_secret_required"),
                ("/webhooks/1/id", "webhook_id_duplicate"),
                ("/webhooks/2/id", "webhook_id_invalid"),
                ("/webhooks/2/secret", "webhook_secret_too_short"),
            ]
        );
        let known = [Endpoint {
            id: "crm".into(),
            url: "https://93.184.216.34/a".into(),
        }];
        let kept = json!([{"id": "crm", "url": "https://93.184.216.34/a"}]);
        assert_eq!(
            endpoints(&kept, "/webhooks", &[], &known)
                .await
                .expect("a known endpoint keeps its secret")
                .len(),
            1
        );
    }
}
