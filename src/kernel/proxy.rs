//! Which address a request came from, behind proxies.
//!
//! A proxy appends the address it received a request from to
//! `X-Forwarded-For` (or to `Forwarded`, RFC 7239): the header's rightmost
//! entry is the one the proxy nearest the app wrote, and its leftmost is
//! whatever the client claimed. So the client is found as Express's
//! `trust proxy` (the `proxy-addr` package) finds it: start from the
//! socket's peer, and while the address at hand is a trusted proxy, step
//! to the entry it appended (the next one to the left); the first address
//! that is not trusted is the client's. Trust is a number of hops (the
//! first `n` addresses from the socket, as a fixed chain of `n` proxies
//! gives), or a list of proxy addresses and networks (with the presets
//! `loopback`, `linklocal` and `uniquelocal`). Trusting everything, which
//! makes the leftmost (client-written) entry the client, is not offered.
//!
//! ```
//! use usertrail::kernel::proxy::{ProxyHeader, Trust};
//!
//! let trust = Trust::parse_list(&["loopback".into(), "10.0.0.0/8".into()]).unwrap();
//! // A client at 198.51.100.1 claims to be 203.0.113.5; the proxy (10.0.0.2)
//! // appended the real address; the app sees the proxy on loopback.
//! let client = trust.client(ProxyHeader::XForwardedFor, Some("127.0.0.1"), Some("203.0.113.5, 198.51.100.1, 10.0.0.2"));
//! assert_eq!(client.as_deref(), Some("198.51.100.1"));
//! ```

use std::net::{IpAddr, Ipv4Addr};

use super::Invalid;

/// At most this many entries of a forwarding header are read (from the
/// right): more would only be a client padding it.
const MAX_HOPS: usize = 64;

/// Which header carries the proxies' chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ProxyHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }

    /// Reads `x-forwarded-for` or `forwarded`.
    pub fn parse(field: &str, text: &str) -> Result<Self, Invalid> {
        match text.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(Invalid::new(
                field,
                "must be 'x-forwarded-for' or 'forwarded'",
            )),
        }
    }
}

/// A network: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let keep = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & keep == u32::from(a) & keep
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let keep = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & keep == u128::from(a) & keep
            }
            _ => false,
        }
    }

    /// Reads `a.b.c.d`, `a.b.c.d/n`, an IPv6 address with or without `/n`,
    /// or an IPv4 netmask form `a.b.c.d/255.255.0.0`.
    fn parse(field: &str, text: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new(field, format!("{text:?} is not an IP address or network"));
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => match (b.parse::<u8>(), b.parse::<Ipv4Addr>()) {
                (Ok(n), _) if n <= max => n,
                (_, Ok(mask)) if addr.is_ipv4() => {
                    let m = u32::from(mask);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return Err(bad());
                    }
                    m.leading_ones() as u8
                }
                _ => return Err(bad()),
            },
        };
        Ok(Self { addr, bits })
    }
}

/// Which addresses are proxies the app trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// None: the socket's peer is the client, and forwarding headers are
    /// ignored.
    #[default]
    Nothing,
    /// The first `n` addresses from the socket (a fixed chain of `n`
    /// proxies in front of the app).
    Hops(u32),
    /// These addresses and networks.
    Nets(Vec<Net>),
}

fn preset(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "loopback" => &["127.0.0.1/8", "::1/128"],
        "linklocal" => &["169.254.0.0/16", "fe80::/10"],
        "uniquelocal" => &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
        _ => return None,
    })
}

impl Trust {
    /// Trusted proxies from a list of addresses, networks (`10.0.0.0/8`,
    /// `fc00::/7`) and presets (`loopback`, `linklocal`, `uniquelocal`);
    /// an item may itself be a comma-separated list, as Express takes them.
    pub fn parse_list(items: &[String]) -> Result<Self, Invalid> {
        let mut nets = Vec::new();
        for item in items {
            for part in item.split(',').map(str::trim) {
                if part.is_empty() {
                    continue;
                }
                match preset(part) {
                    Some(list) => {
                        for n in list {
                            nets.push(Net::parse("trustProxy", n)?);
                        }
                    }
                    None => nets.push(Net::parse("trustProxy", part)?),
                }
                if nets.len() > 1024 {
                    return Err(Invalid::new("trustProxy", "lists at most 1024 networks"));
                }
            }
        }
        if nets.is_empty() {
            return Err(Invalid::new(
                "trustProxy",
                "lists no proxy: give addresses, networks or presets, or false",
            ));
        }
        Ok(Self::Nets(nets))
    }

