//! Key derivation: the per-message AES key and IV of MTProto 2.0 (E-3,
//! E-4), the MTProto 1.0 variant still needed for the PFS bind message
//! (P-4), and the handshake's temporary key.
//!
//! Every function returns `(aes_key, aes_iv)` ready for
//! [`ige_encrypt`](super::ige_encrypt) / [`ige_decrypt`](super::ige_decrypt).

use super::hash::{sha1, sha256};
use super::key::AuthKey;

/// The direction a message travels. It selects the offset `x` into the
/// auth key, so the two directions never share key material: a client
/// encrypts and verifies msg_key with x = 0 for what it sends, and uses
/// x = 8 to decrypt and verify what it receives; the server does the
/// opposite (E-3, E-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server, `x = 0`.
    ClientToServer,
    /// Server → client, `x = 8`.
    ServerToClient,
}

impl Direction {
    /// The spec's `x`.
    pub const fn x(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 8,
        }
    }
}

/// `SHA256(auth_key[88+x .. 120+x] + plaintext)` (E-3). `plaintext` includes
/// the padding. The first four bytes also give the quick-ack token (T-10).
pub fn msg_key_large(auth_key: &AuthKey, plaintext: &[u8], dir: Direction) -> [u8; 32] {
    let x = dir.x();
    sha256(&[&auth_key.as_bytes()[88 + x..120 + x], plaintext])
}

/// `msg_key = msg_key_large[8..24]` (E-3).
pub fn msg_key(auth_key: &AuthKey, plaintext: &[u8], dir: Direction) -> [u8; 16] {
    msg_key_from_large(&msg_key_large(auth_key, plaintext, dir))
}

/// The middle 128 bits of `msg_key_large` (E-3), for callers that keep the
/// large value for the quick-ack token.
pub fn msg_key_from_large(large: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&large[8..24]);
    out
}

/// MTProto 2.0 `(aes_key, aes_iv)` for one message (E-4).
pub fn aes_key_iv(auth_key: &AuthKey, msg_key: &[u8; 16], dir: Direction) -> ([u8; 32], [u8; 32]) {
    let ak = auth_key.as_bytes();
    let x = dir.x();
    let a = sha256(&[msg_key, &ak[x..x + 36]]);
    let b = sha256(&[&ak[40 + x..76 + x], msg_key]);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&a[..8]);
    key[8..24].copy_from_slice(&b[8..24]);
    key[24..].copy_from_slice(&a[24..]);
    let mut iv = [0u8; 32];
    iv[..8].copy_from_slice(&b[..8]);
    iv[8..24].copy_from_slice(&a[8..24]);
    iv[24..].copy_from_slice(&b[24..]);
    (key, iv)
}

/// MTProto 1.0 msg_key: `SHA1(plaintext)[4..20]`, taken over the plaintext
/// *before* padding (P-4).
pub fn msg_key_v1(plaintext: &[u8]) -> [u8; 16] {
    let h = sha1(&[plaintext]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[4..]);
    out
}

/// MTProto 1.0 `(aes_key, aes_iv)` (P-4). Only the PFS bind message uses it,
/// with [`Direction::ClientToServer`]; the x = 8 form is the v1 rule for the
/// other direction.
pub fn aes_key_iv_v1(
    auth_key: &AuthKey,
    msg_key: &[u8; 16],
    dir: Direction,
) -> ([u8; 32], [u8; 32]) {
    let ak = auth_key.as_bytes();
    let x = dir.x();
    let a = sha1(&[msg_key, &ak[x..x + 32]]);
    let b = sha1(&[&ak[32 + x..48 + x], msg_key, &ak[48 + x..64 + x]]);
    let c = sha1(&[&ak[64 + x..96 + x], msg_key]);
    let d = sha1(&[msg_key, &ak[96 + x..128 + x]]);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&a[..8]);
    key[8..20].copy_from_slice(&b[8..20]);
    key[20..].copy_from_slice(&c[4..16]);
    let mut iv = [0u8; 32];
    iv[..12].copy_from_slice(&a[8..20]);
    iv[12..20].copy_from_slice(&b[..8]);
    iv[20..24].copy_from_slice(&c[16..20]);
    iv[24..].copy_from_slice(&d[..8]);
    (key, iv)
}

