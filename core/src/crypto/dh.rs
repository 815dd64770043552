//! Diffie–Hellman parameter and value checks of the security guidelines
//! (G-1, G-2, G-3) and fixed-width modular exponentiation for the key
//! exchange.
//!
//! A server that sends a weak prime, a bad generator or a degenerate g_a
//! could force a predictable auth key, so every check here runs before the
//! client uses the server's numbers, and each failure names the rule.

use std::sync::{Mutex, OnceLock};

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};
use rand::{CryptoRng, RngCore};

use super::prime::is_probable_prime;
use super::CryptoError;

/// The 2048-bit safe prime Telegram publishes and uses (TV §2).
pub const TELEGRAM_DH_PRIME: [u8; 256] = hex_array(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F\
     48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37\
     20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64\
     2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4\
     A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754\
     FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4\
     E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F\
     0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
);

/// Miller–Rabin rounds for each of p and (p-1)/2 in [`check_dh_prime`]
/// (G-1 asks for at least 15; Java's `isProbablePrime(30)` is the reference).
pub const SAFE_PRIME_ROUNDS: u32 = 30;

/// How many proven primes (other than [`TELEGRAM_DH_PRIME`]) are remembered.
const CACHE_CAPACITY: usize = 8;

/// Decodes a hex literal at compile time (whitespace is skipped).
const fn hex_array<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let s = s.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        if s[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        assert!(n < 2 * N, "hex literal too long");
        let v = nibble(s[i]);
        out[n / 2] |= if n % 2 == 0 { v << 4 } else { v };
        n += 1;
        i += 1;
    }
    assert!(n == 2 * N, "hex literal too short");
    out
}

/// [`TELEGRAM_DH_PRIME`] as a number.
pub fn telegram_dh_prime() -> BigUint {
    BigUint::from_bytes_be(&TELEGRAM_DH_PRIME)
}

/// Which DH number a G-3 failure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhValue {
    /// The generator `g`.
    G,
    /// The server's `g_a`.
    GA,
    /// The client's `g_b`.
    GB,
}

impl core::fmt::Display for DhValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DhValue::G => "g",
            DhValue::GA => "g_a",
            DhValue::GB => "g_b",
        })
    }
}

/// The DH check that failed, named after its PROTOCOL.md rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DhCheck {
    /// G-1: dh_prime is not strictly between 2^2047 and 2^2048.
    #[error("G-1: dh_prime is not between 2^2047 and 2^2048")]
    PrimeSize,
    /// G-1: dh_prime itself failed Miller–Rabin.
    #[error("G-1: dh_prime is not prime")]
    PrimeComposite,
    /// G-1: dh_prime is prime but (dh_prime - 1) / 2 is not.
    #[error("G-1: (dh_prime - 1) / 2 is not prime, so dh_prime is not a safe prime")]
    NotSafePrime,
    /// G-2: g is not one of 2, 3, 4, 5, 6, 7.
    #[error("G-2: g = {0} is not in 2..=7")]
    GeneratorNotAllowed(u32),
    /// G-2: this g does not generate the subgroup of order (p-1)/2 for this
    /// prime (its residue condition on p fails).
    #[error("G-2: g = {0} does not generate the order-(p-1)/2 subgroup of this prime")]
    GeneratorWrongResidue(u32),
    /// G-3: the value is not in the open interval (1, p-1).
    #[error("G-3: {0} is not in (1, p - 1)")]
    ValueOutOfRange(DhValue),
    /// G-3: the value is outside [2^1984, p - 2^1984].
    #[error("G-3: {0} is not in [2^1984, p - 2^1984]")]
    ValueNotInSafeRange(DhValue),
}

fn fail(check: DhCheck) -> Result<(), CryptoError> {
    Err(CryptoError::Dh(check))
}

