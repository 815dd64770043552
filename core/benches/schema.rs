//! What `Schema::telegram()` costs on its first call: inflating the bundled
//! `api.tl` and parsing it (plus the service schema). The parse of the
//! already inflated text is the same-run reference, so the share that the
//! compression adds is a ratio of two figures of one run.
//!
//! Every iteration checks its answer: the inflated text has the length the
//! build script recorded, and the parsed schema encodes `help.getConfig`.

use criterion::{criterion_group, criterion_main, Criterion};
use mtproto::tl::schema::{api_tl_text, Schema, API_LAYER};
use std::hint::black_box;
use std::time::Duration;

fn schema(c: &mut Criterion) {
    let text = api_tl_text();
    let expected_len = text.len();
    let check = |s: &Schema| {
        assert!(s.len() > 2000);
        let bytes = s
            .encode(&serde_json::json!({"_": "help.getConfig"}))
            .unwrap();
        assert_eq!(bytes, 0xc4f9186bu32.to_le_bytes());
    };
    let mut group = c.benchmark_group("telegram_schema");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("inflate", |b| {
        b.iter(|| {
            let t = api_tl_text();
            assert_eq!(t.len(), expected_len);
            black_box(t)
        })
    });
    group.bench_function("parse_inflated_text", |b| {
        b.iter(|| {
            let s = Schema::parse(black_box(&text)).unwrap();
            check(&s);
            s
        })
    });
    group.bench_function("first_call_inflate_and_parse", |b| {
        b.iter(|| {
            let s = Schema::load_telegram();
            assert_eq!(s.layer(), Some(API_LAYER));
            check(&s);
            s
        })
    });
    group.bench_function("cached_call", |b| {
        b.iter(|| {
            let s = Schema::telegram();
            assert_eq!(s.layer(), Some(API_LAYER));
            s
        })
    });
    group.finish();
}

criterion_group!(benches, schema);
criterion_main!(benches);
