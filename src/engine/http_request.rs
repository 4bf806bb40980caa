//! Executes the workflow's `SendHttpRequest` effect. The target must be http(s) and must not
//! resolve to a loopback, private, link-local, unique-local, multicast or unspecified address
//! (nor the cloud metadata address) unless the tenant allow-lists the network; redirects are not
//! followed (they could lead anywhere), the body is capped, and the result comes back to the
//! workflow as a `HttpResult` command.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::config::Network;

/// Largest response body read.
const MAX_BODY: usize = 256 * 1024;

/// Addresses a workflow may not reach unless allow-listed. An IPv6 address that carries an
/// IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 address it carries,
/// since a gateway on the way may deliver it there.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (a == 100 && (b & 0xc0) == 64)
                // 192.0.0.0/24, IETF protocol assignments; 192.0.2.0/24 and other documentation
                || (a == 192 && b == 0 && (c == 0 || c == 2))
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113)
                // 198.18.0.0/15, benchmarking
                || (a == 198 && (b & 0xfe) == 18)
                // 240.0.0.0/4, reserved
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let bits = u128::from(v6);
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
                // 64:ff9b:1::/48, NAT64 for local use: a translator to networks of its own
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001)
                || embedded_ipv4(bits).iter().any(|v4| is_internal(IpAddr::V4(*v4)))
        }
    }
}

/// The IPv4 addresses an IPv6 address carries: `::ffff:a.b.c.d` (mapped), `::a.b.c.d`
/// (compatible, deprecated), `64:ff9b::a.b.c.d` (NAT64 well-known prefix), `2002:AABB:CCDD::`
/// (6to4) and Teredo's `2001:0:SERVER:…:~CLIENT` (both the server and the obfuscated client).
fn embedded_ipv4(bits: u128) -> Vec<std::net::Ipv4Addr> {
    let low = |b: u128| std::net::Ipv4Addr::from((b & 0xffff_ffff) as u32);
    let high96 = bits >> 32;
    let mut found = Vec::new();
    if high96 == 0xffff || (high96 == 0 && bits > 1) || high96 == 0x0064_ff9b_0000_0000_0000_0000 {
        found.push(low(bits));
    }
    if bits >> 112 == 0x2002 {
        found.push(low(bits >> 80));
    }
    if bits >> 96 == 0x2001_0000 {
        found.push(low(bits >> 64));
        found.push(low(!bits));
    }
    found
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetRefused {
    #[error("the URL is not an absolute http(s) URL")]
    BadUrl,
    #[error("the host could not be resolved")]
    Unresolvable,
    #[error("the host resolves to an internal address ({0}) that the tenant has not allowed")]
    Internal(IpAddr),
}

/// The networks a tenant allows outbound HTTP to reach although they are internal
/// (`httpAllowedNetworks` of its settings; none when it has no settings).
pub async fn allowed_networks(
    pool: &(impl crate::store::AsPool + ?Sized),
    tenant: &str,
) -> Result<Vec<Network>, crate::directory::store::StoreError> {
    use crate::directory::store::{self as docs, Kind};
    Ok(
        docs::get::<crate::directory::Tenant>(pool, tenant, Kind::Tenant, tenant)
            .await?
            .map(|t| t.value.http_allowed_networks)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| Network::parse(n))
            .collect(),
    )
}

/// A client that reaches `host` only at the vetted `addrs` (a second DNS answer cannot point
/// elsewhere) and follows no redirect.
pub fn pinned_client(
    host: &str,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve_to_addrs(host, addrs)
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
}

/// Resolves the URL's host and checks every address; returns the addresses to connect to.
pub async fn vet(url: &Url, allowed: &[Network]) -> Result<Vec<SocketAddr>, TargetRefused> {
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(TargetRefused::BadUrl);
    }
    let host = url.host_str().ok_or(TargetRefused::BadUrl)?;
    let port = url.port_or_known_default().ok_or(TargetRefused::BadUrl)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| TargetRefused::Unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(TargetRefused::Unresolvable);
    }
    for addr in &addrs {
        let ip = addr.ip();
        if is_internal(ip) && !allowed.iter().any(|n| n.contains(ip)) {
            return Err(TargetRefused::Internal(ip));
        }
    }
    Ok(addrs)
}

/// The outcome handed back to the workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestOutcome {
    pub status: Option<u16>,
    pub body: Option<Value>,
}

/// Performs the request after vetting its target. Failures (refused, unreachable, timeout)
/// are an outcome without a status, which the workflow takes as its `failure` exit.
pub async fn execute(
    method: &str,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: Option<&str>,
    timeout_seconds: u32,
    allowed: &[Network],
) -> RequestOutcome {
    let failed = RequestOutcome {
        status: None,
        body: None,
    };
    let Ok(url) = Url::parse(url) else {
        return failed;
    };
    let addrs = match vet(&url, allowed).await {
        Ok(addrs) => addrs,
        Err(refused) => {
            tracing::warn!(reason = %refused, "workflow HTTP request refused");
            return failed;
        }
    };
    let Some(host) = url.host_str().map(str::to_owned) else {
        return failed;
    };
    let timeout = Duration::from_secs(u64::from(timeout_seconds.clamp(1, 60)));
    let client = pinned_client(&host, &addrs, timeout).build();
    let Ok(client) = client else { return failed };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return failed;
    };
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let Ok(mut response) = request.send().await else {
        return failed;
    };
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if bytes.len() + chunk.len() > MAX_BODY {
            return RequestOutcome {
                status: Some(status),
                body: None,
            };
        }
        bytes.extend_from_slice(&chunk);
    }
    RequestOutcome {
        status: Some(status),
        body: serde_json::from_slice(&bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2001:0:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fec0::1",
            "240.0.0.1",
            "198.18.0.1",
        ] {
            assert!(is_internal(internal.parse().expect("ip")), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(public.parse().expect("ip")), "{public}");
        }
    }
}
