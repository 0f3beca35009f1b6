//! IP addresses: parsing, masking and prefixes.
//!
//! ```
//! use usertrail::kernel::net::{mask, IpMask};
//!
//! assert_eq!(mask("203.0.113.77", IpMask::default()).unwrap(), "203.0.0.0");
//! assert_eq!(mask("2001:db8:1:2:3:4:5:6", IpMask::default()).unwrap(), "2001:db8:1::");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Invalid;

/// How many trailing bits of an address to zero before storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IpMask {
    /// Bits zeroed in an IPv4 address, 0 to 32. Default 16 (the last 2 bytes).
    pub v4_bits: u8,
    /// Bits zeroed in an IPv6 address, 0 to 128. Default 80.
    pub v6_bits: u8,
}

impl Default for IpMask {
    fn default() -> Self {
        Self {
            v4_bits: 16,
            v6_bits: 80,
        }
    }
}

/// Longest textual address accepted (a full IPv6 address with an IPv4 tail
/// is 45 characters).
const MAX_LEN: usize = 64;

/// Parses an IPv4 or IPv6 address; anything else is `INVALID_INPUT` for `field`.
pub fn parse(field: &str, text: &str) -> Result<IpAddr, Invalid> {
    if text.len() > MAX_LEN {
        return Err(Invalid::new(field, "is too long to be an IP address"));
    }
    text.trim()
        .parse()
        .map_err(|_| Invalid::new(field, "is not an IPv4 or IPv6 address"))
}

/// Zeroes the last `bits` bits of `addr`.
pub fn zero_low_bits(addr: IpAddr, v4_bits: u8, v6_bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(v4_bits.min(32));
            let keep = u32::MAX.checked_shl(bits).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & keep))
        }
        IpAddr::V6(a) => {
            let bits = u32::from(v6_bits.min(128));
            let keep = u128::MAX.checked_shl(bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & keep))
        }
    }
}

/// Parses `text` and returns it masked, as text. An IPv4-mapped IPv6
/// address is treated as the IPv4 address it carries.
pub fn mask(text: &str, mask: IpMask) -> Result<String, Invalid> {
    let addr = canonical(parse("ip", text)?);
    Ok(zero_low_bits(addr, mask.v4_bits, mask.v6_bits).to_string())
}

/// The network an address belongs to, for binding sessions: IPv4 /24,
/// IPv6 /48.
pub fn network(addr: IpAddr) -> IpAddr {
    zero_low_bits(canonical(addr), 8, 80)
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

    #[test]
    fn masks_by_default_the_last_two_bytes_or_eighty_bits() {
        let m = IpMask::default();
        assert_eq!(mask("192.168.37.201", m).unwrap(), "192.168.0.0");
        assert_eq!(mask("2001:db8:aaaa:bbbb::1", m).unwrap(), "2001:db8:aaaa::");
        assert_eq!(mask("::ffff:10.1.2.3", m).unwrap(), "10.1.0.0");
    }

    #[test]
    fn mask_width_is_configurable_from_nothing_to_everything() {
        let none = IpMask {
            v4_bits: 0,
            v6_bits: 0,
        };
        assert_eq!(mask("10.1.2.3", none).unwrap(), "10.1.2.3");
        let all = IpMask {
            v4_bits: 32,
            v6_bits: 128,
        };
        assert_eq!(mask("10.1.2.3", all).unwrap(), "0.0.0.0");
        assert_eq!(mask("2001:db8::1", all).unwrap(), "::");
        let over = IpMask {
            v4_bits: 200,
            v6_bits: 255,
        };
        assert_eq!(mask("10.1.2.3", over).unwrap(), "0.0.0.0");
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let n = |s: &str| network(s.parse().unwrap()).to_string();
        assert_eq!(n("198.51.100.7"), "198.51.100.0");
        assert_eq!(n("2001:db8:1:2::9"), "2001:db8:1::");
    }

    #[test]
    fn garbage_is_invalid_input() {
        for bad in [
            "",
            "not an ip",
            "1.2.3",
            "1.2.3.4.5",
            "' OR 1=1 --",
            &"9".repeat(5000),
        ] {
            // An `Invalid` is `INVALID_INPUT` once it reaches the error layer.
            assert_eq!(
                mask(bad, IpMask::default()).unwrap_err().field,
                "ip",
                "{bad}"
            );
        }
    }
}