/// G-1: `p` must be a 2048-bit safe prime (2^2047 < p < 2^2048, p and
/// (p-1)/2 both prime).
///
/// The published Telegram prime is accepted without arithmetic. Any other
/// prime costs 2 × [`SAFE_PRIME_ROUNDS`] modular exponentiations with random
/// bases from `rng` (a crafted composite could pass fixed bases); primes
/// that pass are remembered for the life of the process, so a server that
/// keeps one prime is checked once.
pub fn check_dh_prime<R: RngCore + CryptoRng>(p: &BigUint, rng: &mut R) -> Result<(), CryptoError> {
    check_prime_size(p)?;
    if p.to_bytes_be()[..] == TELEGRAM_DH_PRIME[..] || cache_contains(p) {
        return Ok(());
    }
    prove_safe_prime(p, SAFE_PRIME_ROUNDS, rng)?;
    remember(p);
    Ok(())
}

fn check_prime_size(p: &BigUint) -> Result<(), CryptoError> {
    // bits() == 2048 means 2^2047 <= p < 2^2048; 2^2047 itself is even.
    if p.bits() != 2048 || p.trailing_zeros() == Some(2047) {
        return fail(DhCheck::PrimeSize);
    }
    Ok(())
}

/// The uncached G-1 primality part.
fn prove_safe_prime<R: RngCore + CryptoRng>(
    p: &BigUint,
    rounds: u32,
    rng: &mut R,
) -> Result<(), CryptoError> {
    if !is_probable_prime(p, rounds, rng) {
        return fail(DhCheck::PrimeComposite);
    }
    let q = p >> 1u32; // (p - 1) / 2 for odd p
    if !is_probable_prime(&q, rounds, rng) {
        return fail(DhCheck::NotSafePrime);
    }
    Ok(())
}

fn proven_cache() -> &'static Mutex<Vec<BigUint>> {
    static PROVEN: OnceLock<Mutex<Vec<BigUint>>> = OnceLock::new();
    PROVEN.get_or_init(|| Mutex::new(Vec::new()))
}

fn cache_contains(p: &BigUint) -> bool {
    // A poisoned lock still holds a valid list: the critical sections
    // below cannot leave it half-updated.
    let cache = proven_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache.contains(p)
}

fn remember(p: &BigUint) {
    let mut cache = proven_cache().lock().unwrap_or_else(|e| e.into_inner());
    if !cache.contains(p) {
        if cache.len() == CACHE_CAPACITY {
            cache.remove(0);
        }
        cache.push(p.clone());
    }
}

/// G-2: `g` must be in 2..=7 and generate the subgroup of order (p-1)/2 of
/// the safe prime `p`, which is decided by `p` modulo a small number. Also
/// the G-3 bound `1 < g < p - 1`.
pub fn check_g(g: u32, p: &BigUint) -> Result<(), CryptoError> {
    let residue = |m: u32| (p % m).to_u32().unwrap_or(u32::MAX);
    let generates = match g {
        2 => residue(8) == 7,
        3 => residue(3) == 2,
        4 => true,
        5 => matches!(residue(5), 1 | 4),
        6 => matches!(residue(24), 19 | 23),
        7 => matches!(residue(7), 3 | 5 | 6),
        _ => return fail(DhCheck::GeneratorNotAllowed(g)),
    };
    if !generates {
        return fail(DhCheck::GeneratorWrongResidue(g));
    }
    check_open_range(&BigUint::from(g), p, DhValue::G)
}

fn check_open_range(x: &BigUint, p: &BigUint, which: DhValue) -> Result<(), CryptoError> {
    // 1 < x < p - 1, written without subtraction so a tiny p cannot underflow.
    if *x <= BigUint::one() || x + 1u32 >= *p {
        return fail(DhCheck::ValueOutOfRange(which));
    }
    Ok(())
}

/// G-3: a DH value (`g_a` or `g_b`) must satisfy `1 < x < p - 1` and the
/// stricter `2^1984 <= x <= p - 2^1984` this project enforces.
pub fn check_dh_value(x: &BigUint, p: &BigUint, which: DhValue) -> Result<(), CryptoError> {
    check_open_range(x, p, which)?;
    let bound = BigUint::one() << 1984u32;
    if *x < bound || x + &bound > *p {
        return fail(DhCheck::ValueNotInSafeRange(which));
    }
    Ok(())
}

