//! Client CPU time of one full key exchange (A-2..A-19).
//!
//! The client runs against the real server role in memory, but only the
//! time spent inside `ClientHandshake::start` and `ClientHandshake::handle`
//! is counted (`iter_custom`), so the server's RSA decryption and its two
//! modexps do not inflate the figure. Replies cannot be pre-recorded: every
//! run has fresh nonces.
//!
//! With Telegram's published prime the G-1 check is a comparison (the
//! crypto layer whitelists it and caches every other proven prime), so the
//! figure is dominated by the two 2048-bit modexps g^b and g_a^b. The
//! second benchmark shows what an uncached G-1 proof would add once: 30
//! Miller–Rabin rounds each for p and (p − 1)/2.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mtproto::auth::{
    ClientConfig, ClientHandshake, ClientStep, ServerConfig, ServerHandshake, ServerStep,
};
use mtproto::crypto::{is_probable_prime, telegram_dh_prime, RsaPrivateKey, SAFE_PRIME_ROUNDS};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn client_key_exchange(c: &mut Criterion) {
    let key = RsaPrivateKey::generate(2048, &mut StdRng::seed_from_u64(7)).expect("RSA key");
    let server_config = Arc::new(ServerConfig::new(vec![key.clone()], 2));
    let client_config = ClientConfig::new(vec![key.public()], 2);
    let mut crng = StdRng::seed_from_u64(1);
    let mut srng = StdRng::seed_from_u64(2);
    let now = Duration::from_secs(1_700_000_000);

    let mut group = c.benchmark_group("auth");
    group.sample_size(30);
    group.bench_function("client_key_exchange", |b| {
        b.iter_custom(|iters| {
            let mut client_time = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (mut client, mut query) =
                    ClientHandshake::start(client_config.clone(), &mut crng);
                client_time += t.elapsed();
                let mut server = ServerHandshake::new(server_config.clone());
                let mut server_key = None;
                loop {
                    let reply = match server.handle(&query, now, &mut srng, |_| false) {
                        Ok(ServerStep::Reply(r)) => r,
                        Ok(ServerStep::Done { reply, outcome }) => {
                            server_key = Some(outcome.auth_key);
                            reply
                        }
                        Err(e) => panic!("server: {e}"),
                    };
                    let t = Instant::now();
                    let step = client.handle(&reply, now, &mut crng);
                    client_time += t.elapsed();
                    match step {
                        Ok(ClientStep::Send(next)) => query = next,
                        Ok(ClientStep::Done(outcome)) => {
                            // Both ends derived the same key.
                            assert_eq!(Some(&outcome.auth_key), server_key.as_ref());
                            black_box(outcome);
                            break;
                        }
                        Err(e) => panic!("client: {e}"),
                    }
                }
            }
            client_time
        })
    });

    let p = telegram_dh_prime();
    let half = &p >> 1u32;
    let mut rng = StdRng::seed_from_u64(3);
    group.sample_size(10);
    group.bench_function("g1_safe_prime_proof_uncached", |b| {
        b.iter(|| {
            let ok = is_probable_prime(&p, SAFE_PRIME_ROUNDS, &mut rng)
                && is_probable_prime(&half, SAFE_PRIME_ROUNDS, &mut rng);
            assert!(ok, "Telegram's prime is a safe prime (G-1)");
            black_box(ok)
        })
    });
    group.finish();
}

criterion_group!(benches, client_key_exchange);
criterion_main!(benches);
