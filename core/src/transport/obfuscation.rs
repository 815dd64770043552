//! Transport obfuscation (T-12..T-17): a 64-byte random header from which
//! both ends derive one AES-256-CTR stream per direction, so that nothing in
//! the byte stream looks like MTProto to a middlebox.

use std::fmt;

use cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::TransportError;
use super::framing::Framing;

/// AES-256-CTR with a 128-bit big-endian counter, as OpenSSL counts (T-16).
pub type AesCtr = ctr::Ctr128BE<aes::Aes256>;

/// Length of the obfuscation init header.
pub const HEADER_LEN: usize = 64;
/// Where the protocol tag sits in the header (T-14).
const TAG_AT: std::ops::Range<usize> = 56..60;
/// Where an MTProxy client puts the DC id (T-14).
const DC_AT: std::ops::Range<usize> = 60..62;

/// First words of HTTP requests, as LE u32 of the first 4 bytes (T-2, T-13).
pub(crate) const HTTP_FIRST_WORDS: [u32; 4] = [
    0x4441_4548, // "HEAD"
    0x5453_4F50, // "POST"
    0x2054_4547, // "GET "
    0x4954_504F, // "OPTI"
];
/// A TLS handshake record `16 03 01 02`, what fake-TLS MTProxy clients send
/// (T-13, Q-7).
pub(crate) const TLS_FIRST_WORD: u32 = 0x0201_0316;

/// Whether a header starting with these bytes must be regenerated because
/// a server would take it for a plain transport or another protocol (T-13).
/// Only `init[0..8]` matters; shorter input is never forbidden.
pub fn is_forbidden_header(init: &[u8]) -> bool {
    let Some(start) = init.get(..8) else {
        return false;
    };
    let first = u32::from_le_bytes([start[0], start[1], start[2], start[3]]);
    start[0] == 0xEF
        || HTTP_FIRST_WORDS.contains(&first)
        || first == TLS_FIRST_WORD
        || first == 0xEEEE_EEEE // intermediate init bytes
        || first == 0xDDDD_DDDD // padded intermediate init bytes
        || start[4..8] == [0; 4]
}

/// Draws a header that obeys T-13, then writes the protocol tag and, for
/// MTProxy, the DC id (T-14).
pub fn generate_header<R: RngCore + ?Sized>(
    rng: &mut R,
    tag: [u8; 4],
    dc_id: Option<i16>,
) -> [u8; HEADER_LEN] {
    let mut init = [0u8; HEADER_LEN];
    loop {
        rng.fill_bytes(&mut init);
        if !is_forbidden_header(&init) {
            break;
        }
    }
    init[TAG_AT].copy_from_slice(&tag);
    if let Some(dc) = dc_id {
        init[DC_AT].copy_from_slice(&dc.to_le_bytes());
    }
    init
}

/// The DC id an MTProxy expects in the header: `+10000` for test DCs and
/// negated for media DCs (T-14). `None` if it does not fit an int16.
pub fn mtproxy_dc_id(dc: i16, test: bool, media: bool) -> Option<i16> {
    let id = if test { dc.checked_add(10_000)? } else { dc };
    if media {
        id.checked_neg()
    } else {
        Some(id)
    }
}

/// An MTProxy secret: the 16 bytes mixed into both keys, and whether the
/// proxy asked for padded intermediate framing (T-15).
#[derive(Clone, PartialEq, Eq)]
pub struct MtProxySecret {
    key: [u8; 16],
    padded: bool,
}

