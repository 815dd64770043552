//! Whole-connection tests: the published-derived vectors through the codecs,
//! client↔server round trips over every framing and obfuscation mode with
//! chunked delivery, negative cases, and a no-panic property.

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};

use super::obfuscation::{derive_keys, AesCtr};
use super::test_util::ScriptRng;
use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// The sample req_pq_multi message of TV §7.2 (unencrypted, 40 bytes).
const REQ_PQ: &str =
    "000000000000000060970500EBE5776714000000F18E7EBE79F0AFB50252E5FC96924BFCECDA4F05";
const TV77_INIT: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F3031323334353637EFEFEFEF3C3D3E3F";
const TV78_INIT: &str = "101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F4041424344454647DDDDDDDDFCFFABCD";
const TV73_MSG_KEY_LARGE: &str = "D8C96245DFB082C5495E7CE134C3E7421E15D1E158C87EB87A68F420E58C89FC";

fn plain_client(framing: Framing, script: Vec<u8>) -> ClientCodec<ScriptRng> {
    ClientCodec::new(framing, None, ScriptRng::new(script)).unwrap()
}

fn server<R: RngCore>(secret: Option<MtProxySecret>, rng: R) -> ServerCodec<R> {
    ServerCodec::new(
        ServerConfig {
            mtproxy_secret: secret,
            ..ServerConfig::default()
        },
        rng,
    )
}

/// Feeds `wire` in the given chunk sizes (cycled), polling after each feed.
fn drain<T>(
    mut feed: impl FnMut(&[u8]) -> Result<usize, TransportError>,
    mut poll: impl FnMut() -> Result<Option<T>, TransportError>,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<T>, TransportError> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().cycle();
    while pos < wire.len() {
        let end = (pos + sizes.next().copied().unwrap_or(usize::MAX).max(1)).min(wire.len());
        let mut rest = &wire[pos..end];
        loop {
            let n = feed(rest)?;
            rest = &rest[n..];
            match poll()? {
                Some(item) => items.push(item),
                None => {
                    assert!(rest.is_empty(), "feed stalled with no item ready");
                    break;
                }
            }
        }
        pos = end;
    }
    Ok(items)
}

fn server_drain<R: RngCore>(
    s: &mut ServerCodec<R>,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Received>, TransportError> {
    let s = std::cell::RefCell::new(s);
    drain(
        |d| s.borrow_mut().feed(d),
        || s.borrow_mut().poll(),
        wire,
        chunks,
    )
}

fn client_drain<R: RngCore>(
    c: &mut ClientCodec<R>,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Incoming>, TransportError> {
    let c = std::cell::RefCell::new(c);
    drain(
        |d| c.borrow_mut().feed(d),
        || c.borrow_mut().poll(),
        wire,
        chunks,
    )
}

fn received(payload: &[u8], quick_ack_requested: bool) -> Received {
    Received {
        payload: payload.to_vec(),
        quick_ack_requested,
    }
}

/// T-3, TV §7.2: abridged first packet `EF 0A + payload`, read back by a
/// detecting server.
#[test]
fn t3_tv72_abridged_first_packet() {
    let mut c = plain_client(Framing::Abridged, vec![]);
    let mut wire = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    assert_eq!(wire, h(&format!("EF0A{REQ_PQ}")));
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[1]).unwrap(),
        vec![received(&h(REQ_PQ), false)]
    );
    assert_eq!(s.framing(), Some(Framing::Abridged));
}

/// T-4, TV §7.2: a quick-ack request on 40 bytes starts with `8A`.
#[test]
fn t4_tv72_abridged_quick_ack_request() {
    let mut c = plain_client(Framing::Abridged, vec![]);
    let mut wire = Vec::new();
    c.start(&mut wire);
    c.encode(&[0x11; 40], true, &mut wire).unwrap();
    assert_eq!(&wire[..2], &[0xEF, 0x8A]);
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[usize::MAX]).unwrap(),
        vec![received(&[0x11; 40], true)]
    );
}

/// T-3, TV §7.2: a server's 652-byte packet has prefix `7FA30000` and the
/// client reads it back.
#[test]
fn t3_tv72_abridged_long_server_packet() {
    let mut c = plain_client(Framing::Abridged, vec![]);
    let mut up = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut up).unwrap();
    let mut s = server(None, ScriptRng::new(vec![]));
    server_drain(&mut s, &up, &[usize::MAX]).unwrap();
    let mut down = Vec::new();
    s.encode(&[0x42; 652], &mut down).unwrap();
    assert_eq!(&down[..4], &h("7FA30000")[..]);
    assert_eq!(
        client_drain(&mut c, &down, &[3]).unwrap(),
        vec![Incoming::Packet(vec![0x42; 652])]
    );
}

