//! Networks as the settings write them: `10.0.0.0/8`, `fd00::/8` (`server.trusted_proxies`, a
//! tenant's `httpAllowedNetworks`), and the trusted proxies they make.

use std::net::IpAddr;

/// A network written as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: IpAddr = addr.trim().parse().ok()?;
        let prefix: u8 = prefix.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The networks whose `Forwarded` / `X-Forwarded-For` headers are believed
/// (`server.trusted_proxies`; the headers are read in `http::client_ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    pub fn new(networks: Vec<Network>) -> Self {
        TrustedProxies(networks)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports it) is
/// the IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let net = Network::parse("10.20.0.0/16").expect("net");
        assert!(net.contains("10.20.3.4".parse().expect("ip")));
        assert!(!net.contains("10.21.0.1".parse().expect("ip")));
        assert!(
            Network::parse("fd00::/8")
                .expect("net")
                .contains("fd12::1".parse().expect("ip"))
        );
        assert!(Network::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn trusted_proxies_contain_ipv4_addresses_written_as_ipv6() {
        let proxies = TrustedProxies::new(vec![Network::parse("10.0.0.0/8").expect("net")]);
        assert!(proxies.contains("10.0.0.1".parse().expect("ip")));
        assert!(proxies.contains("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!proxies.contains("192.0.2.1".parse().expect("ip")));
        assert!(!TrustedProxies::default().contains("10.0.0.1".parse().expect("ip")));
    }
}
