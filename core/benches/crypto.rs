//! Throughput of AES-256-IGE, the per-message cipher of MTProto (E-5).
//!
//! `ige_encrypt` / `ige_decrypt` use an already expanded key, the same
//! conditions as `openssl speed -evp aes-256-cbc` (see
//! `scripts/bench-ige.sh`). The `oneshot` groups add the key expansion each
//! message pays, since MTProto derives a fresh key per message (E-4).

use aes::Aes256;
use cipher::KeyInit;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mtproto::crypto::{ige_decrypt, ige_decrypt_with, ige_encrypt, ige_encrypt_with};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 5] = [64, 352, 4 * 1024, 64 * 1024, 1024 * 1024];

fn ige(c: &mut Criterion) {
    let key = [0x5Au8; 32];
    let iv = [0xA5u8; 32];
    let cipher = Aes256::new(&key.into());
    // The loops below check only that each call succeeds (they work in
    // place, so the data changes every iteration); that the routines
    // invert each other with these very parameters is checked here.
    for size in SIZES {
        let plain: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut data = plain.clone();
        ige_encrypt_with(&cipher, &mut data, &iv).unwrap();
        assert_ne!(data, plain);
        ige_decrypt(&mut data, &key, &iv).unwrap();
        assert_eq!(data, plain);
    }

    for (name, oneshot, decrypt) in [
        ("ige_encrypt", false, false),
        ("ige_decrypt", false, true),
        ("ige_encrypt_oneshot", true, false),
        ("ige_decrypt_oneshot", true, true),
    ] {
        let mut group = c.benchmark_group(name);
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for size in SIZES {
            let mut buf = vec![0x11u8; size];
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
                b.iter(|| {
                    let data = black_box(&mut buf[..]);
                    let r = match (oneshot, decrypt) {
                        (false, false) => ige_encrypt_with(&cipher, data, &iv),
                        (false, true) => ige_decrypt_with(&cipher, data, &iv),
                        (true, false) => ige_encrypt(data, &key, &iv),
                        (true, true) => ige_decrypt(data, &key, &iv),
                    };
                    black_box(r).unwrap();
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, ige);
criterion_main!(benches);