/// Writes `x` big-endian into `out`, left-padded with zeros; fails if `x`
/// does not fit.
pub(crate) fn write_be(x: &BigUint, out: &mut [u8]) -> Result<(), CryptoError> {
    let bytes = x.to_bytes_be();
    let bytes: &[u8] = if x.is_zero() { &[] } else { &bytes };
    if bytes.len() > out.len() {
        return Err(CryptoError::DataTooLong {
            len: bytes.len(),
            max: out.len(),
        });
    }
    let pad = out.len() - bytes.len();
    out[..pad].fill(0);
    out[pad..].copy_from_slice(bytes);
    Ok(())
}

/// `x` as exactly 256 big-endian bytes, the width of dh_prime, g_a, g_b and
/// the auth key (B-6).
pub fn to_be_256(x: &BigUint) -> Result<[u8; 256], CryptoError> {
    let mut out = [0u8; 256];
    write_be(x, &mut out)?;
    Ok(out)
}

/// `base^exp mod modulus` as 256 big-endian bytes: g_a and g_b (A-11,
/// A-15) and the auth key. The modulus must be non-zero and at most
/// 2048 bits.
pub fn modpow_be256(
    base: &BigUint,
    exp: &BigUint,
    modulus: &BigUint,
) -> Result<[u8; 256], CryptoError> {
    if modulus.is_zero() {
        return Err(CryptoError::InvalidArgument("zero modulus"));
    }
    if modulus.bits() > 2048 {
        return Err(CryptoError::InvalidArgument("modulus wider than 2048 bits"));
    }
    to_be_256(&base.modpow(exp, modulus))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::{arr, unhex, SAMPLE_AUTH_KEY};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0x0044_4843_4845_434b)
    }

    fn dh_err(check: DhCheck) -> Result<(), CryptoError> {
        Err(CryptoError::Dh(check))
    }

    const G_A: &str = "236F6D779877A357465CEC030AC5FDA6D6B377372BFA75574289988FD87D966A29B47E0C00BC788900304EA5E03F3856058C309A6CB508553913788D41A61B1D82B0A2F932C68F18FC21851E66D8649AD9E2092F08C96AD67810724369BF0511E74E1F71F1A825EDDFA1D5DC30E359693C0366FF9FB6828699ACFD1F037116F95ADD42F6C64B580B3287AA32FBA518E4B8C9C7B52413B501247DB05ADDD891794394DB529E66890603BCD75CF70E6151398EE85F6D8178EA72C6A61937BCE32BFDAEA86B57A27EBC379933F54C7D44F3E407ED26685D88F0F10A344CDF62F4E20974B374BA1D41DF223A867DD19713CF0FF71F24465D79258B1742916EE35EE3";
    const B: &str = "F2987DDA0ABCE0B7CE23A7B850BE126641CBAABC1F4C250C839E1844E2E2CBE57BC0A30B45F6C21D8635F5E927DB0D7498A2F03C6A42D3FB2F3787D5B4D63C2F17A6EB197C0412237E528B68D3D70ADCDEEBD7CD6BACEC59D4FB8F17125ED00B95B34A2D5D8A2133937B5DFEF6DB09F0A3A1BC207A87D9FE4761C59880CA551432E4AFFCF3982B11EABC526977215F4AC2CE20FA7C808A971DA8C8A08FF26DEBB326EE580B551BEAF0C4B677FCE00E5C6AAEDA3A5A42F38C9C6E226EEDED0502A6BEFC991CC1E0B504E187206D172E72E05D958009FB8C27616EBDD28247262A33AF25E911C9DC22D9A88C6E31A623E6C1E1011CDBD184F6DFFC4F77F5370F16";
    const G_B: &str = "5EEDFBF6A2199CD1B06182C5C4E0DC26B69ECDE1AD6430D192CD8A69E7434B66A42900AF29B3F41C619AD383FB3721705CF52C34C0507433F743592EE5D4FC50F64E0F8686870E36179AF8C8F4587BD572E98AF4A8247DE2F524BCD48642B38F36104046D7502CDC14BF39A88422B4B1111D886A326C473D1145E69E37C676E1E8FDA07E470482F853886700AE1E7FFDE69FF6D40547C515110B74C6680C844B61504FE0A2D3E08BB7BAE70016C97D7E6B7FA4CEBFE6B5BE30C884849ADE39CC50FD9B4FB16F671EFE8533D0BF7FF8BF13957F1E0D55E713199CEACC72419AF60CDB1D561084565E9F090141B9F8732B2E806C1B01B25BAFFC4EE1BD5525CB8A";

    fn big(hex: &str) -> BigUint {
        BigUint::from_bytes_be(&unhex(hex))
    }

    /// TV §2: the compile-time constant is the published prime.
    #[test]
    fn g1_telegram_prime_constant_matches_tv_2() {
        let published = unhex("C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F642477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B");
        assert_eq!(TELEGRAM_DH_PRIME[..], published[..]);
    }

    /// G-1, TV §2: the published prime is accepted (fast path) and really is
    /// a safe prime under the full 30-round test.
    #[test]
    fn g1_accepts_telegram_prime_and_proves_it_safe() {
        let p = telegram_dh_prime();
        assert_eq!(check_dh_prime(&p, &mut rng()), Ok(()));
        assert_eq!(prove_safe_prime(&p, SAFE_PRIME_ROUNDS, &mut rng()), Ok(()));
    }

    /// G-1: sizes at or outside (2^2047, 2^2048) are rejected first.
    #[test]
    fn g1_rejects_prime_of_wrong_size() {
        let p = telegram_dh_prime();
        let two_2047 = BigUint::one() << 2047u32;
        for bad in [
            BigUint::zero(),
            BigUint::from(23u32),
            &p >> 1u32,                  // 2047 bits
            (&p << 1u32) + 1u32,         // 2049 bits
            two_2047.clone(),            // the lower bound itself
            (BigUint::one() << 2048u32), // the upper bound itself
        ] {
            assert_eq!(check_dh_prime(&bad, &mut rng()), dh_err(DhCheck::PrimeSize));
        }
    }

    /// G-1: a 2048-bit composite is rejected, both an easy one (divisible by
    /// 3) and an RSA-style product of two 1024-bit primes.
    #[test]
    fn g1_rejects_composite_prime() {
        let mut rng = rng();
        let p = telegram_dh_prime() + 4u32; // p ≡ 2 (mod 3), so p + 4 ≡ 0
        assert_eq!(
            check_dh_prime(&p, &mut rng),
            dh_err(DhCheck::PrimeComposite)
        );
        let a = crate::crypto::random_prime(1024, &mut rng).unwrap();
        let b = crate::crypto::random_prime(1024, &mut rng).unwrap();
        let n = a * b;
        assert_eq!(n.bits(), 2048);
        assert_eq!(
            check_dh_prime(&n, &mut rng),
            dh_err(DhCheck::PrimeComposite)
        );
    }

    /// G-1: a 2048-bit prime whose (p-1)/2 is composite is not a safe prime.
    #[test]
    fn g1_rejects_non_safe_prime() {
        let mut rng = rng();
        let p = crate::crypto::random_prime(2048, &mut rng).unwrap();
        assert_eq!(check_dh_prime(&p, &mut rng), dh_err(DhCheck::NotSafePrime));
    }

    /// G-1: a prime already proven is remembered; the next check draws no
    /// randomness. (The cache is poked directly with a unique value.)
    #[test]
    fn g1_cache_skips_repeated_proof() {
        struct NoRng;
        impl RngCore for NoRng {
            fn next_u32(&mut self) -> u32 {
                panic!("cache miss: Miller–Rabin ran")
            }
            fn next_u64(&mut self) -> u64 {
                panic!("cache miss: Miller–Rabin ran")
            }
            fn fill_bytes(&mut self, _: &mut [u8]) {
                panic!("cache miss: Miller–Rabin ran")
            }
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand::Error> {
                panic!("cache miss: Miller–Rabin ran")
            }
        }
        impl CryptoRng for NoRng {}
        let p = telegram_dh_prime() + (BigUint::one() << 100u32);
        remember(&p);
        assert_eq!(check_dh_prime(&p, &mut NoRng), Ok(()));
        assert_eq!(check_dh_prime(&telegram_dh_prime(), &mut NoRng), Ok(()));
    }

    /// G-2, TV §2: for the Telegram prime (p mod 7 = 6) g = 3, 4 and 7
    /// qualify. TV §2's prose says "only g = 3 and g = 4", but its own
    /// residue p mod 7 = 6 meets the g = 7 rule, and Euler's criterion below
    /// confirms 7 generates the subgroup.
    #[test]
    fn g2_accepts_3_4_7_for_telegram_prime() {
        let p = telegram_dh_prime();
        for g in [3, 4, 7] {
            assert_eq!(check_g(g, &p), Ok(()), "g={g}");
        }
    }

    /// G-2, TV §2: g = 2, 5, 6 fail their residue condition on this prime.
    #[test]
    fn g2_rejects_g_with_wrong_residue() {
        let p = telegram_dh_prime();
        for g in [2, 5, 6] {
            assert_eq!(check_g(g, &p), dh_err(DhCheck::GeneratorWrongResidue(g)));
        }
    }

    /// G-2: the residue table agrees with the definition. For a safe prime,
    /// g generates the subgroup of order q = (p-1)/2 iff g^q ≡ 1 (mod p).
    #[test]
    fn g2_residue_table_agrees_with_euler_criterion() {
        let p = telegram_dh_prime();
        let q = &p >> 1u32;
        for g in 2u32..=7 {
            let generates = BigUint::from(g).modpow(&q, &p).is_one();
            assert_eq!(check_g(g, &p).is_ok(), generates, "g={g}");
        }
    }

    /// G-2: g outside 2..=7 is never accepted.
    #[test]
    fn g2_rejects_g_outside_2_to_7() {
        let p = telegram_dh_prime();
        for g in [0, 1, 8, 9, 65537, u32::MAX] {
            assert_eq!(check_g(g, &p), dh_err(DhCheck::GeneratorNotAllowed(g)));
        }
    }

    /// G-2: the residue table, checked over a full period of p mod 840
    /// (840 = lcm(8, 3, 5, 24, 7)).
    #[test]
    fn g2_residue_table() {
        let base = BigUint::one() << 2047u32;
        for k in 0u32..840 {
            let p = &base + k;
            let r = |m: u32| (&p % m).to_u32().unwrap();
            let expected = [
                (2, r(8) == 7),
                (3, r(3) == 2),
                (4, true),
                (5, r(5) == 1 || r(5) == 4),
                (6, r(24) == 19 || r(24) == 23),
                (7, [3, 5, 6].contains(&r(7))),
            ];
            for (g, ok) in expected {
                let got = check_g(g, &p);
                if ok {
                    assert_eq!(got, Ok(()), "g={g} k={k}");
                } else {
                    assert_eq!(
                        got,
                        dh_err(DhCheck::GeneratorWrongResidue(g)),
                        "g={g} k={k}"
                    );
                }
            }
        }
    }

    /// G-3: g itself must satisfy 1 < g < p - 1 (only a tiny p can break it).
    #[test]
    fn g3_rejects_g_not_below_p_minus_1() {
        // g = 4 has no residue condition, so only the range check can fail.
        assert_eq!(
            check_g(4, &BigUint::from(5u32)),
            dh_err(DhCheck::ValueOutOfRange(DhValue::G))
        );
        assert_eq!(
            check_g(4, &BigUint::zero()),
            dh_err(DhCheck::ValueOutOfRange(DhValue::G))
        );
    }

    /// G-3, TV §1.6, §1.7: the sample g_a and g_b pass.
    #[test]
    fn g3_accepts_sample_g_a_and_g_b() {
        let p = telegram_dh_prime();
        assert_eq!(check_dh_value(&big(G_A), &p, DhValue::GA), Ok(()));
        assert_eq!(check_dh_value(&big(G_B), &p, DhValue::GB), Ok(()));
    }

    /// G-3: values at or outside (1, p - 1) are rejected, naming the value.
    #[test]
    fn g3_rejects_values_outside_1_to_p_minus_1() {
        let p = telegram_dh_prime();
        for x in [
            BigUint::zero(),
            BigUint::one(),
            &p - 1u32,
            p.clone(),
            &p + 1u32,
        ] {
            assert_eq!(
                check_dh_value(&x, &p, DhValue::GA),
                dh_err(DhCheck::ValueOutOfRange(DhValue::GA))
            );
            assert_eq!(
                check_dh_value(&x, &p, DhValue::GB),
                dh_err(DhCheck::ValueOutOfRange(DhValue::GB))
            );
        }
    }

    /// G-3: g_a = 2^1984 - 1 is rejected, 2^1984 is the smallest accepted.
    #[test]
    fn g3_rejects_g_a_below_2_pow_1984() {
        let p = telegram_dh_prime();
        let bound = BigUint::one() << 1984u32;
        assert_eq!(
            check_dh_value(&(&bound - 1u32), &p, DhValue::GA),
            dh_err(DhCheck::ValueNotInSafeRange(DhValue::GA))
        );
        assert_eq!(
            check_dh_value(&BigUint::from(2u32), &p, DhValue::GA),
            dh_err(DhCheck::ValueNotInSafeRange(DhValue::GA))
        );
        assert_eq!(check_dh_value(&bound, &p, DhValue::GA), Ok(()));
    }

    /// G-3: g_b = p - 2^1984 + 1 is rejected, p - 2^1984 is the largest accepted.
    #[test]
    fn g3_rejects_g_b_above_p_minus_2_pow_1984() {
        let p = telegram_dh_prime();
        let top = &p - (BigUint::one() << 1984u32);
        assert_eq!(
            check_dh_value(&(&top + 1u32), &p, DhValue::GB),
            dh_err(DhCheck::ValueNotInSafeRange(DhValue::GB))
        );
        assert_eq!(
            check_dh_value(&(&p - 2u32), &p, DhValue::GB),
            dh_err(DhCheck::ValueNotInSafeRange(DhValue::GB))
        );
        assert_eq!(check_dh_value(&top, &p, DhValue::GB), Ok(()));
    }

    /// B-6, TV §1.7, §1.9: g_b = 3^b and auth_key = g_a^b, both as
    /// 256 big-endian bytes.
    #[test]
    fn a17_modpow_reproduces_sample_g_b_and_auth_key() {
        let p = telegram_dh_prime();
        let b = big(B);
        let g_b = modpow_be256(&BigUint::from(3u32), &b, &p).unwrap();
        assert_eq!(g_b, arr::<256>(G_B));
        let auth_key = modpow_be256(&big(G_A), &b, &p).unwrap();
        assert_eq!(auth_key, arr::<256>(SAMPLE_AUTH_KEY));
    }

    /// B-6: short results are left-padded; too-wide values and bad moduli are
    /// errors, not panics.
    #[test]
    fn b6_fixed_width_output() {
        let p = telegram_dh_prime();
        let out = modpow_be256(&BigUint::from(2u32), &BigUint::from(10u32), &p).unwrap();
        assert!(out[..254].iter().all(|&b| b == 0));
        assert_eq!(out[254..], [0x04, 0x00]);
        assert_eq!(to_be_256(&BigUint::zero()).unwrap(), [0u8; 256]);
        assert_eq!(
            to_be_256(&(BigUint::one() << 2048u32)),
            Err(CryptoError::DataTooLong { len: 257, max: 256 })
        );
        assert!(matches!(
            modpow_be256(&p, &p, &BigUint::zero()),
            Err(CryptoError::InvalidArgument(_))
        ));
        assert!(matches!(
            modpow_be256(&p, &p, &(BigUint::one() << 2048u32)),
            Err(CryptoError::InvalidArgument(_))
        ));
    }
}
