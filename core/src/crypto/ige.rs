//! AES-IGE (Infinite Garble Extension), the block mode of every MTProto
//! payload (E-5) and of the handshake's inner messages.
//!
//! IGE chains both the previous ciphertext and the previous plaintext:
//! `c_i = E(p_i ^ c_{i-1}) ^ p_{i-1}` and `p_i = D(c_i ^ p_{i-1}) ^ c_{i-1}`.
//! The 32-byte IV holds the two chain seeds: `c_0 = iv[0..16]`,
//! `p_0 = iv[16..32]` (E-5, TV §6).
//!
//! Both directions are inherently sequential, like CBC encryption, so the
//! speed limit is the latency of one AES block. The loop therefore runs
//! inside the cipher's backend (one CPU-feature dispatch per call, not per
//! block, and the AES rounds inline into it), keeps the chain values in
//! registers and never allocates.
//! The core is generic over any 128-bit block cipher so the AES-128
//! known-answer tests of OpenSSL (TV §6) exercise exactly the same code as
//! AES-256.

use aes::{Aes256Dec, Aes256Enc};
use cipher::consts::U16;
use cipher::{
    Block, BlockBackend, BlockClosure, BlockDecrypt, BlockEncrypt, BlockSizeUser, KeyInit,
};

use super::CryptoError;

/// IGE works on whole 16-byte blocks.
pub const IGE_BLOCK: usize = 16;

fn check_len(data: &[u8]) -> Result<(), CryptoError> {
    if data.len() % IGE_BLOCK == 0 {
        Ok(())
    } else {
        Err(CryptoError::NotBlockAligned(data.len()))
    }
}

/// Chain values are plain 16-byte arrays combined with byte-wise XOR
/// loops: LLVM turns each loop into one vector XOR and keeps the values in
/// SIMD registers next to the AES state. (As `u128` they lived in pairs of
/// general-purpose registers, and the moves between the two register files
/// sat on the critical path of every block.)
type Chain = [u8; IGE_BLOCK];

#[inline(always)]
fn load(bytes: &[u8]) -> Chain {
    let mut b = [0u8; IGE_BLOCK];
    b.copy_from_slice(bytes);
    b
}

#[inline(always)]
fn xor(a: &[u8], b: &Chain) -> Chain {
    let mut out = [0u8; IGE_BLOCK];
    for i in 0..IGE_BLOCK {
        out[i] = a[i] ^ b[i];
    }
    out
}

#[inline(always)]
fn xor_into(out: &mut [u8], a: &Chain, b: &Chain) {
    for i in 0..IGE_BLOCK {
        out[i] = a[i] ^ b[i];
    }
}

fn split_iv(iv: &[u8; 32]) -> (Chain, Chain) {
    (load(&iv[..16]), load(&iv[16..]))
}

/// AES-256-IGE encryption in place. `data.len()` must be a multiple of 16.
pub fn ige_encrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<(), CryptoError> {
    // Encryption needs only the forward key schedule.
    ige_encrypt_with(&Aes256Enc::new(key.into()), data, iv)
}

/// AES-256-IGE decryption in place. `data.len()` must be a multiple of 16.
pub fn ige_decrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<(), CryptoError> {
    ige_decrypt_with(&Aes256Dec::new(key.into()), data, iv)
}

/// IGE encryption in place with an already expanded cipher, for callers
/// that reuse one key for many messages (pass an `aes::Aes256`). Any 128-bit
/// block cipher works.
pub fn ige_encrypt_with<C>(cipher: &C, data: &mut [u8], iv: &[u8; 32]) -> Result<(), CryptoError>
where
    C: BlockEncrypt<BlockSize = U16>,
{
    check_len(data)?;
    let (c_prev, p_prev) = split_iv(iv);
    cipher.encrypt_with_backend(EncryptLoop {
        data,
        c_prev,
        p_prev,
    });
    Ok(())
}