/// The handshake's temporary `(tmp_aes_key, tmp_aes_iv)`, which
/// protects server_DH_inner_data and client_DH_inner_data.
pub fn tmp_aes_key_iv(new_nonce: &[u8; 32], server_nonce: &[u8; 16]) -> ([u8; 32], [u8; 32]) {
    let ns = sha1(&[new_nonce, server_nonce]);
    let sn = sha1(&[server_nonce, new_nonce]);
    let nn = sha1(&[new_nonce, new_nonce]);
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(&ns);
    key[20..].copy_from_slice(&sn[..12]);
    let mut iv = [0u8; 32];
    iv[..8].copy_from_slice(&sn[12..]);
    iv[8..28].copy_from_slice(&nn);
    iv[28..].copy_from_slice(&new_nonce[..4]);
    (key, iv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ige::{ige_decrypt, ige_encrypt};
    use crate::crypto::test_util::{arr, sample_auth_key, unhex};

    /// Checks one whole MTProto 2.0 vector: msg_key, key/iv, ciphertext, and
    /// that decrypting with the other direction's x fails the msg_key check.
    fn check_v2(dir: Direction, plaintext: &str, large: &str, key: &str, iv: &str, packet: &str) {
        let ak = sample_auth_key();
        let plain = unhex(plaintext);
        let large_got = msg_key_large(&ak, &plain, dir);
        assert_eq!(large_got, arr::<32>(large));
        let mk = msg_key(&ak, &plain, dir);
        assert_eq!(mk, msg_key_from_large(&large_got));
        let (k, i) = aes_key_iv(&ak, &mk, dir);
        assert_eq!((k, i), (arr(key), arr(iv)));

        let mut buf = plain.clone();
        ige_encrypt(&mut buf, &k, &i).unwrap();
        let mut expect = ak.id().to_vec();
        expect.extend_from_slice(&mk);
        expect.extend_from_slice(&buf);
        assert_eq!(expect, unhex(packet));

        // Receiving side: decrypt and recompute msg_key (E-7 step 4).
        ige_decrypt(&mut buf, &k, &i).unwrap();
        assert_eq!(msg_key(&ak, &buf, dir), mk);
        let other = match dir {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        };
        assert_ne!(msg_key(&ak, &buf, other), mk);
    }

    /// E-3, E-4, E-5, T-10, TV §7.3: client → server (x = 0) message.
    #[test]
    fn e3_e4_client_to_server_vector() {
        check_v2(
            Direction::ClientToServer,
            "A658F6F8E4C40D89112233445566778878563412EEE5776701000000040000006B18F9C4000102030405060708090A0B",
            "D8C96245DFB082C5495E7CE134C3E7421E15D1E158C87EB87A68F420E58C89FC",
            "4224349410ADAC6F596369F30FC5A8712C8320109FC7E001C359CEF3B59119BF",
            "F466E8BADE3227A7463314BB8BFEA7BB58F0880EAB3CB540725D264A4579D30F",
            "0438720625F291F6495E7CE134C3E7421E15D1E158C87EB8A5C31B653B41DDD5563CF17A43C5B717A92396D1DBE94CBBBAC2E733AE2364A0F1B68CBC8D3D4278B529649F1FAA0955",
        );
        // T-10: quick-ack token from msg_key_large[0..4].
        let ak = sample_auth_key();
        let large = msg_key_large(&ak, &unhex("A658F6F8E4C40D89112233445566778878563412EEE5776701000000040000006B18F9C4000102030405060708090A0B"), Direction::ClientToServer);
        let token = u32::from_le_bytes([large[0], large[1], large[2], large[3]]) | 0x8000_0000;
        assert_eq!(token, 0xC562_C9D8);
    }

    /// E-3, E-4, E-5, TV §7.4: server → client (x = 8) message.
    #[test]
    fn e3_e4_server_to_client_vector() {
        check_v2(
            Direction::ServerToClient,
            "A658F6F8E4C40D89112233445566778801000000EFE577670100000024000000016D5CF378563412EEE5776719CA4421A40100000C464C4F4F445F574149545F33000000404142434445464748494A4B4C4D4E4F505152535455565758595A5B",
            "FCE9EF0B23B9153FC84CD849E9FFC8D75A1EB9BC1BF8445CE9128655DD263C1E",
            "558181BBF93DEFC0D008B49B024362DA98738A42E877C3ADB9ADA466F271A14E",
            "C13374AFD2324BC6C8920D2DADE0FED54921FE1CFF5C051CFC0BF36979886FC2",
            "0438720625F291F6C84CD849E9FFC8D75A1EB9BC1BF8445CF265DC51F9EAF9A6B3017CBB5295C0DEB6ECC3D7C76F68619CE81AD1D92FB059633AF52B11CF670786E912445668AAA0CD84E7D1116431AD69097B8D37D3E97A6FB2C7BA558522D5307B7290711A3C39B180838C75B53CFE22612D9EC607ED64",
        );
    }

    /// P-4, TV §7.5: the MTProto 1.0 bind message under the permanent key.
    #[test]
    fn p4_v1_bind_message_vector() {
        let ak = sample_auth_key();
        let plain = unhex("00112233445566778899AABBCCDDEEFF78563412EEE57767000000002800000065F7A375EFCDAB896745230111111111111111110438720625F291F622222222222222226B377967");
        let mk = msg_key_v1(&plain);
        assert_eq!(mk, arr::<16>("D2BEE192BDF9DB34871DB4A2E679AB06"));
        let (k, i) = aes_key_iv_v1(&ak, &mk, Direction::ClientToServer);
        assert_eq!(
            k,
            arr::<32>("E56CC8DFF59698537B7A372DB804B0F4448B19D223CB967B1C4E7FCCA7158EA0")
        );
        assert_eq!(
            i,
            arr::<32>("E7ED393F98B0588E882B5D30B36EE53E383403FD45A8AB372C16E2947F179FE5")
        );
        let mut buf = plain;
        buf.extend_from_slice(&unhex("0001020304050607"));
        ige_encrypt(&mut buf, &k, &i).unwrap();
        let mut msg = ak.id().to_vec();
        msg.extend_from_slice(&mk);
        msg.extend_from_slice(&buf);
        assert_eq!(msg, unhex("0438720625F291F6D2BEE192BDF9DB34871DB4A2E679AB06A1B2A0E2C4B3E9C97649F515B8124AADF7F8D0C1C310B07216C038C4281B3BB1853FC0A377453994BC458EBBF581BA094B2BF02784A40F5DE34C8798DA0992E3F488404CDDC33F4E361F5A13C67C313A"));
    }

    /// A-12, TV §1.6: the temporary key and IV from the sample nonces.
    #[test]
    fn a12_tmp_aes_key_iv_vector() {
        let (k, i) = tmp_aes_key_iv(
            &arr("264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC"),
            &arr("801775A3EFBFD2701AA28AD727BE4646"),
        );
        assert_eq!(
            k,
            arr::<32>("E68CA5ABA101FFCA0ADDA66303A57AFFAA2712FB16A7B8DAFC72C25E8A73A368")
        );
        assert_eq!(
            i,
            arr::<32>("0A355D4431B9DDD91A51EFF3F7D340D64F0390C53F91DC53C331D43C264F835B")
        );
    }
}
