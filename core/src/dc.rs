//! Telegram's published bootstrap addresses of its data centers.
//!
//! A client needs somewhere to connect before `help.getConfig` can tell it
//! the current `dc_options`: these are the addresses Telegram publishes for
//! that first contact (production DCs 1–5 and test DCs 1–3, IPv4 and IPv6,
//! and the media-only addresses of DCs 2 and 4). They are published facts,
//! kept as data; the public keys that go with them are
//! [`crate::crypto::TELEGRAM_PUBLIC_KEYS_PEM`]. Later addresses come from the
//! server (the multi-DC layer stores them); any address can still be given
//! directly (localdc, a private deployment).
//!
//! Pure data: nothing here resolves or connects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The port every bootstrap address listens on.
pub const PORT: u16 = 443;

/// Ports official clients fall back to when 443 is blocked.
pub const ALTERNATE_PORTS: &[u16] = &[80, 5222];

/// One bootstrap address of one data center.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcAddress {
    /// 1..=5 (production) or 1..=3 (test).
    pub dc_id: i32,
    pub ip: IpAddr,
    /// Serves file transfers only (`media_only` in `dcOption`).
    pub media_only: bool,
    /// One of the test DCs (separate accounts, `10000 + dc_id` in the key
    /// exchange, see [`crate::auth::encode_dc_id`]).
    pub test: bool,
}

impl DcAddress {
    /// The address with [`PORT`].
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, PORT)
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

const fn at(dc_id: i32, ip: IpAddr, media_only: bool, test: bool) -> DcAddress {
    DcAddress {
        dc_id,
        ip,
        media_only,
        test,
    }
}

/// Every bootstrap address, production first.
pub const BOOTSTRAP: &[DcAddress] = &[
    // Production.
    at(1, v4(149, 154, 175, 53), false, false),
    at(2, v4(149, 154, 167, 51), false, false),
    at(3, v4(149, 154, 175, 100), false, false),
    at(4, v4(149, 154, 167, 91), false, false),
    at(5, v4(91, 108, 56, 130), false, false),
    at(
        1,
        v6(0x2001, 0xb28, 0xf23d, 0xf001, 0, 0, 0, 0xa),
        false,
        false,
    ),
    at(
        2,
        v6(0x2001, 0x67c, 0x4e8, 0xf002, 0, 0, 0, 0xa),
        false,
        false,
    ),
    at(
        3,
        v6(0x2001, 0xb28, 0xf23d, 0xf003, 0, 0, 0, 0xa),
        false,
        false,
    ),
    at(
        4,
        v6(0x2001, 0x67c, 0x4e8, 0xf004, 0, 0, 0, 0xa),
        false,
        false,
    ),
    at(
        5,
        v6(0x2001, 0xb28, 0xf23f, 0xf005, 0, 0, 0, 0xa),
        false,
        false,
    ),
    // Production, media only.
    at(2, v4(149, 154, 167, 151), true, false),
    at(4, v4(149, 154, 164, 250), true, false),
    at(
        2,
        v6(0x2001, 0x67c, 0x4e8, 0xf002, 0, 0, 0, 0xb),
        true,
        false,
    ),
    at(
        4,
        v6(0x2001, 0x67c, 0x4e8, 0xf004, 0, 0, 0, 0xb),
        true,
        false,
    ),
    // Test.
    at(1, v4(149, 154, 175, 10), false, true),
    at(2, v4(149, 154, 167, 40), false, true),
    at(3, v4(149, 154, 175, 117), false, true),
    at(
        1,
        v6(0x2001, 0xb28, 0xf23d, 0xf001, 0, 0, 0, 0xe),
        false,
        true,
    ),
    at(
        2,
        v6(0x2001, 0x67c, 0x4e8, 0xf002, 0, 0, 0, 0xe),
        false,
        true,
    ),
    at(
        3,
        v6(0x2001, 0xb28, 0xf23d, 0xf003, 0, 0, 0, 0xe),
        false,
        true,
    ),
];

/// The bootstrap address of `dc_id` (production or test), IPv4 or IPv6,
/// general or media-only; `None` for a DC with no such address.
pub fn bootstrap(dc_id: i32, test: bool, ipv6: bool, media_only: bool) -> Option<DcAddress> {
    BOOTSTRAP.iter().copied().find(|a| {
        a.dc_id == dc_id && a.test == test && a.ip.is_ipv6() == ipv6 && a.media_only == media_only
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each production DC 1–5 and test DC 1–3 has an IPv4 and an IPv6
    /// address; DCs 2 and 4 have media-only ones; ids are in range and no
    /// address repeats.
    #[test]
    fn every_dc_has_its_addresses() {
        for dc in 1..=5 {
            for ipv6 in [false, true] {
                let a = bootstrap(dc, false, ipv6, false).expect("production DC");
                assert_eq!(a.socket_addr().port(), 443);
            }
        }
        for dc in 1..=3 {
            assert!(bootstrap(dc, true, false, false).is_some());
            assert!(bootstrap(dc, true, true, false).is_some());
        }
        for dc in [2, 4] {
            assert!(bootstrap(dc, false, false, true).is_some());
            assert!(bootstrap(dc, false, true, true).is_some());
        }
        assert_eq!(bootstrap(6, false, false, false), None);
        let mut seen = std::collections::HashSet::new();
        for a in BOOTSTRAP {
            assert!(seen.insert(a.ip), "{} listed twice", a.ip);
        }
        assert_eq!(
            bootstrap(2, false, false, false).unwrap().socket_addr(),
            "149.154.167.51:443".parse().unwrap()
        );
    }

    /// Every address lies in the networks Telegram announces for its DCs
    /// (149.154.160.0/20, 91.108.56.0/22; 2001:b28:f23d::/48,
    /// 2001:b28:f23f::/48, 2001:67c:4e8::/48): a typo would not.
    #[test]
    fn addresses_are_in_telegrams_networks() {
        for a in BOOTSTRAP {
            let ok = match a.ip {
                IpAddr::V4(ip) => {
                    let [x, y, z, _] = ip.octets();
                    (x, y, z & 0xf0) == (149, 154, 160) || (x, y, z & 0xfc) == (91, 108, 56)
                }
                IpAddr::V6(ip) => {
                    let s = ip.segments();
                    matches!(
                        (s[0], s[1], s[2]),
                        (0x2001, 0xb28, 0xf23d) | (0x2001, 0xb28, 0xf23f) | (0x2001, 0x67c, 0x4e8)
                    )
                }
            };
            assert!(ok, "{a:?} is outside Telegram's networks");
        }
    }
}