/// IGE decryption in place with an already expanded cipher (see
/// [`ige_encrypt_with`]).
pub fn ige_decrypt_with<C>(cipher: &C, data: &mut [u8], iv: &[u8; 32]) -> Result<(), CryptoError>
where
    C: BlockDecrypt<BlockSize = U16>,
{
    check_len(data)?;
    let (c_prev, p_prev) = split_iv(iv);
    cipher.decrypt_with_backend(DecryptLoop {
        data,
        c_prev,
        p_prev,
    });
    Ok(())
}

/// The whole encryption loop, handed to the cipher so it runs with the
/// backend already selected.
struct EncryptLoop<'a> {
    data: &'a mut [u8],
    c_prev: Chain,
    p_prev: Chain,
}

impl BlockSizeUser for EncryptLoop<'_> {
    type BlockSize = U16;
}

impl BlockClosure for EncryptLoop<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let (mut c_prev, mut p_prev) = (self.c_prev, self.p_prev);
        let mut block = Block::<B>::default();
        for chunk in self.data.chunks_exact_mut(IGE_BLOCK) {
            let p = load(chunk);
            xor_into(&mut block, &p, &c_prev);
            backend.proc_block((&mut block).into());
            let c = xor(&block, &p_prev);
            chunk.copy_from_slice(&c);
            c_prev = c;
            p_prev = p;
        }
    }
}

/// The mirror image of [`EncryptLoop`].
struct DecryptLoop<'a> {
    data: &'a mut [u8],
    c_prev: Chain,
    p_prev: Chain,
}

impl BlockSizeUser for DecryptLoop<'_> {
    type BlockSize = U16;
}