/// T-5, TV §7.2: intermediate first packet `EEEEEEEE 28000000 + payload`.
#[test]
fn t5_tv72_intermediate_first_packet() {
    let mut c = plain_client(Framing::Intermediate, vec![]);
    let mut wire = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    assert_eq!(wire, h(&format!("EEEEEEEE28000000{REQ_PQ}")));
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[1]).unwrap(),
        vec![received(&h(REQ_PQ), false)]
    );
}

/// T-6, TV §7.2: padded first packet with padding `0102030405` from a
/// scripted rng (first byte: padding length 5); the server strips it.
#[test]
fn t6_tv72_padded_first_packet() {
    let mut c = plain_client(Framing::PaddedIntermediate, vec![5, 1, 2, 3, 4, 5]);
    let mut wire = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    assert_eq!(wire, h(&format!("DDDDDDDD2D000000{REQ_PQ}0102030405")));
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[1]).unwrap(),
        vec![received(&h(REQ_PQ), false)]
    );
}

/// T-8, TV §7.2: full packet with seq 0 and CRC `6B0CB839`, no init bytes;
/// the server detects it from the zero counter and checks the CRC.
#[test]
fn t8_tv72_full_first_packet() {
    let mut c = plain_client(Framing::Full, vec![]);
    let mut wire = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    assert_eq!(wire, h(&format!("3400000000000000{REQ_PQ}6B0CB839")));
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[1]).unwrap(),
        vec![received(&h(REQ_PQ), false)]
    );
    assert_eq!(s.framing(), Some(Framing::Full));
}

/// T-10, TV §7.3: the quick-ack token of the sample message.
#[test]
fn t10_tv73_quick_ack_token() {
    let large: [u8; 32] = h(TV73_MSG_KEY_LARGE).try_into().unwrap();
    assert_eq!(quick_ack_token(&large), 0xC562C9D8);
}

/// T-4, T-5, T-7, TV §7.3: a server's quick-ack reply in each framing, and
/// the client recognising it; byte forms for abridged and intermediate.
#[test]
fn t4_t5_t7_quick_ack_replies() {
    let token = 0xC562C9D8;
    for framing in [
        Framing::Abridged,
        Framing::Intermediate,
        Framing::PaddedIntermediate,
    ] {
        let mut c = plain_client(framing, vec![0; 64]);
        let mut up = Vec::new();
        c.encode(&h(REQ_PQ), true, &mut up).unwrap();
        let mut s = server(None, ScriptRng::new(vec![3, 0xA, 0xB, 0xC]));
        let got = server_drain(&mut s, &up, &[usize::MAX]).unwrap();
        assert_eq!(got, vec![received(&h(REQ_PQ), true)], "{framing:?}");
        let mut down = Vec::new();
        s.encode_quick_ack(token, &mut down).unwrap();
        match framing {
            Framing::Abridged => assert_eq!(down, h("C562C9D8")),
            Framing::Intermediate => assert_eq!(down, h("D8C962C5")),
            _ => assert_eq!(down, h("0B000000FFFFFFFFD8C962C50A0B0C")),
        }
        assert_eq!(
            client_drain(&mut c, &down, &[1]).unwrap(),
            vec![Incoming::QuickAck(token)],
            "{framing:?}"
        );
    }
}

/// T-11, TV §7.2: error packets from the server reach the client as typed
/// codes in every framing (padded ones with random padding).
#[test]
fn t11_error_packets_reach_client() {
    let codes = [
        TransportErrorCode::AuthKeyNotFound,
        TransportErrorCode::Flood,
        TransportErrorCode::InvalidDc,
        TransportErrorCode::Forbidden,
    ];
    for framing in Framing::ALL {
        let mut c = plain_client(framing, vec![]);
        let mut up = Vec::new();
        c.encode(&h(REQ_PQ), false, &mut up).unwrap();
        let mut s = server(None, StdRng::seed_from_u64(11));
        server_drain(&mut s, &up, &[usize::MAX]).unwrap();
        let mut down = Vec::new();
        for code in codes {
            s.encode_error(code, &mut down).unwrap();
        }
        let got = client_drain(&mut c, &down, &[2]).unwrap();
        assert_eq!(got, codes.map(Incoming::Error).to_vec(), "{framing:?}");
    }
    let mut s = server(None, ScriptRng::new(vec![]));
    server_drain(&mut s, &h(&format!("EF0A{REQ_PQ}")), &[usize::MAX]).unwrap();
    let mut down = Vec::new();
    s.encode_error(TransportErrorCode::AuthKeyNotFound, &mut down)
        .unwrap();
    assert_eq!(down, h("016CFEFFFF"));
}

