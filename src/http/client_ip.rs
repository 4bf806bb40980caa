//! Who the client is. Without trusted proxies, the peer address. When the peer is one of
//! `server.trusted_proxies`, the `Forwarded` (RFC 7239) or else `X-Forwarded-For` chain is read
//! right to left, skipping trusted hops: the first address that is not a trusted proxy is the
//! client (a client can prepend anything, so nothing left of that is believed).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::{TrustedProxies, canonical_ip};

/// The client behind `peer`, from the forwarding headers when `peer` is one of `proxies`.
pub fn client_of(proxies: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = canonical_ip(peer);
    if !proxies.contains(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(parse_node)
            .collect()
    } else {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        // An unreadable hop ends the chain: what stands left of it cannot be placed.
        let Some(ip) = hop else { break };
        client = canonical_ip(ip);
        if !proxies.contains(client) {
            break;
        }
    }
    client
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address (see the module doc), set by the listener ([`super::serve`]) for every
/// request; a request that did not come through it counts as `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Network;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            Network::parse("10.0.0.0/8").expect("net"),
            Network::parse("fd00::/8").expect("net"),
        ])
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_of(&proxies(), ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_of(&TrustedProxies::default(), ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
        assert_eq!(client_of(&proxies(), ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn the_chain_is_read_right_to_left_past_trusted_hops() {
        // The client wrote a fake first hop; the proxies appended the real one.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9"),
            ("x-forwarded-for", "10.1.1.1"),
        ]);
        assert_eq!(client_of(&proxies(), ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8::17]:4711\";proto=https, for=10.2.2.2",
        )]);
        assert_eq!(
            client_of(&proxies(), ip("10.0.0.1"), &h),
            ip("2001:db8::17")
        );
        let h = headers(&[("x-forwarded-for", "junk, 10.3.3.3")]);
        assert_eq!(
            client_of(&proxies(), ip("::ffff:10.0.0.1"), &h),
            ip("10.3.3.3")
        );
        assert_eq!(
            client_of(&proxies(), ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }
}
