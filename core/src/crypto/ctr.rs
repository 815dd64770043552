//! AES-256-CTR for the obfuscated transport (T-15..T-17).
//!
//! The 16-byte IV is the first counter block and is incremented as one
//! 128-bit big-endian number, the OpenSSL convention the obfuscation
//! protocol was defined with (T-16). One `AesCtr` is one direction of one
//! connection: the keystream continues across calls and is never reset, so
//! packets may be fed in pieces of any size.

use aes::Aes256;
use cipher::{KeyIvInit, StreamCipher};

type Ctr = ctr::Ctr128BE<Aes256>;

/// A running AES-256-CTR keystream.
pub struct AesCtr {
    inner: Ctr,
}

impl AesCtr {
    /// Starts the keystream at counter block `iv`.
    pub fn new(key: &[u8; 32], iv: &[u8; 16]) -> Self {
        AesCtr {
            inner: Ctr::new(key.into(), iv.into()),
        }
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encryption
    /// and decryption are the same operation).
    pub fn apply(&mut self, data: &mut [u8]) {
        // The 128-bit counter would need 2^132 bytes to wrap, so the
        // "keystream exhausted" panic of `apply_keystream` is unreachable.
        self.inner.apply_keystream(data);
    }
}

impl core::fmt::Debug for AesCtr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material or the keystream position.
        f.write_str("AesCtr { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::{arr, unhex};

    const INIT: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F3031323334353637EFEFEFEF3C3D3E3F";

    /// T-15, T-16, TV §7.7: the obfuscation header encrypts to the published
    /// bytes, and the first packet continues the same stream at offset 64.
    #[test]
    fn t16_ctr_matches_obfuscation_vector() {
        let init = unhex(INIT);
        let key: [u8; 32] = init[8..40].try_into().unwrap();
        let iv: [u8; 16] = init[40..56].try_into().unwrap();
        let mut enc = AesCtr::new(&key, &iv);
        let mut buf = init.clone();
        enc.apply(&mut buf);
        assert_eq!(buf, unhex("061EA5A02F48E35029DA73F780A033F9528CA6113B7F1043C185E07DEF9D0D5563784879AB3903ED2CCC7D6ED8FDCB44F55AD2454DD421324719245F223DFD5D"));

        let mut pkt = unhex(
            "0A000000000000000060970500EBE5776714000000F18E7EBE79F0AFB50252E5FC96924BFCECDA4F05",
        );
        enc.apply(&mut pkt);
        assert_eq!(pkt, unhex("38A9C12838F1654122D107B81D49577CC5B2C4ADD906808593EFE6B3B64B0A367FED40C7767E2AE234"));
    }

    /// T-16: splitting the input into arbitrary pieces gives the same bytes
    /// as one call, because the stream continues across calls.
    #[test]
    fn t16_ctr_stream_continues_across_calls() {
        let key: [u8; 32] = arr("08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F2021222324252627");
        let iv: [u8; 16] = arr("28292A2B2C2D2E2F3031323334353637");
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut whole = data.clone();
        AesCtr::new(&key, &iv).apply(&mut whole);
        let mut pieces = data.clone();
        let mut ctr = AesCtr::new(&key, &iv);
        let mut rest = &mut pieces[..];
        for size in [1usize, 15, 16, 17, 3, 64, 100] {
            let (head, tail) = rest.split_at_mut(size.min(rest.len()));
            ctr.apply(head);
            rest = tail;
        }
        ctr.apply(rest);
        assert_eq!(whole, pieces);
    }

    /// T-16: the counter is one 128-bit big-endian number, so a carry runs
    /// through all 16 bytes (the OpenSSL convention).
    #[test]
    fn t16_ctr_counter_carries_across_all_128_bits() {
        let key = [0x42u8; 32];
        let mut iv = [0xFFu8; 16];
        iv[0] = 0x00;
        // Keystream block 1 of (0x00FF..FF) must equal block 0 of (0x0100..00).
        let mut two = [0u8; 32];
        AesCtr::new(&key, &iv).apply(&mut two);
        let mut next_iv = [0u8; 16];
        next_iv[0] = 0x01;
        let mut one = [0u8; 16];
        AesCtr::new(&key, &next_iv).apply(&mut one);
        assert_eq!(two[16..], one);
    }
}