    fn trusts(&self, addr: Option<IpAddr>, i: usize) -> bool {
        match self {
            Self::Nothing => false,
            Self::Hops(n) => i < *n as usize,
            Self::Nets(nets) => addr.is_some_and(|a| nets.iter().any(|n| n.contains(a))),
        }
    }

    /// The client's address: `socket` is the peer's address, `value` the
    /// forwarding header's (`header`). `None` when the address found is not
    /// an IP address (a proxy may write `unknown`; a client anything).
    pub fn client(
        &self,
        header: ProxyHeader,
        socket: Option<&str>,
        value: Option<&str>,
    ) -> Option<String> {
        let mut chain: Vec<&str> = vec![socket.unwrap_or("")];
        if *self != Self::Nothing {
            if let Some(v) = value {
                let entries: Vec<&str> = match header {
                    ProxyHeader::XForwardedFor => v.split(',').map(str::trim).collect(),
                    ProxyHeader::Forwarded => forwarded_for(v),
                };
                chain.extend(entries.into_iter().rev().take(MAX_HOPS));
            }
        }
        let mut found = chain[0];
        for (i, entry) in chain.iter().enumerate() {
            found = entry;
            let addr = parse_ip(entry);
            if i + 1 == chain.len() || !self.trusts(addr, i) {
                break;
            }
        }
        parse_ip(found).map(|a| canonical(a).to_string())
    }
}

/// The `for=` values of a `Forwarded` header, in order, as addresses: the
/// quotes, brackets and ports taken off (`"[2001:db8::1]:4711"` is
/// `2001:db8::1`); an element without `for` counts as an unknown hop.
fn forwarded_for(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map_or("", |(_, v)| node(v.trim()))
        })
        .collect()
}

