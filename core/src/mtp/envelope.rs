//! The MTProto message envelopes: unencrypted and MTProto 2.0
//! encrypted (E-1..E-9), in both directions.
//!
//! Encryption writes straight into the caller's output buffer and encrypts
//! in place; decryption works in place on the received packet. Neither
//! allocates per block.

use std::ops::Range;

use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use super::MtpError;
use crate::crypto::{aes_key_iv, ige_decrypt, ige_encrypt, msg_key_large, AuthKey, Direction};

/// Size of `auth_key_id + msg_key` before the encrypted data (E-1).
pub const OUTER_HEADER_LEN: usize = 24;
/// Size of `salt + session_id + msg_id + seq_no + length` (E-2).
pub const INNER_HEADER_LEN: usize = 32;
/// Padding bounds (E-6, E-8).
pub const MIN_PADDING: usize = 12;
pub const MAX_PADDING: usize = 1024;

/// The plaintext header of an encrypted message (E-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub salt: i64,
    pub session_id: i64,
    pub msg_id: i64,
    pub seq_no: i32,
}

/// Reads the auth_key_id of a received packet (E-7 step 1), so a server can
/// find the key before decrypting. `None` when the packet is too short.
pub fn auth_key_id_of(packet: &[u8]) -> Option<[u8; 8]> {
    packet.get(..8)?.try_into().ok()
}

/// Appends an unencrypted message: zero auth_key_id, msg_id, length, body.
pub fn pack_plain(msg_id: i64, body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&msg_id.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Parses an unencrypted message, returning `(msg_id, body)`. The
/// declared length must match the packet exactly.
pub fn unpack_plain(packet: &[u8]) -> Result<(i64, &[u8]), MtpError> {
    if packet.len() < 20 {
        return Err(MtpError::Truncated(packet.len()));
    }
    if packet[..8] != [0u8; 8] {
        return Err(MtpError::NotPlain);
    }
    let msg_id = i64::from_le_bytes(packet[8..16].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(packet[16..20].try_into().expect("4 bytes")) as usize;
    if len != packet.len() - 20 {
        return Err(MtpError::BadLength {
            declared: len,
            available: packet.len() - 20,
        });
    }
    Ok((msg_id, &packet[20..]))
}

/// Chooses a padding length in 12..=1024 that makes `32 + body_len +
/// padding` a multiple of 16, randomised in length as E-6 recommends.
fn padding_len(body_len: usize, rng: &mut impl RngCore) -> usize {
    let base = MIN_PADDING + (16 - (INNER_HEADER_LEN + body_len + MIN_PADDING) % 16) % 16;
    // Up to three extra blocks: hides the exact length at a small cost.
    base + 16 * (rng.next_u32() as usize % 4)
}

/// Encrypts one message (E-1..E-6) and appends
/// `auth_key_id + msg_key + AES-IGE(plaintext)` to `out`.
///
/// `dir` is the direction this message travels (a client sends
/// [`Direction::ClientToServer`]). Returns `msg_key_large`, whose first four
/// bytes give the quick-ack token (T-10).
pub fn encrypt(
    key: &AuthKey,
    dir: Direction,
    header: &Header,
    body: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
    out: &mut Vec<u8>,
) -> [u8; 32] {
    let pad = padding_len(body.len(), rng);
    let start = out.len();
    let plain_len = INNER_HEADER_LEN + body.len() + pad;
    out.reserve(OUTER_HEADER_LEN + plain_len);
    out.extend_from_slice(&key.id());
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&header.salt.to_le_bytes());
    out.extend_from_slice(&header.session_id.to_le_bytes());
    out.extend_from_slice(&header.msg_id.to_le_bytes());
    out.extend_from_slice(&header.seq_no.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let pad_start = out.len();
    out.resize(pad_start + pad, 0);
    rng.fill_bytes(&mut out[pad_start..]);

    let plain = start + OUTER_HEADER_LEN;
    let large = msg_key_large(key, &out[plain..], dir);
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&large[8..24]);
    out[start + 8..start + 24].copy_from_slice(&msg_key);
    let (aes_key, aes_iv) = aes_key_iv(key, &msg_key, dir);
    ige_encrypt(&mut out[plain..], &aes_key, &aes_iv).expect("plaintext is block aligned");
    large
}

/// A decrypted message: its header and where its body sits in the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decrypted {
    pub header: Header,
    /// The message body's byte range inside the (now decrypted) packet.
    pub body: Range<usize>,
    /// The token a quick ack of this packet carries (T-10), from the
    /// msg_key hash the check above already computed: a server need not
    /// hash the packet a second time to answer one.
    pub quick_ack_token: u32,
}