/// T-14, T-16, TV §7.7: the sent header and the first packet's ciphertext,
/// byte for byte, and T-17: the server recovers the tag and the plaintext.
#[test]
fn t16_t17_tv77_obfuscated_first_packet() {
    let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
    let mut c = ClientCodec::from_init_bytes(Framing::Abridged, init, None, ScriptRng::new(vec![]))
        .unwrap();
    assert!(c.is_obfuscated());
    let mut wire = Vec::new();
    c.start(&mut wire);
    assert_eq!(
        wire,
        h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F30313233343536374719245F223DFD5D")
    );
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    assert_eq!(
        &wire[64..],
        &h("38A9C12838F1654122D107B81D49577CC5B2C4ADD906808593EFE6B3B64B0A367FED40C7767E2AE234")[..]
    );
    // Independent check of the server side: CTR(sent[8:40], sent[40:56])
    // over the header gives the tag, and continues into the plaintext.
    let mut stream = wire.clone();
    derive_keys(&wire[..64].try_into().unwrap(), None)
        .to_server
        .cipher()
        .apply_keystream(&mut stream);
    assert_eq!(&stream[56..60], &[0xEF; 4]);
    assert_eq!(stream[64..], h(&format!("0A{REQ_PQ}"))[..]);
    // And the server codec, one byte at a time.
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut s, &wire, &[1]).unwrap(),
        vec![received(&h(REQ_PQ), false)]
    );
    assert_eq!(s.framing(), Some(Framing::Abridged));
    assert!(s.is_obfuscated());
    assert_eq!(s.mtproxy_dc_id(), None);
}

use cipher::StreamCipher as _;

/// T-14, T-15, T-17, TV §7.8: the MTProxy sent header; a server holding the
/// secret finds padded framing and DC -4, and packets flow both ways.
#[test]
fn t15_t17_tv78_mtproxy() {
    let secret = MtProxySecret::from_hex("dd99999999999999999999999999999999").unwrap();
    let init: [u8; 64] = h(TV78_INIT).try_into().unwrap();
    let mut c = ClientCodec::from_init_bytes(
        Framing::PaddedIntermediate,
        init,
        Some(&secret),
        StdRng::seed_from_u64(78),
    )
    .unwrap();
    let mut wire = Vec::new();
    c.start(&mut wire);
    assert_eq!(
        wire,
        h("101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F4041424344454647A64DFB190008C297")
    );
    c.encode(&h(REQ_PQ), true, &mut wire).unwrap();
    let mut s = server(Some(secret.clone()), StdRng::seed_from_u64(1));
    assert_eq!(
        server_drain(&mut s, &wire, &[7]).unwrap(),
        vec![received(&h(REQ_PQ), true)]
    );
    assert_eq!(s.framing(), Some(Framing::PaddedIntermediate));
    assert_eq!(s.mtproxy_dc_id(), Some(-4));
    let mut down = Vec::new();
    s.encode_quick_ack(0xC562C9D8, &mut down).unwrap();
    s.encode(&h(REQ_PQ), &mut down).unwrap();
    assert_eq!(
        client_drain(&mut c, &down, &[5]).unwrap(),
        vec![Incoming::QuickAck(0xC562C9D8), Incoming::Packet(h(REQ_PQ))]
    );
    // A server without the secret cannot read the tag.
    let mut plain_server = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        server_drain(&mut plain_server, &wire, &[1]),
        Err(TransportError::UnknownProtocol)
    );
}

