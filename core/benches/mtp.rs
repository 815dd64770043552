//! MTProto 2.0 message throughput: pack+encrypt and decrypt+unpack of a
//! 352-byte body (the median real message), as a client would send and a
//! client would receive.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mtproto::crypto::{AuthKey, Direction};
use mtproto::mtp::envelope::{decrypt, encrypt, Header};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn key() -> AuthKey {
    let mut k = [0u8; 256];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i * 31 + 7) as u8;
    }
    AuthKey::from_bytes(&k)
}

fn bench(c: &mut Criterion) {
    let key = key();
    let body = vec![0x5Au8; 352];
    let header = Header {
        salt: 0x1122334455667788,
        session_id: 0x0102030405060708,
        msg_id: 0x6777E5EE12345678,
        seq_no: 1,
    };
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("mtp");
    g.throughput(Throughput::Elements(1));

    let mut out = Vec::with_capacity(2048);
    g.bench_function("pack_encrypt_352", |b| {
        b.iter(|| {
            out.clear();
            encrypt(
                &key,
                Direction::ClientToServer,
                &header,
                &body,
                &mut rng,
                &mut out,
            );
            out.len()
        })
    });

    let mut packet = Vec::new();
    encrypt(
        &key,
        Direction::ServerToClient,
        &header,
        &body,
        &mut rng,
        &mut packet,
    );
    g.bench_function("decrypt_unpack_352", |b| {
        b.iter_batched_ref(
            || packet.clone(),
            |p| {
                decrypt(&key, Direction::ServerToClient, p)
                    .unwrap()
                    .body
                    .len()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