/// A `for=` node without its quotes, brackets and port.
fn node(v: &str) -> &str {
    let v = v.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match v.rsplit_once(':') {
        // An IPv4 address with a port; an unbracketed IPv6 has more colons.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => v,
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.len() > 64 {
        return None;
    }
    // Node writes IPv6 zones (fe80::1%eth0); they do not make another host.
    let text = text.split('%').next().unwrap_or(text);
    text.trim().parse().ok()
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn list(items: &[&str]) -> Trust {
        Trust::parse_list(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn xff(trust: &Trust, socket: &str, header: Option<&str>) -> Option<String> {
        trust.client(ProxyHeader::XForwardedFor, Some(socket), header)
    }

    // The cases of proxy-addr's documentation and test suite, which
    // Express's `trust proxy` uses.
    #[test]
    fn without_trust_the_socket_is_the_client() {
        let t = Trust::Nothing;
        assert_eq!(xff(&t, "127.0.0.1", None).as_deref(), Some("127.0.0.1"));
        assert_eq!(
            xff(&t, "127.0.0.1", Some("10.0.0.1")).as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn hops_trust_a_fixed_chain() {
        let header = Some("10.0.0.1, 10.0.0.2");
        assert_eq!(
            xff(&Trust::Hops(1), "127.0.0.1", header).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(
            xff(&Trust::Hops(2), "127.0.0.1", header).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            xff(&Trust::Hops(3), "127.0.0.1", header).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            xff(&Trust::Hops(0), "127.0.0.1", header).as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn a_list_trusts_its_addresses_only_and_stops_at_the_first_stranger() {
        let t = list(&["127.0.0.1", "10.0.0.1"]);
        assert_eq!(
            xff(&t, "127.0.0.1", Some("192.168.0.1, 10.0.0.1")).as_deref(),
            Some("192.168.0.1")
        );
        // An untrusted address between trusted ones ends the walk there.
        assert_eq!(
            xff(&t, "127.0.0.1", Some("10.0.0.1, 192.168.0.1, 10.0.0.1")).as_deref(),
            Some("192.168.0.1")
        );
        // A peer that is not trusted is the client, whatever it forwards.
        assert_eq!(
            xff(&t, "10.0.0.200", Some("192.168.0.1")).as_deref(),
            Some("10.0.0.200")
        );
        // All trusted: the furthest address is the client.
        assert_eq!(
            xff(&t, "127.0.0.1", Some("10.0.0.1")).as_deref(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn networks_masks_and_presets() {
        let t = list(&["10.0.0.0/8", "loopback"]);
        assert_eq!(
            xff(&t, "127.0.0.1", Some("192.168.0.1, 10.1.2.3")).as_deref(),
            Some("192.168.0.1")
        );
        let t = list(&["10.0.0.0/255.0.0.0, ::1"]);
        assert_eq!(
            xff(&t, "::1", Some("192.168.0.1, 10.1.2.3")).as_deref(),
            Some("192.168.0.1")
        );
        let t = list(&["uniquelocal"]);
        assert_eq!(
            xff(&t, "172.16.3.4", Some("8.8.8.8, fc00::1")).as_deref(),
            Some("8.8.8.8")
        );
        let t = list(&["fe80::/10"]);
        assert_eq!(
            xff(&t, "fe80::1%eth0", Some("2001:db8::5")).as_deref(),
            Some("2001:db8::5")
        );
        // An IPv4-mapped IPv6 peer is its IPv4 address.
        let t = list(&["127.0.0.1"]);
        assert_eq!(
            xff(&t, "::ffff:127.0.0.1", Some("198.51.100.9")).as_deref(),
            Some("198.51.100.9")
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/255.0.255.0",
            "not-a-net",
            "::1/129",
            "private",
        ] {
            assert!(Trust::parse_list(&[bad.into()]).is_err(), "{bad}");
        }
    }

    /// Issue 26, finding 1: a thief who writes the victim's address first
    /// does not become the victim.
    #[test]
    fn a_client_cannot_choose_its_address() {
        let t = Trust::Hops(1);
        let header = Some("203.0.113.5, 198.51.100.1");
        assert_eq!(xff(&t, "10.0.0.2", header).as_deref(), Some("198.51.100.1"));
        assert_eq!(
            xff(&t, "10.0.0.2", Some("garbage, 198.51.100.1")).as_deref(),
            Some("198.51.100.1")
        );
        // What is not an address is nobody's.
        assert_eq!(xff(&t, "10.0.0.2", Some("198.51.100.1, unknown")), None);
        let padded = format!("{}198.51.100.1", "1.2.3.4, ".repeat(10_000));
        assert_eq!(
            xff(&Trust::Hops(1), "10.0.0.2", Some(&padded)).as_deref(),
            Some("198.51.100.1")
        );
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it() {
        let t = Trust::Hops(1);
        let f = |v: &str| t.client(ProxyHeader::Forwarded, Some("10.0.0.2"), Some(v));
        assert_eq!(
            f("for=192.0.2.60;proto=http;by=203.0.113.43").as_deref(),
            Some("192.0.2.60")
        );
        assert_eq!(
            f("for=192.0.2.43, for=198.51.100.17").as_deref(),
            Some("198.51.100.17")
        );
        assert_eq!(
            f(r#"for="[2001:db8:cafe::17]:4711""#).as_deref(),
            Some("2001:db8:cafe::17")
        );
        assert_eq!(
            f(r#"For="192.0.2.43:47011""#).as_deref(),
            Some("192.0.2.43")
        );
        assert_eq!(f("for=unknown"), None);
        assert_eq!(
            f("for=_hidden, for=198.51.100.17").as_deref(),
            Some("198.51.100.17")
        );
        assert_eq!(f("proto=https").as_deref(), None);
        assert_eq!(
            Trust::Hops(2)
                .client(
                    ProxyHeader::Forwarded,
                    Some("10.0.0.2"),
                    Some("for=192.0.2.43, for=198.51.100.17")
                )
                .as_deref(),
            Some("192.0.2.43")
        );
    }
}