/// T-14: `from_init_bytes` refuses headers that break T-13 or carry the
/// wrong tag, and the full transport cannot be obfuscated at all.
#[test]
fn t13_t14_from_init_bytes_validation() {
    let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
    let rng = || ScriptRng::new(vec![]);
    assert!(matches!(
        ClientCodec::from_init_bytes(Framing::Intermediate, init, None, rng()),
        Err(TransportError::InvalidHeader(_))
    ));
    let mut bad = init;
    bad[..4].copy_from_slice(b"POST");
    assert!(matches!(
        ClientCodec::from_init_bytes(Framing::Abridged, bad, None, rng()),
        Err(TransportError::InvalidHeader(_))
    ));
    assert!(matches!(
        ClientCodec::new(Framing::Full, Some(ObfuscationParams::direct()), rng()),
        Err(TransportError::Unsupported(_))
    ));
}

/// T-17: a header whose encrypted tag was damaged is an unknown protocol,
/// and the codec stays poisoned for every later call.
#[test]
fn t17_invalid_obfuscation_tag_poisons() {
    let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
    let mut c = ClientCodec::from_init_bytes(Framing::Abridged, init, None, ScriptRng::new(vec![]))
        .unwrap();
    let mut wire = Vec::new();
    c.encode(&h(REQ_PQ), false, &mut wire).unwrap();
    wire[57] ^= 0x01;
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(s.feed(&wire[..63]), Ok(63));
    assert_eq!(s.feed(&wire[63..]), Err(TransportError::UnknownProtocol));
    assert_eq!(s.poll(), Err(TransportError::UnknownProtocol));
    assert_eq!(s.feed(&wire[64..]), Err(TransportError::UnknownProtocol));
    let mut out = Vec::new();
    assert_eq!(
        s.encode(&[0; 4], &mut out),
        Err(TransportError::UnknownProtocol)
    );
}

/// T-2: garbage, HTTP and (when required) plain transports are refused.
#[test]
fn t2_server_refusals() {
    let mut s = server(None, ScriptRng::new(vec![]));
    let garbage: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(91) | 1).collect();
    assert_eq!(
        server_drain(&mut s, &garbage, &[1]),
        Err(TransportError::UnknownProtocol)
    );
    let mut s = server(None, ScriptRng::new(vec![]));
    assert_eq!(
        s.feed(b"GET /apiw1 HTTP/1.1\r\n"),
        Err(TransportError::Unsupported("HTTP transport"))
    );
    let mut s = ServerCodec::new(
        ServerConfig {
            require_obfuscation: true,
            ..ServerConfig::default()
        },
        ScriptRng::new(vec![]),
    );
    assert!(matches!(
        s.feed(&[0xEE; 8]),
        Err(TransportError::Unsupported(_))
    ));
}

/// The server cannot send before it knows the framing; that is a caller
/// mistake, not a stream error, so it does not poison.
#[test]
fn server_encode_before_detection() {
    let mut s = server(None, ScriptRng::new(vec![]));
    let mut out = Vec::new();
    assert_eq!(
        s.encode(&[0; 4], &mut out),
        Err(TransportError::NotDetected)
    );
    assert!(out.is_empty());
    assert_eq!(s.feed(&[0xEF]), Ok(1));
    assert_eq!(s.framing(), Some(Framing::Abridged));
    s.encode(&[0; 4], &mut out).unwrap();
    assert_eq!(out, [1, 0, 0, 0, 0]);
}

/// T-9: a client refuses an oversized server frame from its header, also
/// through obfuscation, and a bad payload on encode leaves `out` intact.
#[test]
fn t9_client_limits() {
    for obf in [None, Some(ObfuscationParams::direct())] {
        let mut c = ClientCodec::new(Framing::Intermediate, obf.clone(), StdRng::seed_from_u64(9))
            .unwrap()
            .with_max_frame(1024);
        let mut up = Vec::new();
        c.encode(&h(REQ_PQ), false, &mut up).unwrap();
        let mut s = server(None, StdRng::seed_from_u64(9));
        server_drain(&mut s, &up, &[usize::MAX]).unwrap();
        let mut down = Vec::new();
        s.encode(&[0; 2048], &mut down).unwrap();
        assert_eq!(
            c.feed(&down[..4]),
            Err(TransportError::FrameTooLarge {
                len: 2048,
                max: 1024
            })
        );
        assert!(!c.has_partial_frame());
        assert!(c.encode(&[0; 4], false, &mut Vec::new()).is_err());
    }
    let mut c = plain_client(Framing::Abridged, vec![]);
    let mut out = vec![0xAA];
    assert!(c.encode(&[0; 3], false, &mut out).is_err());
    assert_eq!(out, [0xAA]);
    c.encode(&[0; 4], false, &mut out).unwrap();
    assert_eq!(out, [0xAA, 0xEF, 0x01, 0, 0, 0, 0]);
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Plain,
    Obfuscated,
    MtProxy,
}

