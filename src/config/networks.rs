//! Networks as the settings write them: `10.0.0.0/8`, `fd00::/8` (`server.trusted_proxies`, a
//! tenant's `httpAllowedNetworks`).

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
}
