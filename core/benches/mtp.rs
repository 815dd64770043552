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
            // auth_key_id, msg_key, then whole AES blocks (E-1).
            assert!(out.len() % 16 == 8 && out.len() >= 8 + 16 + 32 + 352);
            assert_eq!(out[..8], key.id());
            out.len()
        })
    });
    // And the bytes it makes are the message (checked once: decrypting
    // inside the loop would measure decryption too).
    let mut sealed = Vec::new();
    encrypt(
        &key,
        Direction::ClientToServer,
        &header,
        &body,
        &mut rng,
        &mut sealed,
    );
    let opened = decrypt(&key, Direction::ClientToServer, &mut sealed).unwrap();
    assert_eq!(sealed[opened.body], body[..]);

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
                let m = decrypt(&key, Direction::ServerToClient, p).unwrap();
                assert_eq!(p[m.body.clone()], body[..]);
                assert_eq!(m.header.msg_id, header.msg_id);
                m.body.len()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