/// A payload shaped like an MTProto message so that the padded strip rule
/// applies: unencrypted (auth_key_id 0, data length at 16) or encrypted
/// (24 + 16k bytes, nonzero auth_key_id).
fn random_message(rng: &mut StdRng) -> Vec<u8> {
    if rng.gen_bool(0.3) {
        let data_len = 4 * rng.gen_range(0..200usize);
        let mut m = vec![0u8; 8];
        m.extend(rng.gen::<u64>().to_le_bytes());
        m.extend((data_len as u32).to_le_bytes());
        m.extend((0..data_len).map(|_| rng.gen::<u8>()));
        m
    } else {
        let blocks = rng.gen_range(2..120usize);
        let mut m: Vec<u8> = (0..24 + 16 * blocks).map(|_| rng.gen()).collect();
        m[0] |= 1;
        m
    }
}

fn chunk_plans(rng: &mut StdRng) -> Vec<Vec<usize>> {
    vec![
        vec![usize::MAX],
        vec![1],
        (0..50).map(|_| rng.gen_range(1..200)).collect(),
    ]
}

/// T-1..T-8, T-12..T-17: client↔server round trips over every framing and
/// obfuscation mode, with whole, 1-byte and random chunking, quick-ack
/// requests and replies where the framing has them, and error codes.
#[test]
fn round_trips_every_framing_and_mode() {
    let secret = MtProxySecret::from_bytes(&[0x5C; 16]).unwrap();
    let mut rng = StdRng::seed_from_u64(2024);
    for framing in Framing::ALL {
        for mode in [Mode::Plain, Mode::Obfuscated, Mode::MtProxy] {
            let (params, server_secret) = match mode {
                Mode::Plain => (None, None),
                Mode::Obfuscated => (Some(ObfuscationParams::direct()), None),
                Mode::MtProxy => (
                    Some(ObfuscationParams::mtproxy(secret.clone(), -2)),
                    Some(secret.clone()),
                ),
            };
            let client_rng = StdRng::seed_from_u64(rng.gen());
            if framing == Framing::Full && params.is_some() {
                assert!(ClientCodec::new(framing, params, client_rng).is_err());
                continue;
            }
            for chunks in chunk_plans(&mut rng) {
                let ctx = format!("{framing:?} {mode:?} {:?}", &chunks[..1]);
                let mut c = ClientCodec::new(framing, params.clone(), client_rng.clone()).unwrap();
                let mut s = server(server_secret.clone(), StdRng::seed_from_u64(rng.gen()));
                let mut up = Vec::new();
                let mut sent = Vec::new();
                for _ in 0..8 {
                    let m = random_message(&mut rng);
                    let qa = framing.supports_quick_ack() && rng.gen_bool(0.5);
                    c.encode(&m, qa, &mut up).unwrap();
                    sent.push(received(&m, qa));
                }
                assert_eq!(server_drain(&mut s, &up, &chunks).unwrap(), sent, "{ctx}");
                assert_eq!(s.framing(), Some(framing), "{ctx}");
                assert_eq!(s.is_obfuscated(), params.is_some(), "{ctx}");
                if let Mode::MtProxy = mode {
                    assert_eq!(s.mtproxy_dc_id(), Some(-2), "{ctx}");
                }
                let mut down = Vec::new();
                let mut expect = Vec::new();
                for i in 0..8 {
                    let m = random_message(&mut rng);
                    s.encode(&m, &mut down).unwrap();
                    expect.push(Incoming::Packet(m));
                    if framing.supports_quick_ack() {
                        let token = rng.gen::<u32>() | 0x8000_0000;
                        s.encode_quick_ack(token, &mut down).unwrap();
                        expect.push(Incoming::QuickAck(token));
                    }
                    if i == 3 {
                        s.encode_error(TransportErrorCode::Flood, &mut down)
                            .unwrap();
                        expect.push(Incoming::Error(TransportErrorCode::Flood));
                    }
                }
                assert_eq!(
                    client_drain(&mut c, &down, &chunks).unwrap(),
                    expect,
                    "{ctx}"
                );
                assert!(!c.has_partial_frame());
                assert!(!s.has_partial_frame());
            }
        }
    }
}

