//! Framing cost of one typical packet: a 352-byte payload encoded by the
//! client codec and decoded by the server codec, plain intermediate and
//! obfuscated padded intermediate (AES-CTR both ways included).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mtproto::transport::{ClientCodec, Framing, ObfuscationParams, ServerCodec, ServerConfig};
use rand::{rngs::StdRng, SeedableRng};

const PAYLOAD_LEN: usize = 352;

/// An unencrypted-message-shaped payload (auth_key_id 0, data length at
/// offset 16), so that the padded receiver's strip rule finds its end.
fn payload() -> Vec<u8> {
    let mut p = vec![0u8; PAYLOAD_LEN];
    p[8..16].copy_from_slice(&0x6777_E5EB_0000_0004u64.to_le_bytes());
    p[16..20].copy_from_slice(&((PAYLOAD_LEN - 20) as u32).to_le_bytes());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn round_trip(
    c: &mut Criterion,
    name: &str,
    framing: Framing,
    obfuscation: Option<ObfuscationParams>,
) {
    let payload = payload();
    let mut client = ClientCodec::new(framing, obfuscation, StdRng::seed_from_u64(1)).unwrap();
    let mut server = ServerCodec::new(ServerConfig::default(), StdRng::seed_from_u64(2));
    let mut out = Vec::with_capacity(1024);
    // Let the server detect the transport before measuring.
    client.encode(&payload, false, &mut out).unwrap();
    server.feed(&out).unwrap();
    server.poll().unwrap().unwrap();

    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            client.encode(black_box(&payload), false, &mut out).unwrap();
            let taken = server.feed(&out).unwrap();
            assert_eq!(taken, out.len());
            let got = server.poll().unwrap().unwrap();
            assert_eq!(got.payload, payload);
            black_box(got)
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    round_trip(c, "intermediate_352", Framing::Intermediate, None);
    round_trip(
        c,
        "obfuscated_padded_352",
        Framing::PaddedIntermediate,
        Some(ObfuscationParams::direct()),
    );
}

criterion_group! {
    name = transport;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(transport);