/// Decrypts a received packet in place and runs the checks of E-7 that
/// need only the key: auth_key_id (step 1), block alignment (2), msg_key
/// recomputed and compared in constant time (4, G-7), and the length and
/// padding rule (6, E-8). Session, msg_id and seqno checks (steps 5, 7, 8)
/// belong to the session, which knows its state.
///
/// `dir` is the direction the packet travelled (a client receives
/// [`Direction::ServerToClient`]). On any error nothing from the packet may
/// be used (E-9).
pub fn decrypt(key: &AuthKey, dir: Direction, packet: &mut [u8]) -> Result<Decrypted, MtpError> {
    if packet.len() < OUTER_HEADER_LEN {
        return Err(MtpError::Truncated(packet.len()));
    }
    if packet[..8] != key.id() {
        return Err(MtpError::UnknownAuthKey);
    }
    let enc_len = packet.len() - OUTER_HEADER_LEN;
    if enc_len == 0 || enc_len % 16 != 0 {
        return Err(MtpError::NotBlockAligned(enc_len));
    }
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&packet[8..24]);
    let (aes_key, aes_iv) = aes_key_iv(key, &msg_key, dir);
    let plain = &mut packet[OUTER_HEADER_LEN..];
    ige_decrypt(plain, &aes_key, &aes_iv).expect("length checked above");
    let large = msg_key_large(key, plain, dir);
    // E-9: the msg_key verdict comes first and does not depend on the
    // plaintext's other properties.
    if !bool::from(large[8..24].ct_eq(&msg_key)) {
        return Err(MtpError::MsgKeyMismatch);
    }
    if plain.len() < INNER_HEADER_LEN + MIN_PADDING {
        return Err(MtpError::Truncated(plain.len()));
    }
    let rd64 = |o: usize| i64::from_le_bytes(plain[o..o + 8].try_into().expect("8 bytes"));
    let header = Header {
        salt: rd64(0),
        session_id: rd64(8),
        msg_id: rd64(16),
        seq_no: i32::from_le_bytes(plain[24..28].try_into().expect("4 bytes")),
    };
    let len = u32::from_le_bytes(plain[28..32].try_into().expect("4 bytes")) as usize;
    // E-8: length fits, is a multiple of 4, and leaves 12..=1024 of padding.
    let room = plain.len() - INNER_HEADER_LEN;
    if len > room || len % 4 != 0 {
        return Err(MtpError::BadLength {
            declared: len,
            available: room,
        });
    }
    let pad = room - len;
    if !(MIN_PADDING..=MAX_PADDING).contains(&pad) {
        return Err(MtpError::BadPadding(pad));
    }
    let body_start = OUTER_HEADER_LEN + INNER_HEADER_LEN;
    Ok(Decrypted {
        header,
        body: body_start..body_start + len,
        quick_ack_token: crate::transport::quick_ack_token(&large),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn sample_key() -> AuthKey {
        AuthKey::from_slice(&h("83CBD31C0303361FF1C29437A77CBA749C84F28A118646038C7EDD29EF718A1F6A493047D476A6E678D97A4A5CC7990CEA552D68E109869E5BFC86570049CD8F2EB4BA10B6C4123FB8A977774B4C5185B5C96AF7BD7A71DB78E6E6148CED2048869A21B8ED7FBA7F6F2E7722BFA28447AB84A245CB0E6D01261191B753191E744DCFDA522D50167832EE4D5EE90AAA6F31821248F0F06BF5692EF604CFC4316CEDE078F71E17BCEBBE388589E6707AF5BA26E8DD063BB116C4B4E7BEF3B462C3350D0376D42F95D353E46BE4C378D2A60141A2339641F8B712EB3ECFB42B7F26F69E9BB15373E0AC4BE266E1681859DDAAB8CD7D877BB847D2A8BD068A784943")).unwrap()
    }

    /// An rng that yields fixed bytes, to reproduce the vectors' padding;
    /// `next_u32` picks the number of extra padding blocks.
    struct Fixed(Vec<u8>, usize, u32);
    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.2
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl CryptoRng for Fixed {}

    const SESSION: i64 = 0x8877665544332211u64 as i64;
    const SALT: i64 = 0x890DC4E4F8F658A6u64 as i64;

    /// E-1..E-6, T-10, TV §7.3: client→server packet byte for byte.
    #[test]
    fn e1_e6_client_packet_vector() {
        let key = sample_key();
        let hdr = Header {
            salt: SALT,
            session_id: SESSION,
            msg_id: 0x6777E5EE12345678,
            seq_no: 1,
        };
        let mut rng = Fixed(h("000102030405060708090A0B"), 0, 0);
        let mut out = Vec::new();
        let large = encrypt(
            &key,
            Direction::ClientToServer,
            &hdr,
            &h("6B18F9C4"),
            &mut rng,
            &mut out,
        );
        assert_eq!(out, h("0438720625F291F6495E7CE134C3E7421E15D1E158C87EB8A5C31B653B41DDD5563CF17A43C5B717A92396D1DBE94CBBBAC2E733AE2364A0F1B68CBC8D3D4278B529649F1FAA0955"));
        let token = u32::from_le_bytes(large[..4].try_into().unwrap()) | 0x8000_0000;
        assert_eq!(token, 0xC562C9D8);
        // The server side decrypts it back.
        let d = decrypt(&key, Direction::ClientToServer, &mut out).unwrap();
        assert_eq!(d.header, hdr);
        assert_eq!(&out[d.body], &h("6B18F9C4")[..]);
    }

    /// E-7, G-7, TV §7.4: server→client packet; client decrypts and verifies.
    #[test]
    fn e7_server_packet_vector() {
        let key = sample_key();
        // 28 bytes of padding: the minimum 12 plus one extra block.
        let mut rng = Fixed((0x40..0x5C).collect(), 0, 1);
        let body = h("016D5CF378563412EEE5776719CA4421A40100000C464C4F4F445F574149545F33000000");
        let hdr = Header {
            salt: SALT,
            session_id: SESSION,
            msg_id: 0x6777E5EF00000001,
            seq_no: 1,
        };
        let mut out = Vec::new();
        encrypt(
            &key,
            Direction::ServerToClient,
            &hdr,
            &body,
            &mut rng,
            &mut out,
        );
        let expected = h("0438720625F291F6C84CD849E9FFC8D75A1EB9BC1BF8445CF265DC51F9EAF9A6B3017CBB5295C0DEB6ECC3D7C76F68619CE81AD1D92FB059633AF52B11CF670786E912445668AAA0CD84E7D1116431AD69097B8D37D3E97A6FB2C7BA558522D5307B7290711A3C39B180838C75B53CFE22612D9EC607ED64");
        assert_eq!(out, expected);
        let mut pkt = expected.clone();
        let d = decrypt(&key, Direction::ServerToClient, &mut pkt).unwrap();
        assert_eq!(d.header, hdr);
        assert_eq!(&pkt[d.body], &body[..]);
        // Decrypting with the wrong direction (x = 0) fails the msg_key check.
        let mut pkt = expected.clone();
        assert_eq!(
            decrypt(&key, Direction::ClientToServer, &mut pkt),
            Err(MtpError::MsgKeyMismatch)
        );
    }

    /// E-7, G-7, E-9: any flipped bit in msg_key or data fails the msg_key check.
    #[test]
    fn e9_msg_key_mismatch_on_any_bit_flip() {
        let key = sample_key();
        let expected = h("0438720625F291F6C84CD849E9FFC8D75A1EB9BC1BF8445CF265DC51F9EAF9A6B3017CBB5295C0DEB6ECC3D7C76F68619CE81AD1D92FB059633AF52B11CF670786E912445668AAA0CD84E7D1116431AD69097B8D37D3E97A6FB2C7BA558522D5307B7290711A3C39B180838C75B53CFE22612D9EC607ED64");
        for byte in 8..expected.len() {
            let mut pkt = expected.clone();
            pkt[byte] ^= 0x10;
            assert_eq!(
                decrypt(&key, Direction::ServerToClient, &mut pkt),
                Err(MtpError::MsgKeyMismatch),
                "byte {byte}"
            );
        }
    }

    /// E-7 step 1: an unknown auth_key_id is rejected before decrypting.
    #[test]
    fn e7_unknown_auth_key_id() {
        let key = sample_key();
        let mut pkt = h("0438720625F291F6C84CD849E9FFC8D75A1EB9BC1BF8445CF265DC51F9EAF9A6B3017CBB5295C0DEB6ECC3D7C76F68619CE81AD1D92FB059633AF52B11CF670786E912445668AAA0CD84E7D1116431AD69097B8D37D3E97A6FB2C7BA558522D5307B7290711A3C39B180838C75B53CFE22612D9EC607ED64");
        pkt[0] ^= 1;
        assert_eq!(
            decrypt(&key, Direction::ServerToClient, &mut pkt),
            Err(MtpError::UnknownAuthKey)
        );
        assert_eq!(auth_key_id_of(&pkt).unwrap()[0], 0x05);
    }

    /// E-7 step 2, T-9: encrypted data must be a non-empty multiple of 16.
    #[test]
    fn e7_block_alignment() {
        let key = sample_key();
        let mut pkt = key.id().to_vec();
        pkt.extend_from_slice(&[0u8; 16 + 20]);
        assert_eq!(
            decrypt(&key, Direction::ServerToClient, &mut pkt),
            Err(MtpError::NotBlockAligned(20))
        );
        let mut pkt = key.id().to_vec();
        pkt.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            decrypt(&key, Direction::ServerToClient, &mut pkt),
            Err(MtpError::NotBlockAligned(0))
        );
        assert_eq!(
            decrypt(&key, Direction::ServerToClient, &mut [0u8; 10]),
            Err(MtpError::Truncated(10))
        );
    }

    /// E-8, G-8, TV §7.4 N1/N4: valid msg_key but padding < 12 or > 1024.
    #[test]
    fn e8_padding_out_of_range() {
        let key = sample_key();
        let mut n1 = h("0438720625F291F63002C78F66A6CE8D8A846601A70E1C152C69F6564ABA7D7A8AF8E8E81C1B41FCBCAF0BF3B9F47748002E073FF8F4D7A2BC3046454FEAF0445FEE59E0F1059AAC");
        assert_eq!(
            decrypt(&key, Direction::ClientToServer, &mut n1),
            Err(MtpError::BadPadding(8))
        );
        let mut n4 = h(include_str!("testdata/n4.hex").trim());
        assert_eq!(
            decrypt(&key, Direction::ServerToClient, &mut n4),
            Err(MtpError::BadPadding(1036))
        );
    }

    /// E-8: a declared length beyond the plaintext or not a multiple of 4.
    #[test]
    fn e8_declared_length_rules() {
        let key = sample_key();
        let mut rng = StdRng::seed_from_u64(1);
        let hdr = Header {
            salt: 1,
            session_id: 2,
            msg_id: 4,
            seq_no: 0,
        };
        for (declared, err) in [(1000usize, true), (6, true), (8, false)] {
            let mut out = Vec::new();
            encrypt(
                &key,
                Direction::ServerToClient,
                &hdr,
                &[0u8; 8],
                &mut rng,
                &mut out,
            );
            // Re-encrypt a tampered length with a correct msg_key.
            let plain_len = out.len() - OUTER_HEADER_LEN;
            let mut plain = out[OUTER_HEADER_LEN..].to_vec();
            let mk = out[8..24].try_into().unwrap();
            let (k, iv) = aes_key_iv(&key, &mk, Direction::ServerToClient);
            ige_decrypt(&mut plain, &k, &iv).unwrap();
            plain[28..32].copy_from_slice(&(declared as u32).to_le_bytes());
            let large = msg_key_large(&key, &plain, Direction::ServerToClient);
            let mk: [u8; 16] = large[8..24].try_into().unwrap();
            let (k, iv) = aes_key_iv(&key, &mk, Direction::ServerToClient);
            ige_encrypt(&mut plain, &k, &iv).unwrap();
            let mut pkt = key.id().to_vec();
            pkt.extend_from_slice(&mk);
            pkt.extend_from_slice(&plain);
            assert_eq!(pkt.len(), OUTER_HEADER_LEN + plain_len);
            let r = decrypt(&key, Direction::ServerToClient, &mut pkt);
            assert_eq!(r.is_err(), err, "declared {declared}: {r:?}");
        }
    }

    /// E-2, E-6: random bodies round-trip both ways; padding is 12..=1024
    /// and the plaintext is block aligned.
    #[test]
    fn e2_e6_round_trips_both_directions() {
        let key = sample_key();
        let mut rng = StdRng::seed_from_u64(7);
        for len in (0..600).step_by(4) {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let hdr = Header {
                    salt: -5,
                    session_id: 77,
                    msg_id: 0x6777E5EE12345678,
                    seq_no: 3,
                };
                let mut out = Vec::new();
                encrypt(&key, dir, &hdr, &body, &mut rng, &mut out);
                let plain_len = out.len() - OUTER_HEADER_LEN;
                assert_eq!(plain_len % 16, 0);
                let pad = plain_len - INNER_HEADER_LEN - len;
                assert!((MIN_PADDING..=MAX_PADDING).contains(&pad));
                let d = decrypt(&key, dir, &mut out).unwrap();
                assert_eq!(d.header, hdr);
                assert_eq!(&out[d.body], &body[..]);
            }
        }
    }

    /// E-10: this side speaks MTProto 2.0 only; a message encrypted with
    /// the 1.0 scheme (SHA-1 msg_key, v1 KDF) fails the msg_key check.
    #[test]
    fn e10_v1_encrypted_message_rejected() {
        use crate::crypto::{aes_key_iv_v1, msg_key_v1};
        let key = sample_key();
        let mut plain = vec![0u8; 32];
        plain[28..32].copy_from_slice(&4u32.to_le_bytes());
        plain.extend_from_slice(&[1, 2, 3, 4]);
        plain.resize(48, 0);
        let mk = msg_key_v1(&plain[..40]);
        let (k, iv) = aes_key_iv_v1(&key, &mk, Direction::ClientToServer);
        ige_encrypt(&mut plain, &k, &iv).unwrap();
        let mut pkt = key.id().to_vec();
        pkt.extend_from_slice(&mk);
        pkt.extend_from_slice(&plain);
        assert_eq!(
            decrypt(&key, Direction::ClientToServer, &mut pkt),
            Err(MtpError::MsgKeyMismatch)
        );
    }

    /// E-11: only the first 1024 bits of the key feed the message KDF: two
    /// keys that differ only in bytes 128..256 produce the same encrypted
    /// data (the auth_key_id, a hash of the whole key, differs).
    #[test]
    fn e11_lower_key_half_never_used_for_transport() {
        let a = sample_key();
        let mut bytes = *a.as_bytes();
        for b in &mut bytes[128..] {
            *b ^= 0xA5;
        }
        let b = AuthKey::from_bytes(&bytes);
        let hdr = Header {
            salt: 1,
            session_id: 2,
            msg_id: 4,
            seq_no: 1,
        };
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        encrypt(
            &a,
            Direction::ClientToServer,
            &hdr,
            &[9; 8],
            &mut StdRng::seed_from_u64(3),
            &mut pa,
        );
        encrypt(
            &b,
            Direction::ClientToServer,
            &hdr,
            &[9; 8],
            &mut StdRng::seed_from_u64(3),
            &mut pb,
        );
        assert_ne!(pa[..8], pb[..8]);
        assert_eq!(pa[8..], pb[8..]);
    }

    /// unencrypted envelope, TV §1.1.
    #[test]
    fn a1_plain_envelope() {
        let body = h("F18E7EBE79F0AFB50252E5FC96924BFCECDA4F05");
        let mut out = Vec::new();
        pack_plain(0x6777E5EB00059760, &body, &mut out);
        assert_eq!(
            out,
            h("000000000000000060970500EBE5776714000000F18E7EBE79F0AFB50252E5FC96924BFCECDA4F05")
        );
        let (id, b) = unpack_plain(&out).unwrap();
        assert_eq!((id, b), (0x6777E5EB00059760, &body[..]));
        let mut bad = out.clone();
        bad[16] = 21;
        assert!(matches!(
            unpack_plain(&bad),
            Err(MtpError::BadLength { .. })
        ));
        bad = out.clone();
        bad[0] = 1;
        assert_eq!(unpack_plain(&bad), Err(MtpError::NotPlain));
        assert_eq!(unpack_plain(&out[..19]), Err(MtpError::Truncated(19)));
    }
}