impl BlockClosure for DecryptLoop<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let (mut c_prev, mut p_prev) = (self.c_prev, self.p_prev);
        let mut block = Block::<B>::default();
        for chunk in self.data.chunks_exact_mut(IGE_BLOCK) {
            let c = load(chunk);
            xor_into(&mut block, &c, &p_prev);
            backend.proc_block((&mut block).into());
            let p = xor(&block, &c_prev);
            chunk.copy_from_slice(&p);
            c_prev = c;
            p_prev = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::tmp_aes_key_iv;
    use crate::crypto::test_util::{arr, unhex};
    use aes::{Aes128, Aes256};

    /// Runs one OpenSSL igetest.c vector through the generic core with AES-128.
    fn kat_128(key: &str, iv: &str, pt: &str, ct: &str) {
        let cipher = Aes128::new_from_slice(&unhex(key)).unwrap();
        let iv: [u8; 32] = arr(iv);
        let mut buf = unhex(pt);
        ige_encrypt_with(&cipher, &mut buf, &iv).unwrap();
        assert_eq!(buf, unhex(ct));
        ige_decrypt_with(&cipher, &mut buf, &iv).unwrap();
        assert_eq!(buf, unhex(pt));
    }

    /// E-5, TV §6 (first OpenSSL vector): c_0 = iv[0..16], p_0 = iv[16..32].
    #[test]
    fn e5_ige_aes128_kat_zero_plaintext() {
        kat_128(
            "000102030405060708090A0B0C0D0E0F",
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "1A8519A6557BE652E9DA8E43DA4EF4453CF456B4CA488AA383C79C98B34797CB",
        );
    }

    /// E-5, TV §6 (second OpenSSL vector).
    #[test]
    fn e5_ige_aes128_kat_text() {
        kat_128(
            "5468697320697320616E20696D706C65",
            "6D656E746174696F6E206F6620494745206D6F646520666F72204F70656E5353",
            "99706487A1CDE613BC6DE0B6F24B1C7AA448C8B9C3403E3467A8CAD89340F53B",
            "4C2E204C6574277320686F70652042656E20676F74206974207269676874210A",
        );
    }

    const ENCRYPTED_ANSWER: &str = "9A46DCE9D54DE42C5E4F0D19D776C8C1F318EB1AF8836500B5DA1B1A80D58038A554FEAF627E6DC4E4924943602D8E19488A6E38A0B81346257E4DB5BE6E9E00FE991FD6C56D618D3D0A2493202677AC7CF245846C1494F60D08E61B7FEA8BB72DD8BA53F6CBF78F2B387757FE2E7F345A368ABBEC694EFDE066DC3D2375CF010D1E1BF4351724B269E68B541409E07649FEEE1DF6DC5B3C18166879CC67876782D43EC9B79AF8ACF67868F4AB7DE4082603B670EC622B5DFBBB9E908FE0244593A4D22474316020CE0E76A5C6AD021D3989451E0B3E8EE48C355992DB90300B376B296E18BB470300C7DF14BFAE05A452583EAD93167941208BBB5AC8099F0494AA27D6C1A5B678AD12B19FB7D423BB4A29C0EB03169EC538211D82FEB50F209652D00D3399986B3B0CA09CEB5E2FCCB49017FEE5F54930D9DE371172B3FF1080D733E5DD620B42DBB76A3E9C25B1B89AB8AA35C099322CA390E269D8818EA8722008DE537705B4071DA7DEF502FCD5A30D2026EA8A87A0F4915803A8271B665690E96AABDFC0B479538AE61BA701EDFF14F7212370958ED41EC8E41E427C407FBB0360565C1A6BDF285BC5120B11631B75803DFBF8AAEBDC47418A1F061747005ABA9314EE5E261C3E504EAE0ADAAC832B414BF6F7002982CE5B5AE2513761EE29FA1CBA090B9A39AACE2948A80E144DB2C622589D79FB42E3DAE491104E8A653DED7629CDE08B6C41E90E55B0EBCD4F1FC50FADDF4A7A9F6D711F0959DFEF04A744A6ADFD890B2AB405B9AD5F8E3F38928108F4CD0BA501A492FC463BC7BE8C506B5F7D24CC819A95929166B6E814";
    const ANSWER_WITH_HASH: &str = "4262AD6A332AC2A3050B5142711CE3B7BFD76FABBA0D89B579F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE464603000000FE000100C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F642477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5BFE000100236F6D779877A357465CEC030AC5FDA6D6B377372BFA75574289988FD87D966A29B47E0C00BC788900304EA5E03F3856058C309A6CB508553913788D41A61B1D82B0A2F932C68F18FC21851E66D8649AD9E2092F08C96AD67810724369BF0511E74E1F71F1A825EDDFA1D5DC30E359693C0366FF9FB6828699ACFD1F037116F95ADD42F6C64B580B3287AA32FBA518E4B8C9C7B52413B501247DB05ADDD891794394DB529E66890603BCD75CF70E6151398EE85F6D8178EA72C6A61937BCE32BFDAEA86B57A27EBC379933F54C7D44F3E407ED26685D88F0F10A344CDF62F4E20974B374BA1D41DF223A867DD19713CF0FF71F24465D79258B1742916EE35EE3EBE57767E9A54498509543E9";

    fn sample_tmp_key_iv() -> ([u8; 32], [u8; 32]) {
        tmp_aes_key_iv(
            &arr("264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC"),
            &arr("801775A3EFBFD2701AA28AD727BE4646"),
        )
    }

    /// E-5, A-13, TV §1.6: decrypting the sample encrypted_answer with the
    /// temporary key gives answer_with_hash; also via a reused `Aes256`.
    #[test]
    fn a13_ige_decrypts_sample_encrypted_answer() {
        let (key, iv) = sample_tmp_key_iv();
        let mut buf = unhex(ENCRYPTED_ANSWER);
        ige_decrypt(&mut buf, &key, &iv).unwrap();
        assert_eq!(buf, unhex(ANSWER_WITH_HASH));

        let cipher = Aes256::new(&key.into());
        let mut buf = unhex(ANSWER_WITH_HASH);
        ige_encrypt_with(&cipher, &mut buf, &iv).unwrap();
        assert_eq!(buf, unhex(ENCRYPTED_ANSWER));
        ige_decrypt_with(&cipher, &mut buf, &iv).unwrap();
        assert_eq!(buf, unhex(ANSWER_WITH_HASH));
    }

    /// E-5, A-16, TV §1.7: encrypting SHA1(data) + data + padding with the
    /// temporary key reproduces the client's encrypted_data.
    #[test]
    fn a16_ige_encrypts_sample_client_dh_inner_data() {
        let (key, iv) = sample_tmp_key_iv();
        let data = unhex("54B6436679F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE46460000000000000000FE0001005EEDFBF6A2199CD1B06182C5C4E0DC26B69ECDE1AD6430D192CD8A69E7434B66A42900AF29B3F41C619AD383FB3721705CF52C34C0507433F743592EE5D4FC50F64E0F8686870E36179AF8C8F4587BD572E98AF4A8247DE2F524BCD48642B38F36104046D7502CDC14BF39A88422B4B1111D886A326C473D1145E69E37C676E1E8FDA07E470482F853886700AE1E7FFDE69FF6D40547C515110B74C6680C844B61504FE0A2D3E08BB7BAE70016C97D7E6B7FA4CEBFE6B5BE30C884849ADE39CC50FD9B4FB16F671EFE8533D0BF7FF8BF13957F1E0D55E713199CEACC72419AF60CDB1D561084565E9F090141B9F8732B2E806C1B01B25BAFFC4EE1BD5525CB8A");
        let mut buf = crate::crypto::sha1(&[&data]).to_vec();
        buf.extend_from_slice(&data);
        buf.extend_from_slice(&unhex("8347525EB8B63DE9CE3A1FCC"));
        assert_eq!(buf.len(), 336);
        ige_encrypt(&mut buf, &key, &iv).unwrap();
        assert_eq!(buf, unhex("FA29896EE19D3CCB08FB07CF1C922CFFBF5D38D98BA56D926D63064C77741F423BCE22B5A2C100E34BB5D7CE3027E85E65006205B6926C0E42EF29E7CC24EEC4523650F692A530FB95D57EF3604C490155FB8530C94E9E2EBDF272BDB3DD98FFCA65FF51E5DBCA4CF799D6660F6D0BA1A8B1CE6FE9D26F401B1B79E057EE273CAE14D8D8D60030C862E13B2E49FE97008AEA0EC8ADE90AE3DDDC641AE7C0844A37EFC4DA3B27308B9C40B1FD2028C12B37EA719D593DC7EDC892B8630B82E05168FCC0D76E7CA23106FEF13B09D3BAE83D612CDF2E3A5ADDE4E807EEED660C9921AD364CFF6614350F313A48AB3483F08AB81A226F7763A575F44A04BD53C58A49ABD2EE4A885F2610A8387803E418C371AF9378A0941F2DB0AA9CE019048B6C9ED0C7FCB33985624E2392233CAA5E66A3891AB18544685E96EF5C2B55E69EA2C62B33E6058DA2944F087B803F251A7C"));
    }

    /// E-5: a length that is not a whole number of blocks is an error, and
    /// the buffer is left untouched.
    #[test]
    fn e5_ige_rejects_partial_block() {
        let key = [7u8; 32];
        let iv = [9u8; 32];
        for len in [1usize, 15, 17, 31, 33] {
            let mut buf = vec![0xAB; len];
            assert_eq!(
                ige_encrypt(&mut buf, &key, &iv),
                Err(CryptoError::NotBlockAligned(len))
            );
            assert_eq!(
                ige_decrypt(&mut buf, &key, &iv),
                Err(CryptoError::NotBlockAligned(len))
            );
            assert!(buf.iter().all(|&b| b == 0xAB));
        }
        let mut empty: [u8; 0] = [];
        assert_eq!(ige_encrypt(&mut empty, &key, &iv), Ok(()));
    }

    /// E-5: decryption inverts encryption for every length and any IV.
    #[test]
    fn e5_ige_round_trip_many_lengths() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8 * 3);
        let iv: [u8; 32] = core::array::from_fn(|i| 255 - i as u8);
        for blocks in 0..40usize {
            let plain: Vec<u8> = (0..blocks * 16).map(|i| (i * 7 + 1) as u8).collect();
            let mut buf = plain.clone();
            ige_encrypt(&mut buf, &key, &iv).unwrap();
            if blocks > 0 {
                assert_ne!(buf, plain);
            }
            ige_decrypt(&mut buf, &key, &iv).unwrap();
            assert_eq!(buf, plain);
        }
    }
}
