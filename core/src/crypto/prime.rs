//! Primality and factoring: Miller–Rabin for big numbers (RSA key
//! generation, the G-1 safe-prime check), and the handshake's proof of work,
//! splitting a 64-bit `pq` into its two primes.

use num_bigint::{BigUint, RandBigInt};
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};
use rand::{CryptoRng, RngCore};

use super::CryptoError;

/// How many small primes trial division uses before any Miller–Rabin round.
const SMALL_PRIME_COUNT: usize = 300;

/// The first [`SMALL_PRIME_COUNT`] primes (2 ..= 1987), built at compile time.
pub(crate) const SMALL_PRIMES: [u32; SMALL_PRIME_COUNT] = {
    let mut out = [0u32; SMALL_PRIME_COUNT];
    let mut count = 0;
    let mut n = 2u32;
    while count < SMALL_PRIME_COUNT {
        let mut i = 0;
        let mut prime = true;
        while i < count && out[i] * out[i] <= n {
            if n % out[i] == 0 {
                prime = false;
                break;
            }
            i += 1;
        }
        if prime {
            out[count] = n;
            count += 1;
        }
        n += 1;
    }
    out
};

/// Miller–Rabin rounds for the primes of [`random_prime`]. The candidates
/// are random, not adversarial, so 20 rounds leave an error probability far
/// below 2^-80.
const RANDOM_PRIME_ROUNDS: u32 = 20;

/// Outcome of trial division by [`SMALL_PRIMES`].
enum Trial {
    Prime,
    Composite,
    Unknown,
}

fn trial_division(n: &BigUint) -> Trial {
    if let Some(small) = n.to_u32() {
        if small < 2 {
            return Trial::Composite;
        }
        if SMALL_PRIMES.binary_search(&small).is_ok() {
            return Trial::Prime;
        }
    }
    for &p in SMALL_PRIMES.iter() {
        if (n % p).is_zero() {
            return Trial::Composite;
        }
    }
    Trial::Unknown
}

/// Miller–Rabin with `rounds` random bases in `[2, n-2]`; `n` must be odd and
/// larger than every small prime (trial division has run).
fn miller_rabin<R: RngCore + CryptoRng>(n: &BigUint, rounds: u32, rng: &mut R) -> bool {
    let one = BigUint::one();
    let n_minus_1 = n - &one;
    let s = n_minus_1.trailing_zeros().unwrap_or(0);
    let d = &n_minus_1 >> s;
    let two = BigUint::from(2u32);
    'rounds: for _ in 0..rounds {
        // Random bases: a fixed base set can be defeated by a crafted
        // composite, and G-1 checks primes chosen by the peer.
        let a = rng.gen_biguint_range(&two, &n_minus_1);
        let mut x = a.modpow(&d, n);
        if x == one || x == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = &x * &x % n;
            if x == n_minus_1 {
                continue 'rounds;
            }
            if x == one {
                return false;
            }
        }
        return false;
    }
    true
}

/// Probabilistic primality test: trial division by small primes, then
/// `rounds` Miller–Rabin rounds with random bases. A composite survives a
/// round with probability at most 1/4. Returns `true` for "probably prime".
pub fn is_probable_prime<R: RngCore + CryptoRng>(n: &BigUint, rounds: u32, rng: &mut R) -> bool {
    match trial_division(n) {
        Trial::Prime => true,
        Trial::Composite => false,
        Trial::Unknown => miller_rabin(n, rounds, rng),
    }
}

/// A random prime of exactly `bits` bits whose two top bits are set, so the
/// product of two such primes has exactly `2 * bits` bits (an RSA modulus of
/// the requested size). `bits` must be in 16..=16384.
///
/// Candidates are searched upwards from a random odd start; residues modulo
/// the small primes are kept as integers, so most composites are rejected
/// without any big-number arithmetic.
pub fn random_prime<R: RngCore + CryptoRng>(
    bits: u64,
    rng: &mut R,
) -> Result<BigUint, CryptoError> {
    if !(16..=16384).contains(&bits) {
        return Err(CryptoError::InvalidArgument(
            "random_prime supports 16 to 16384 bits",
        ));
    }
    const WINDOW: u32 = 1 << 16;
    loop {
        let mut base = rng.gen_biguint(bits);
        base.set_bit(bits - 1, true);
        base.set_bit(bits - 2, true);
        base.set_bit(0, true);
        let residues: Vec<u32> = SMALL_PRIMES
            .iter()
            .map(|&p| (&base % p).to_u32().unwrap_or(0))
            .collect();
        for delta in (0..WINDOW).step_by(2) {
            let divisible = SMALL_PRIMES
                .iter()
                .zip(&residues)
                .any(|(&p, &r)| (r + delta) % p == 0);
            if divisible {
                continue;
            }
            let candidate = &base + delta;
            if candidate.bits() != bits {
                break; // ran past 2^bits; start over from a new base
            }
            if miller_rabin(&candidate, RANDOM_PRIME_ROUNDS, rng) {
                return Ok(candidate);
            }
        }
    }
}