/// T-16: the CTR streams continue across packets: a second connection with
/// the same header produces the same bytes only if nothing is reset.
#[test]
fn t16_stream_continues_across_packets() {
    let init: [u8; 64] = h(TV77_INIT).try_into().unwrap();
    let mut c = ClientCodec::from_init_bytes(Framing::Abridged, init, None, ScriptRng::new(vec![]))
        .unwrap();
    let mut wire = Vec::new();
    c.encode(&[1; 8], false, &mut wire).unwrap();
    c.encode(&[1; 8], false, &mut wire).unwrap();
    let mut keystream = [0u8; 64 + 18];
    let mut enc: AesCtr = derive_keys(&init, None).to_server.cipher();
    enc.apply_keystream(&mut keystream);
    let mut plain = wire[64..].to_vec();
    for (p, k) in plain.iter_mut().zip(&keystream[64..]) {
        *p ^= k;
    }
    assert_eq!(
        plain,
        [[2u8, 1, 1, 1, 1, 1, 1, 1, 1], [2, 1, 1, 1, 1, 1, 1, 1, 1]].concat()
    );
    // The two identical frames encrypt differently.
    assert_ne!(wire[64..73], wire[73..82]);
}

/// Feeds arbitrary bytes in arbitrary chunks, ignoring errors; only panics
/// or stalls fail.
fn feed_chunks(
    mut feed: impl FnMut(&[u8]) -> Result<usize, TransportError>,
    mut poll: impl FnMut() -> Result<bool, TransportError>,
    data: &[u8],
    cuts: &[usize],
) {
    let mut pos = 0;
    for &cut in cuts.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + cut).min(data.len());
        let mut rest = &data[pos..end];
        loop {
            let Ok(n) = feed(rest) else { return };
            rest = &rest[n..];
            match poll() {
                Err(_) => return,
                Ok(true) => {}
                Ok(false) => {
                    assert!(rest.is_empty());
                    break;
                }
            }
        }
        pos = end;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// T-9, T-2, T-17: no decoder panics or buffers past its bound on any
    /// input, for either role, each framing, obfuscated or not; input may
    /// start with a valid prefix so that the framers are reached.
    #[test]
    fn no_decoder_panics(
        data in proptest::collection::vec(any::<u8>(), 0..700),
        cuts in proptest::collection::vec(1usize..80, 1..16),
        framing_ix in 0usize..4,
        obfuscated in any::<bool>(),
        prefix in 0usize..3,
        seed in any::<u64>(),
    ) {
        let framing = Framing::ALL[framing_ix];
        let obfuscated = obfuscated && framing != Framing::Full;
        let params = obfuscated.then(ObfuscationParams::direct);
        let max = 256;

        // Client role.
        let mut c = ClientCodec::new(framing, params.clone(), StdRng::seed_from_u64(seed))
            .unwrap()
            .with_max_frame(max);
        let c = std::cell::RefCell::new(&mut c);
        feed_chunks(
            |d| c.borrow_mut().feed(d),
            || c.borrow_mut().poll().map(|i| i.is_some()),
            &data,
            &cuts,
        );

        // Server role: raw bytes, or after a valid start from a real client.
        let mut input = Vec::new();
        match prefix {
            0 => {}
            _ => {
                let mut client = ClientCodec::new(framing, params, StdRng::seed_from_u64(seed)).unwrap();
                client.start(&mut input);
                if prefix == 2 {
                    client.encode(&[0u8; 24], false, &mut input).unwrap();
                }
            }
        }
        input.extend_from_slice(&data);
        let mut s = ServerCodec::new(
            ServerConfig { max_frame: max, ..ServerConfig::default() },
            StdRng::seed_from_u64(seed),
        );
        let s = std::cell::RefCell::new(&mut s);
        feed_chunks(
            |d| s.borrow_mut().feed(d),
            || s.borrow_mut().poll().map(|i| i.is_some()),
            &input,
            &cuts,
        );

        // Bare decoders: the buffer never exceeds header + body bound.
        for role in [Role::Client, Role::Server] {
            let mut d = FrameDecoder::new(framing, role).with_max_frame(max);
            let bound = 8 + max + MAX_PADDING;
            let d = std::cell::RefCell::new(&mut d);
            feed_chunks(
                |x| {
                    let r = d.borrow_mut().feed(x);
                    assert!(d.borrow().buffered_len() <= bound);
                    r
                },
                || d.borrow_mut().poll().map(|i| i.is_some()),
                &data,
                &cuts,
            );
        }
    }
}