impl MtProxySecret {
    /// Accepts 16 raw bytes, or 17 starting with `0xDD` (padded
    /// intermediate requested). Fake-TLS secrets (`0xEE` + key + domain)
    /// need a TLS handshake emulation this crate does not implement.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, TransportError> {
        match secret {
            [0xEE, ..] if secret.len() > 16 => {
                Err(TransportError::Unsupported("fake-TLS (ee) MTProxy secrets"))
            }
            [0xDD, rest @ ..] if rest.len() == 16 => Ok(MtProxySecret {
                key: rest.try_into().expect("16 bytes"),
                padded: true,
            }),
            _ if secret.len() == 16 => Ok(MtProxySecret {
                key: secret.try_into().expect("16 bytes"),
                padded: false,
            }),
            [_, rest @ ..] if rest.len() == 16 => Err(TransportError::InvalidSecret(
                "a 17-byte secret must start with 0xDD",
            )),
            _ => Err(TransportError::InvalidSecret(
                "expected 16 bytes, or 17 starting with 0xDD",
            )),
        }
    }

    /// Parses the hex form found in proxy links.
    pub fn from_hex(secret: &str) -> Result<Self, TransportError> {
        let digits = secret.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(TransportError::InvalidSecret("odd number of hex digits"));
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let bytes: Option<Vec<u8>> = digits
            .chunks_exact(2)
            .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
            .collect();
        Self::from_bytes(&bytes.ok_or(TransportError::InvalidSecret("not hex"))?)
    }

    /// The 16 bytes hashed into the keys.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The secret carried the `0xDD` prefix: clients should use padded
    /// intermediate framing (T-15).
    pub fn wants_padding(&self) -> bool {
        self.padded
    }
}

impl fmt::Debug for MtProxySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtProxySecret")
            .field("key", &"<redacted>")
            .field("padded", &self.padded)
            .finish()
    }
}

/// Connecting through an MTProxy: its secret and the DC to reach behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtProxy {
    pub secret: MtProxySecret,
    /// Already in header form; see [`mtproxy_dc_id`].
    pub dc_id: i16,
}

/// Client-side obfuscation settings. The default is plain obfuscation with
/// no proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObfuscationParams {
    pub mtproxy: Option<MtProxy>,
}

impl ObfuscationParams {
    pub fn direct() -> Self {
        Self::default()
    }

    pub fn mtproxy(secret: MtProxySecret, dc_id: i16) -> Self {
        ObfuscationParams {
            mtproxy: Some(MtProxy { secret, dc_id }),
        }
    }
}

/// Key and IV of one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKeys {
    pub key: [u8; 32],
    pub iv: [u8; 16],
}

impl StreamKeys {
    pub fn cipher(&self) -> AesCtr {
        AesCtr::new(&self.key.into(), &self.iv.into())
    }
}

impl fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKeys(<redacted>)")
    }
}

/// The keys of both directions, named by direction so that each side picks
/// the right one without thinking about "encrypt" and "decrypt".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObfuscationKeys {
    /// Client encrypts, server decrypts: `init[8..40]`, `init[40..56]`.
    pub to_server: StreamKeys,
    /// Server encrypts, client decrypts: the same ranges of the reversed header.
    pub to_client: StreamKeys,
}

/// Derives both directions' keys from the plaintext header (T-15), hashing
/// each key with the MTProxy secret when there is one.
pub fn derive_keys(init: &[u8; HEADER_LEN], secret: Option<&MtProxySecret>) -> ObfuscationKeys {
    let mut reversed = *init;
    reversed.reverse();
    let half = |h: &[u8; HEADER_LEN]| {
        let mut key: [u8; 32] = h[8..40].try_into().expect("32 bytes");
        if let Some(s) = secret {
            key = Sha256::new()
                .chain_update(key)
                .chain_update(s.key)
                .finalize()
                .into();
        }
        StreamKeys {
            key,
            iv: h[40..56].try_into().expect("16 bytes"),
        }
    };
    ObfuscationKeys {
        to_server: half(init),
        to_client: half(&reversed),
    }
}

/// Encrypts the header with the client's fresh encryptor and returns what is
/// sent: the first 56 bytes in the clear, the last 8 encrypted (T-16). The
/// encryptor is left at keystream offset 64, where the first packet starts.
pub(crate) fn seal_header(init: &[u8; HEADER_LEN], encryptor: &mut AesCtr) -> [u8; HEADER_LEN] {
    let mut encrypted = *init;
    encryptor.apply_keystream(&mut encrypted);
    let mut sent = *init;
    sent[56..].copy_from_slice(&encrypted[56..]);
    sent
}

/// What a server learns from a valid obfuscation header (T-17).
pub(crate) struct OpenedHeader {
    pub framing: Framing,
    /// Meaningful only behind an MTProxy secret; random otherwise.
    pub dc_id: i16,
    /// Continues at offset 64 over the client's bytes.
    pub decryptor: AesCtr,
    /// Starts at offset 0 for the server's bytes.
    pub encryptor: AesCtr,
}