#[inline]
fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    let mut acc = 1 % m;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    acc
}

/// Deterministic primality for any `u64`: Miller–Rabin with the first twelve
/// primes as bases is exact below 3.3·10^24, which covers all of `u64`.
pub fn is_prime_u64(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'bases: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// One Pollard–Brent run with `f(y) = y^2 + c mod n`; returns a factor in
/// `(1, n)` or `None` if this `c` only found `n` itself or hit the budget.
fn brent(n: u64, c: u64) -> Option<u64> {
    // Products of differences are accumulated and checked with one gcd
    // every BATCH steps; cycles for a 32-bit factor take ~2^16 steps.
    const BATCH: u64 = 128;
    const MAX_R: u64 = 1 << 24;
    let f = |y: u64| ((y as u128 * y as u128 + c as u128) % n as u128) as u64;
    let (mut y, mut r, mut q, mut g) = (2u64 % n, 1u64, 1u64, 1u64);
    let (mut x, mut ys) = (y, y);
    while g == 1 {
        x = y;
        for _ in 0..r {
            y = f(y);
        }
        let mut k = 0;
        while k < r && g == 1 {
            ys = y;
            for _ in 0..BATCH.min(r - k) {
                y = f(y);
                q = mul_mod(q, x.abs_diff(y), n);
            }
            g = q.gcd(&n);
            k += BATCH;
        }
        r *= 2;
        if r > MAX_R {
            return None;
        }
    }
    if g == n {
        // The batch overshot: replay it one step at a time.
        loop {
            ys = f(ys);
            g = x.abs_diff(ys).gcd(&n);
            if g > 1 {
                break;
            }
        }
    }
    (g != n).then_some(g)
}

/// Splits the handshake's `pq` into primes `p < q`.
///
/// Returns `Some((p, q))` exactly when `pq = p * q` for two distinct primes,
/// and `None` for anything else (0, 1, a prime, a square, three or more prime
/// factors), so the result can be sent without further checks. Small
/// factors, including 2, are found by trial division; the rest by
/// Pollard–Brent with 128-bit multiplication, which handles factors close
/// to 2^32 and products up to 2^64 - 1.
pub fn factorize_pq(pq: u64) -> Option<(u64, u64)> {
    if pq < 4 || is_prime_u64(pq) {
        return None;
    }
    let factor = SMALL_PRIMES
        .iter()
        .map(|&p| p as u64)
        .find(|&p| pq % p == 0)
        .or_else(|| (1..=32).find_map(|c| brent(pq, c)))?;
    let (a, b) = (factor, pq / factor);
    let (p, q) = (a.min(b), a.max(b));
    (p != q && is_prime_u64(p) && is_prime_u64(q)).then_some((p, q))
}

/// A fresh `(pq, p, q)` for the server's resPQ: two distinct random
/// 31-bit primes (in `[2^30, 2^31)`, like the published sample), `p < q`, so
/// `pq < 2^62` fits a signed 64-bit value.
pub fn generate_pq<R: RngCore + CryptoRng>(rng: &mut R) -> (u64, u64, u64) {
    let mut prime31 = || loop {
        let c = (rng.next_u32() as u64 & 0x3FFF_FFFF) | 0x4000_0001;
        if is_prime_u64(c) {
            return c;
        }
    };
    let p = prime31();
    let q = loop {
        let q = prime31();
        if q != p {
            break q;
        }
    };
    let (p, q) = (p.min(q), p.max(q));
    (p * q, p, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0x004d_5450_524f_544f)
    }

    /// A-4, TV §1.3: the published pq splits into the published p < q.
    #[test]
    fn a4_factorizes_sample_pq() {
        assert_eq!(
            factorize_pq(1372318559046200203),
            Some((1141464581, 1202243663))
        );
        assert_eq!(0x130B7475669FEB8B_u64, 1372318559046200203);
    }

    fn random_prime_u32(rng: &mut StdRng) -> u64 {
        loop {
            let c = (rng.next_u32() | 0x8000_0001) as u64;
            if is_prime_u64(c) {
                return c;
            }
        }
    }

    /// 200 products of two random 32-bit primes (up to ~2^64).
    #[test]
    fn a4_factorizes_200_random_semiprimes() {
        let mut rng = rng();
        for _ in 0..200 {
            let (a, b) = (random_prime_u32(&mut rng), random_prime_u32(&mut rng));
            if a == b {
                continue;
            }
            let (p, q) = (a.min(b), a.max(b));
            assert_eq!(factorize_pq(p * q), Some((p, q)), "{p} * {q}");
        }
    }

    /// factors next to 2^32, products next to 2^64, and small or even
    /// factors.
    #[test]
    fn a4_factorizes_edge_semiprimes() {
        let cases: [(u64, u64); 7] = [
            (4294967279, 4294967291), // the two largest primes < 2^32
            (4294967279, 4294967311), // straddling 2^32, product ≈ 2^64 - 2^33
            (65521, 281474976710597), // unbalanced: 16-bit times 48-bit
            (2, 9223372036854775783), // even, product = 2^64 - 50
            (3, 6148914691236517199), // product = 2^64 - 19
            (1987, 1993),             // both from the trial-division table
            (2003, 4294967291),       // just above the table
        ];
        for (p, q) in cases {
            assert!(is_prime_u64(p) && is_prime_u64(q), "{p} {q}");
            let pq = p.checked_mul(q).unwrap();
            assert_eq!(factorize_pq(pq), Some((p, q)), "{p} * {q}");
        }
    }

    /// anything that is not a product of two distinct primes gives
    /// `None` instead of a wrong answer.
    #[test]
    fn a4_rejects_non_semiprimes() {
        for n in [
            0u64,
            1,
            2,
            3,
            4,                           // 2 * 2
            30,                          // 2 * 3 * 5
            4294967291,                  // prime
            18446744073709551557,        // largest prime < 2^64
            u64::MAX,                    // 3 * 5 * 17 * 257 * 641 * 65537 * 6700417
            4294967291 * 4294967291,     // a square
            1141464581 * 1202243663 * 2, // three factors
        ] {
            assert_eq!(factorize_pq(n), None, "{n}");
        }
    }

    /// server-side pq generation gives distinct 31-bit primes,
    /// p < q, pq < 2^63, and the client's factorizer inverts it.
    #[test]
    fn a2_generate_pq_is_factorizable() {
        let mut rng = rng();
        for _ in 0..50 {
            let (pq, p, q) = generate_pq(&mut rng);
            assert!(p < q && is_prime_u64(p) && is_prime_u64(q));
            assert!((1 << 30..1 << 31).contains(&p) && (1 << 30..1 << 31).contains(&q));
            assert!(pq < 1 << 63);
            assert_eq!(factorize_pq(pq), Some((p, q)));
        }
    }

    /// A-4, A-9: the u64 primality test behind factorize_pq's "both factors
    /// are prime" guarantee (and the server's p, q check) agrees with trial
    /// division on small numbers and rejects classic strong pseudoprimes.
    #[test]
    fn is_prime_u64_is_exact() {
        for n in 0u64..5000 {
            let naive = n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            assert_eq!(is_prime_u64(n), naive, "{n}");
        }
        // Strong pseudoprimes to several small bases.
        for n in [
            2047u64,
            1373653,
            25326001,
            3215031751,
            2152302898747,
            3474749660383,
            341550071728321,
            3825123056546413051,
        ] {
            assert!(!is_prime_u64(n), "{n}");
        }
    }

    /// G-1: Miller–Rabin accepts known big primes and rejects Carmichael
    /// numbers and products of big primes.
    #[test]
    fn miller_rabin_known_values() {
        let mut rng = rng();
        let m127 = (BigUint::one() << 127u32) - 1u32;
        let m521 = (BigUint::one() << 521u32) - 1u32;
        assert!(is_probable_prime(&m127, 20, &mut rng));
        assert!(is_probable_prime(&m521, 20, &mut rng));
        assert!(!is_probable_prime(&(&m127 * &m521), 20, &mut rng));
        for carmichael in [
            561u64,
            41041,
            825265,
            321197185,
            5394826801,
            232250619601,
            9746347772161,
        ] {
            assert!(
                !is_probable_prime(&BigUint::from(carmichael), 20, &mut rng),
                "{carmichael}"
            );
        }
        assert!(!is_probable_prime(&BigUint::zero(), 20, &mut rng));
        assert!(!is_probable_prime(&BigUint::one(), 20, &mut rng));
        assert!(is_probable_prime(&BigUint::from(2u32), 20, &mut rng));
        assert!(is_probable_prime(&BigUint::from(1987u32), 20, &mut rng));
        assert!(is_probable_prime(
            &BigUint::from(4294967291u64),
            20,
            &mut rng
        ));
    }

    /// A-9 (server RSA key): random_prime gives the exact bit length with the
    /// top two bits set, and a prime; too few or too many bits is an error.
    #[test]
    fn random_prime_has_requested_size() {
        let mut rng = rng();
        for bits in [16u64, 17, 64, 256, 512] {
            let p = random_prime(bits, &mut rng).unwrap();
            assert_eq!(p.bits(), bits);
            assert!(p.bit(bits - 2));
            assert!(is_probable_prime(&p, 30, &mut rng));
        }
        for bits in [0, 15, 16385, u64::MAX] {
            assert!(matches!(
                random_prime(bits, &mut rng),
                Err(CryptoError::InvalidArgument(_))
            ));
        }
    }
}
