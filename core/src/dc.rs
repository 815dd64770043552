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

/// One `dcOption` of `help.getConfig`: where a DC listens, as the server
/// says now (replacing the bootstrap addresses once known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerDcOption {
    pub dc_id: i32,
    pub ip: IpAddr,
    pub port: u16,
    pub media_only: bool,
    /// Reachable only through an obfuscated transport (`tcpo_only`).
    pub tcpo_only: bool,
    /// A CDN DC (its keys come from `help.getCdnConfig`).
    pub cdn: bool,
    /// Worth keeping even when the next config omits it (`static`).
    pub is_static: bool,
    /// Connect only on this port (`this_port_only`).
    pub this_port_only: bool,
    /// An MTProxy secret to use with this address.
    pub secret: Option<Vec<u8>>,
}

/// What a `help.getConfig` answer says about data centers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcConfig {
    /// The DC that answered.
    pub this_dc: i32,
    /// Unix time after which the config should be fetched again.
    pub expires: i64,
    pub test_mode: bool,
    pub options: Vec<ServerDcOption>,
}

/// Why a `help.getConfig` answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DcConfigError {
    #[error("not a Config: {0}")]
    Codec(#[from] crate::tl::schema::CodecError),
    #[error("config field `{0}` is missing or malformed")]
    Field(&'static str),
}

impl DcConfig {
    /// Reads the result of `help.getConfig` (TL bytes) with the bundled
    /// schema, so a new layer that keeps these fields needs no change here.
    pub fn from_bytes(bytes: &[u8]) -> Result<DcConfig, DcConfigError> {
        let schema = crate::tl::schema::Schema::telegram();
        let v = schema.decode_function_result("help.getConfig", bytes)?;
        let int = |v: &serde_json::Value, k: &'static str| {
            v.get(k)
                .and_then(serde_json::Value::as_i64)
                .ok_or(DcConfigError::Field(k))
        };
        let flag = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(serde_json::Value::as_bool) == Some(true)
        };
        let list = v
            .get("dc_options")
            .and_then(serde_json::Value::as_array)
            .ok_or(DcConfigError::Field("dc_options"))?;
        let mut options = Vec::with_capacity(list.len());
        for o in list {
            let ip = o
                .get("ip_address")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
                .ok_or(DcConfigError::Field("ip_address"))?;
            let port = u16::try_from(int(o, "port")?).map_err(|_| DcConfigError::Field("port"))?;
            let dc_id = i32::try_from(int(o, "id")?).map_err(|_| DcConfigError::Field("id"))?;
            let secret = match o.get("secret").and_then(serde_json::Value::as_str) {
                Some(b64) => Some(
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                        .map_err(|_| DcConfigError::Field("secret"))?,
                ),
                None => None,
            };
            options.push(ServerDcOption {
                dc_id,
                ip,
                port,
                media_only: flag(o, "media_only"),
                tcpo_only: flag(o, "tcpo_only"),
                cdn: flag(o, "cdn"),
                is_static: flag(o, "static"),
                this_port_only: flag(o, "this_port_only"),
                secret,
            });
        }
        Ok(DcConfig {
            this_dc: i32::try_from(int(&v, "this_dc")?)
                .map_err(|_| DcConfigError::Field("this_dc"))?,
            expires: int(&v, "expires")?,
            test_mode: v
                .get("test_mode")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            options,
        })
    }

    /// The options a plain connection can use, as the store keeps them
    /// (CDN and obfuscated-only addresses left out until the layers that
    /// use them exist).
    pub fn storable(&self) -> Vec<crate::storage::DcOption> {
        self.options
            .iter()
            .filter(|o| !o.cdn && !o.tcpo_only)
            .map(|o| crate::storage::DcOption {
                dc_id: o.dc_id,
                address: o.ip.to_string(),
                port: o.port,
                media: o.media_only,
                test: self.test_mode,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `help.getConfig`'s answer, encoded with the bundled schema, read
    /// back: this DC, expiry and both options (one with an MTProxy secret).
    #[test]
    fn config_answer_is_read() {
        let schema = crate::tl::schema::Schema::telegram();
        let bytes = schema
            .encode(&crate::tl::schema::telegram::tests::sample_config())
            .unwrap();
        let c = DcConfig::from_bytes(&bytes).unwrap();
        assert_eq!(
            (c.this_dc, c.expires, c.test_mode),
            (2, 1_700_003_600, false)
        );
        assert_eq!(c.options.len(), 2);
        assert_eq!(c.options[0].ip, "149.154.167.50".parse::<IpAddr>().unwrap());
        assert_eq!(c.options[0].port, 443);
        assert!(c.options[1].ip.is_ipv6());
        assert_eq!(
            c.options[1].secret.as_deref(),
            Some(&(0u8..16).collect::<Vec<_>>()[..])
        );
        let stored = c.storable();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].address, "149.154.167.50");
        assert!(matches!(
            DcConfig::from_bytes(&[1, 2, 3, 4]),
            Err(DcConfigError::Codec(_))
        ));
    }

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