/// Server side of T-17: derive keys from the received header, decrypt it,
/// and require a protocol tag at 56..60.
pub(crate) fn open_header(
    received: &[u8; HEADER_LEN],
    secret: Option<&MtProxySecret>,
) -> Result<OpenedHeader, TransportError> {
    let keys = derive_keys(received, secret);
    let mut decryptor = keys.to_server.cipher();
    let mut plain = *received;
    decryptor.apply_keystream(&mut plain);
    let tag: [u8; 4] = plain[TAG_AT].try_into().expect("4 bytes");
    let framing = Framing::from_obfuscation_tag(tag).ok_or(TransportError::UnknownProtocol)?;
    Ok(OpenedHeader {
        framing,
        dc_id: i16::from_le_bytes([plain[DC_AT.start], plain[DC_AT.start + 1]]),
        decryptor,
        encryptor: keys.to_client.cipher(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const TV77_INIT: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F3031323334353637EFEFEFEF3C3D3E3F";
    const TV78_INIT: &str = "101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F4041424344454647DDDDDDDDFCFFABCD";

    /// T-13, Q-7: every forbidden pattern is caught by the predicate, and
    /// near misses are not.
    #[test]
    fn t13_each_forbidden_pattern_rejected() {
        let ok = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        assert!(!is_forbidden_header(&ok));
        let with = |first: &[u8]| {
            let mut v = ok;
            v[..first.len()].copy_from_slice(first);
            v
        };
        for bad in [
            &with(&[0xEF]),
            &with(b"HEAD"),
            &with(b"POST"),
            &with(b"GET "),
            &with(b"OPTI"),
            &with(&[0x16, 0x03, 0x01, 0x02]),
            &with(&[0xDD; 4]),
            &with(&[0xEE; 4]),
            &[1, 2, 3, 4, 0, 0, 0, 0],
        ] {
            assert!(is_forbidden_header(bad), "{bad:02X?}");
        }
        for fine in [
            with(&[0xEE, 0xEE, 0xEE, 0xEF]),
            with(b"PUT "),
            with(&[0x16, 0x03, 0x01, 0x03]),
            [1, 2, 3, 4, 0, 0, 0, 1],
        ] {
            assert!(!is_forbidden_header(&fine), "{fine:02X?}");
        }
    }

    /// T-13, T-14: 10,000 seeded headers never start with a forbidden
    /// pattern, and always carry the tag and DC id in place.
    #[test]
    fn t13_generated_headers_never_forbidden() {
        let mut rng = StdRng::seed_from_u64(13);
        for i in 0..10_000 {
            let dc = if i % 2 == 0 { Some(-4) } else { None };
            let init = generate_header(&mut rng, [0xDD; 4], dc);
            assert!(!is_forbidden_header(&init));
            assert_eq!(&init[56..60], &[0xDD; 4]);
            if dc.is_some() {
                assert_eq!(&init[60..62], &[0xFC, 0xFF]);
            }
        }
    }

    /// T-13: a generator that first yields forbidden headers is retried.
    #[test]
    fn t13_regenerates_until_allowed() {
        let mut script = Vec::new();
        for bad in [&b"POST"[..], &[0xEF], &[0xEE; 4], &[1, 1, 1, 1, 0, 0, 0, 0]] {
            let mut block = [0x42u8; 64];
            block[..bad.len()].copy_from_slice(bad);
            script.extend(block);
        }
        script.extend([0x42u8; 64]);
        let mut rng = crate::transport::test_util::ScriptRng::new(script);
        let init = generate_header(&mut rng, [0xEF; 4], None);
        assert_eq!(&init[..56], &[0x42; 56]);
        assert_eq!(rng.used(), 5 * 64);
    }

    /// T-14: DC id forms for test and media DCs.
    #[test]
    fn t14_mtproxy_dc_ids() {
        assert_eq!(mtproxy_dc_id(4, false, true), Some(-4));
        assert_eq!((-4i16).to_le_bytes(), [0xFC, 0xFF]);
        assert_eq!(mtproxy_dc_id(2, true, false), Some(10_002));
        assert_eq!(mtproxy_dc_id(2, true, true), Some(-10_002));
        assert_eq!(mtproxy_dc_id(1, false, false), Some(1));
        assert_eq!(mtproxy_dc_id(i16::MAX, true, false), None);
    }

    /// T-15, TV §7.7: keys and IVs from the header and its reverse.
    #[test]
    fn t15_tv77_keys() {
        let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
        let keys = derive_keys(&init, None);
        assert_eq!(
            keys.to_server.key.to_vec(),
            h("08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F2021222324252627")
        );
        assert_eq!(
            keys.to_server.iv.to_vec(),
            h("28292A2B2C2D2E2F3031323334353637")
        );
        assert_eq!(
            keys.to_client.key.to_vec(),
            h("37363534333231302F2E2D2C2B2A292827262524232221201F1E1D1C1B1A1918")
        );
        assert_eq!(
            keys.to_client.iv.to_vec(),
            h("17161514131211100F0E0D0C0B0A0908")
        );
    }

    /// T-16, TV §7.7: the whole header encrypted, and the sent form.
    #[test]
    fn t16_tv77_header_encryption() {
        let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
        let mut all = init;
        derive_keys(&init, None)
            .to_server
            .cipher()
            .apply_keystream(&mut all);
        assert_eq!(
            all.to_vec(),
            h("061EA5A02F48E35029DA73F780A033F9528CA6113B7F1043C185E07DEF9D0D5563784879AB3903ED2CCC7D6ED8FDCB44F55AD2454DD421324719245F223DFD5D")
        );
        let mut enc = derive_keys(&init, None).to_server.cipher();
        let sent = seal_header(&init, &mut enc);
        assert_eq!(&sent[..56], &init[..56]);
        assert_eq!(&sent[56..], &h("4719245F223DFD5D")[..]);
    }

    /// T-15, TV §7.8: secret parsing, hashed keys and the sent header.
    #[test]
    fn t15_tv78_mtproxy_keys_and_header() {
        let secret = MtProxySecret::from_hex("DD99999999999999999999999999999999").unwrap();
        assert!(secret.wants_padding());
        assert_eq!(secret.key(), &[0x99; 16]);
        let init: [u8; 64] = h(TV78_INIT).try_into().unwrap();
        let keys = derive_keys(&init, Some(&secret));
        assert_eq!(
            keys.to_server.key.to_vec(),
            h("D120CC58B3ACBAF6E587BA16FC76C2D83E381CE7CD78EA36DC09E504A048BC7A")
        );
        assert_eq!(
            keys.to_server.iv.to_vec(),
            h("38393A3B3C3D3E3F4041424344454647")
        );
        assert_eq!(
            keys.to_client.key.to_vec(),
            h("484CD4A746AB3658EFBF9531FD7CE71C8442006728206FAA1E05A325B324251F")
        );
        assert_eq!(
            keys.to_client.iv.to_vec(),
            h("27262524232221201F1E1D1C1B1A1918")
        );
        let sent = seal_header(&init, &mut keys.to_server.cipher());
        assert_eq!(
            sent.to_vec(),
            h("101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F4041424344454647A64DFB190008C297")
        );
        // T-17: the server side finds the tag and the DC id.
        let opened = open_header(&sent, Some(&secret)).unwrap();
        assert_eq!(opened.framing, Framing::PaddedIntermediate);
        assert_eq!(opened.dc_id, -4);
        // Without the secret the tag does not decrypt.
        assert_eq!(
            open_header(&sent, None).err(),
            Some(TransportError::UnknownProtocol)
        );
    }

    /// T-15: the accepted and refused secret shapes.
    #[test]
    fn t15_secret_forms() {
        let plain = MtProxySecret::from_bytes(&[7; 16]).unwrap();
        assert!(!plain.wants_padding());
        assert_eq!(plain.key(), &[7; 16]);
        let mut fake_tls = vec![0xEE];
        fake_tls.extend([7; 16]);
        fake_tls.extend(b"example.com");
        assert!(matches!(
            MtProxySecret::from_bytes(&fake_tls),
            Err(TransportError::Unsupported(_))
        ));
        assert!(matches!(
            MtProxySecret::from_hex(&hex::encode(&fake_tls)),
            Err(TransportError::Unsupported(_))
        ));
        for bad in [&[7u8; 15][..], &[7; 17], &[0xDD; 18], &[]] {
            assert!(matches!(
                MtProxySecret::from_bytes(bad),
                Err(TransportError::InvalidSecret(_))
            ));
        }
        assert!(MtProxySecret::from_hex("zz").is_err());
        assert!(MtProxySecret::from_hex("123").is_err());
        assert!(!format!("{plain:?}").contains('7'));
    }
}
