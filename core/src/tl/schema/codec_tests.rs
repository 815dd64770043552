//! Tests of the dynamic codec: published and derived vectors (TV §4, §7.1,
//! §7.9, §7.10), the JSON conventions, and every rejection path.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::tl::wire::Writer;
use crate::tl::TlError;

/// The bundled Telegram API schema alone (layer 228), without the service
/// declarations that [`Schema::telegram`] adds.
pub(crate) fn api() -> &'static Schema {
    static API: OnceLock<Schema> = OnceLock::new();
    API.get_or_init(|| Schema::parse(&api_tl_text()).expect("api.tl loads"))
}

/// A few MTProto service declarations (facts from mtproto-schema.md).
const SERVICE: &str = "
boolFalse#bc799737 = Bool;
boolTrue#997275b5 = Bool;
rpc_result#f35c6d01 req_msg_id:long result:Object = RpcResult;
rpc_error#2144ca19 error_code:int error_message:string = RpcError;
future_salt#0949d9dc valid_since:int valid_until:int salt:long = FutureSalt;
future_salts#ae500895 req_msg_id:long now:int salts:vector<future_salt> = FutureSalts;
pong#347773c5 msg_id:long ping_id:long = Pong;
msg_container#73f1f8dc messages:vector<%Message> = MessageContainer;
message msg_id:long seqno:int bytes:int body:Object = Message;
msgs_ack#62d6b459 msg_ids:Vector<long> = MsgsAck;
gzip_packed#3072cfa1 packed_data:bytes = Object;
---functions---
ping#7abe77ec ping_id:long = Pong;
get_future_salts#b921bd04 num:int = FutureSalts;
";

fn service() -> Schema {
    Schema::parse(SERVICE).unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// TV §4 schema fragment; the function's anonymous `(Vector int)` argument
/// is given the name `id`, which does not change the explicit id.
const TV4: &str = "user#d23c81a3 id:int first_name:string last_name:string = User;
no_user#c67599d1 id:int = User;
---functions---
getUsers#2d84d5f5 id:Vector<int> = Vector<User>;";

const TV4_CALL: &str = "F5D5842D15C4B51C03000000020000000300000004000000";
const TV4_RESPONSE: &str = "15C4B51C03000000A3813CD2020000000550657465720000065061726B657200D19975C603000000A3813CD204000000044A6F686E00000003446F65";

/// B-7, B-8, B-12, TV §4: the published getUsers call and its response.
#[test]
fn tv4_get_users_call_and_response() {
    let s = Schema::parse(TV4).unwrap();
    let call = json!({"_": "getUsers", "id": [2, 3, 4]});
    assert_eq!(s.encode(&call).unwrap(), h(TV4_CALL));
    assert_eq!(s.decode(&h(TV4_CALL)).unwrap(), call);

    let users = json!([
        {"_": "user", "id": 2, "first_name": "Peter", "last_name": "Parker"},
        {"_": "no_user", "id": 3},
        {"_": "user", "id": 4, "first_name": "John", "last_name": "Doe"},
    ]);
    let response = h(TV4_RESPONSE);
    assert_eq!(s.decode_as(&response, "Vector<User>").unwrap(), users);
    assert_eq!(s.decode_as(&response, "Vector User").unwrap(), users);
    assert_eq!(
        s.decode_function_result("getUsers", &response).unwrap(),
        users
    );
    assert_eq!(s.encode_as(&users, "Vector<User>").unwrap(), response);
    // The boxed vector needs its type: untyped decoding refuses it.
    assert!(matches!(
        s.decode(&response),
        Err(CodecError::UntypedVector { .. })
    ));
    assert!(matches!(
        s.encode(&users),
        Err(CodecError::UntypedVector { .. })
    ));
}

/// B-7, B-8, TV §7.9: msg_container is a bare vector of bare `message`, whose
/// bodies are any boxed object (a constructor or a function call).
#[test]
fn tv79_msg_container_bare_vector() {
    let s = service();
    let bytes = h("DCF8F1730200000080563412EEE57767020000001400000059B4D66215C4B51C0100000001000000EFE5776784563412EEE57767030000000C000000EC77BE7A8877665544332211");
    let long = |v: i64| Value::String(v.to_string());
    let expected = json!({
        "_": "msg_container",
        "messages": [
            {"_": "message", "msg_id": long(0x6777_E5EE_1234_5680), "seqno": 2, "bytes": 20,
             "body": {"_": "msgs_ack", "msg_ids": [long(0x6777_E5EF_0000_0001)]}},
            {"_": "message", "msg_id": long(0x6777_E5EE_1234_5684), "seqno": 3, "bytes": 12,
             "body": {"_": "ping", "ping_id": long(0x1122_3344_5566_7788)}},
        ]
    });
    let v = s.decode(&bytes).unwrap();
    assert_eq!(v, expected);
    assert_eq!(s.encode(&v).unwrap(), bytes);
    // `"_"` is optional on a bare constructor.
    let mut no_names = expected.clone();
    for m in no_names["messages"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("_");
    }
    assert_eq!(s.encode(&no_names).unwrap(), bytes);
    // The published message bodies on their own.
    let ack = h("59B4D66215C4B51C0100000001000000EFE57767");
    assert_eq!(s.decode(&ack).unwrap(), expected["messages"][0]["body"]);
    assert_eq!(
        s.decode(&h("EC77BE7A8877665544332211")).unwrap(),
        expected["messages"][1]["body"]
    );
}

/// B-8, TV §7.9: future_salts carries a bare vector of bare future_salt.
#[test]
fn tv79_future_salts_bare_vector() {
    let s = service();
    let bytes = h("950850AE78563412EEE57767EBE5776702000000EBE57767F3EC77670807060504030201F3EC7767FBF377671817161514131211");
    let v = s.decode(&bytes).unwrap();
    let salts = v["salts"].as_array().unwrap();
    assert_eq!(salts.len(), 2);
    assert_eq!(v["req_msg_id"], json!(0x6777_E5EE_1234_5678i64.to_string()));
    assert_eq!(v["now"], json!(0x6777_E5EB));
    assert_eq!(
        salts[0],
        json!({"_": "future_salt", "valid_since": 0x6777_E5EB, "valid_until": 0x6777_ECF3,
               "salt": 0x0102_0304_0506_0708i64.to_string()})
    );
    assert_eq!(
        salts[1]["salt"],
        json!(0x1112_1314_1516_1718i64.to_string())
    );
    assert_eq!(s.encode(&v).unwrap(), bytes);
    assert_eq!(
        s.decode_function_result("get_future_salts", &bytes)
            .unwrap(),
        v
    );
}

const TV710: &str = "A1CF72302C1F8B0800000000000203933CE5A2B884918181C7CDC7DFDF253EDCD13324DE98818101004260B22518000000000000";

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gzip_packed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(GZIP_PACKED_ID);
    out.put_bytes(&gzip(data));
    out
}

/// B-13, TV §7.10: gzip_packed is unpacked wherever a boxed value is
/// expected, and the JSON shows the content.
#[test]
fn tv710_gzip_packed_is_transparent() {
    let s = service();
    let rpc_error = json!({"_": "rpc_error", "error_code": 420, "error_message": "FLOOD_WAIT_3"});
    assert_eq!(s.decode(&h(TV710)).unwrap(), rpc_error);
    assert_eq!(s.decode_as(&h(TV710), "RpcError").unwrap(), rpc_error);
    assert_eq!(
        s.encode(&rpc_error).unwrap(),
        h("19CA4421A40100000C464C4F4F445F574149545F33000000")
    );
    // Inside rpc_result.result (an Object field).
    let mut msg = h("016D5CF3");
    msg.put_i64(5);
    msg.extend(h(TV710));
    assert_eq!(
        s.decode(&msg).unwrap(),
        json!({"_": "rpc_result", "req_msg_id": 5, "result": rpc_error})
    );
    // A gzip-packed boxed Vector read as the result of a function.
    let t = Schema::parse(TV4).unwrap();
    let packed = gzip_packed(&h(TV4_RESPONSE));
    assert_eq!(
        t.decode_function_result("getUsers", &packed).unwrap(),
        t.decode_as(&h(TV4_RESPONSE), "Vector<User>").unwrap()
    );
    // Packed data of the wrong type is still checked.
    assert!(matches!(
        s.decode_as(&h(TV710), "Pong"),
        Err(CodecError::WrongType { .. })
    ));
    // Not gzip at all.
    let mut bad = Vec::new();
    bad.put_u32(GZIP_PACKED_ID);
    bad.put_bytes(b"not gzip");
    assert!(matches!(s.decode(&bad), Err(CodecError::Gzip { .. })));
    // Unpacked content must be exactly one value.
    let mut extra = h("19CA4421A40100000C464C4F4F445F574149545F33000000");
    extra.extend([0, 0, 0, 0]);
    assert!(matches!(
        s.decode(&gzip_packed(&extra)),
        Err(CodecError::TrailingBytes { count: 4, .. })
    ));
}

/// B-13: a gzip bomb stops at the unpacked-size bound.
#[test]
fn b13_gzip_bomb_is_bounded() {
    let mut s = service();
    // 17 MiB of zeros: about 17 KB of gzip, above the 16 MiB default.
    let mut body = h("19CA4421A4010000");
    body.put_bytes(&vec![b'A'; 1 << 20]);
    let bomb = gzip_packed(&vec![0u8; 17 << 20]);
    assert!(bomb.len() < 100_000);
    assert_eq!(
        s.decode(&bomb),
        Err(CodecError::GzipTooLarge {
            path: "<root>".into(),
            limit: 16 << 20
        })
    );
    // Under the limit it works; the budget is shared across nested layers.
    let packed = gzip_packed(&body);
    assert_eq!(s.decode(&packed).unwrap()["error_code"], json!(420));
    s.set_limits(Limits {
        max_unpacked_size: 1 << 20,
        ..Limits::default()
    });
    assert!(matches!(
        s.decode(&packed),
        Err(CodecError::GzipTooLarge { .. })
    ));
    let twice = gzip_packed(&gzip_packed(&h(
        "19CA4421A40100000C464C4F4F445F574149545F33000000",
    )));
    assert_eq!(s.decode(&twice).unwrap()["error_code"], json!(420));
}

/// B-10, TV §7.1: the flags mask is computed from the fields present; the
/// `flags` value itself is neither shown nor trusted.
#[test]
fn b10_flags_computed_from_present_fields() {
    let s = Schema::parse(
        "t#00000001 flags:# a:flags.0?int b:flags.1?true c:flags.2?string d:flags.2?true = T;",
    )
    .unwrap();
    let v = json!({"_": "t", "a": 7, "c": "x"});
    let bytes = s.encode(&v).unwrap();
    assert_eq!(bytes, h("01000000050000000700000001780000"));
    // Read back: `true` fields are always shown; d shares bit 2 with c.
    let back = s.decode(&bytes).unwrap();
    assert_eq!(
        back,
        json!({"_": "t", "a": 7, "b": false, "c": "x", "d": true})
    );
    assert_eq!(s.encode(&back).unwrap(), bytes);
    // A provided `flags` is ignored; null and false mean absent.
    let with_flags = json!({"_": "t", "flags": 999, "a": 7, "b": null, "c": "x", "d": false});
    assert_eq!(s.encode(&with_flags).unwrap(), bytes);
    assert_eq!(
        s.encode(&json!({"_": "t", "b": true})).unwrap(),
        h("0100000002000000")
    );
    // d alone sets bit 2, which then requires c.
    assert_eq!(
        s.encode(&json!({"_": "t", "d": true})),
        Err(CodecError::MissingField {
            path: "t".into(),
            object: "t".into(),
            field: "c".into()
        })
    );
    assert!(matches!(
        s.encode(&json!({"_": "t", "b": 1})),
        Err(CodecError::WrongType { path, .. }) if path == "t.b"
    ));
    assert_eq!(
        s.decode(&h("0100000000000000")).unwrap(),
        json!({"_": "t", "b": false, "d": false})
    );
}

/// B-2, B-3, B-4, B-9: the JSON forms of the primitive types.
#[test]
fn b2_b9_primitive_json_forms() {
    let s = Schema::parse(
        "p#00000001 i:int l:long d:double s:string b:bytes n:int128 m:int256 t:Bool v:Vector<long> w:vector<int> = P;",
    )
    .unwrap();
    let v = json!({
        "_": "p", "i": -5, "l": MAX_SAFE_INTEGER, "d": 1.5, "s": "h\u{e9}llo \u{1f980}",
        "b": "AAEC/w==", "n": "000102030405060708090a0b0c0d0e0f",
        "m": "00".repeat(31) + "ff", "t": true,
        "v": [0, (MAX_SAFE_INTEGER + 1).to_string(), i64::MIN.to_string(), -MAX_SAFE_INTEGER],
        "w": [],
    });
    let bytes = s.encode(&v).unwrap();
    assert_eq!(s.decode(&bytes).unwrap(), v);
    // Alternative inputs encode to the same bytes.
    let mut alt = v.clone();
    alt["i"] = json!(-5.0);
    alt["l"] = json!(MAX_SAFE_INTEGER.to_string());
    alt["b"] = json!([0, 1, 2, 255]);
    alt["n"] = json!("000102030405060708090A0B0C0D0E0F");
    alt["t"] = json!({"_": "boolTrue"});
    alt["v"] = json!([
        "0",
        (MAX_SAFE_INTEGER + 1).to_string(),
        i64::MIN.to_string(),
        -MAX_SAFE_INTEGER
    ]);
    assert_eq!(s.encode(&alt).unwrap(), bytes);
    alt["b"] = json!("AAEC/w");
    assert_eq!(s.encode(&alt).unwrap(), bytes);
    // Non-finite doubles travel as strings.
    for (d, text) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        let mut x = v.clone();
        x["d"] = json!(text);
        let b = s.encode(&x).unwrap();
        assert_eq!(s.decode(&b).unwrap()["d"], json!(text));
        assert!(b
            .windows(8)
            .any(|w| f64::from_le_bytes(w.try_into().unwrap()).to_bits() == d.to_bits()));
    }
}

/// B-7, B-11, L-7, R-7: a generic wrapper carries a full function call.
#[test]
fn l7_invoke_with_layer_nests_a_call() {
    let s = api();
    assert_eq!(s.layer(), Some(228));
    let call = json!({"_": "invokeWithLayer", "layer": 228, "query": {
        "_": "initConnection", "api_id": 4, "device_model": "d", "system_version": "s",
        "app_version": "1", "system_lang_code": "en", "lang_pack": "", "lang_code": "en",
        "query": {"_": "help.getConfig"}}});
    let bytes = s.encode(&call).unwrap();
    assert_eq!(&bytes[..8], &h("0D0D9BDAE4000000")[..]);
    assert_eq!(&bytes[8..16], &h("A95ECDC100000000")[..]);
    assert_eq!(&bytes[bytes.len() - 4..], &h("6B18F9C4")[..]);
    assert_eq!(s.decode(&bytes).unwrap(), call);
    // The query must be a function, not a constructor.
    let mut bad = call.clone();
    bad["query"] = json!({"_": "inputPeerSelf"});
    assert_eq!(
        s.encode(&bad),
        Err(CodecError::WrongType {
            path: "invokeWithLayer.query".into(),
            expected: "a function call".into(),
            got: "\"inputPeerSelf\"".into()
        })
    );
    let mut bytes_bad = h("0D0D9BDAE4000000");
    bytes_bad.extend(h("C97EA07D")); // inputPeerSelf#7da07ec9 is not a function
    assert!(matches!(
        s.decode(&bytes_bad),
        Err(CodecError::WrongType { .. })
    ));
    // The pseudo-function sharing its id decodes as the real wrapper (the
    // "later wins" rule of Schema).
    let d = s.function_by_id(0xdd28_9f8e).unwrap();
    assert_eq!(d.name, "invokeWithBusinessConnection");
    // Bool results.
    assert_eq!(
        s.decode_function_result("auth.bindTempAuthKey", &h("B5757299"))
            .unwrap(),
        json!(true)
    );
    assert_eq!(s.decode(&h("379779BC")).unwrap(), json!(false));
}

/// B-7, B-11: every kind of rejected JSON, with its path.
#[test]
fn encode_rejections_name_the_path() {
    let s = api();
    let send = |peer: Value| json!({"_": "messages.sendMessage", "peer": peer, "message": "hi", "random_id": 1});
    assert!(s.encode(&send(json!({"_": "inputPeerSelf"}))).is_ok());
    let err = s.encode(&send(json!({"_": "user", "id": 1}))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "messages.sendMessage.peer: expected InputPeer, got \"user\""
    );
    assert_eq!(err.path(), "messages.sendMessage.peer");
    assert_eq!(
        s.encode(&json!({"_": "no.suchThing"})),
        Err(CodecError::UnknownName {
            path: "<root>".into(),
            name: "no.suchThing".into()
        })
    );
    assert!(matches!(
        s.encode(&send(json!({"_": "noSuchPeer"}))),
        Err(CodecError::UnknownName { path, .. }) if path == "messages.sendMessage.peer"
    ));
    assert_eq!(
        s.encode(
            &json!({"_": "messages.sendMessage", "peer": {"_": "inputPeerSelf"}, "message": "x"})
        ),
        Err(CodecError::MissingField {
            path: "messages.sendMessage".into(),
            object: "messages.sendMessage".into(),
            field: "random_id".into()
        })
    );
    let mut typo = send(json!({"_": "inputPeerSelf"}));
    typo["silnet"] = json!(true);
    assert!(matches!(
        s.encode(&typo),
        Err(CodecError::UnknownField { field, .. }) if field == "silnet"
    ));
    assert!(matches!(
        s.encode(&send(json!("me"))),
        Err(CodecError::NotAnObject { path, .. }) if path == "messages.sendMessage.peer"
    ));
    assert!(matches!(
        s.encode(&send(json!({"user_id": 1}))),
        Err(CodecError::NotAnObject { .. })
    ));
    assert!(matches!(
        s.encode(&json!(5)),
        Err(CodecError::NotAnObject { .. })
    ));
    let mut wrong = send(json!({"_": "inputPeerSelf"}));
    wrong["message"] = json!(5);
    assert_eq!(
        s.encode(&wrong),
        Err(CodecError::WrongType {
            path: "messages.sendMessage.message".into(),
            expected: "a string".into(),
            got: "the number 5".into()
        })
    );
    // Range checks on int and long.
    let peer = |id: Value| json!({"_": "inputPeerChat", "chat_id": id});
    let get = |id: Value| {
        json!({"_": "messages.getHistory", "peer": peer(id), "offset_id": 0,
        "offset_date": 0, "add_offset": 0, "limit": 1, "max_id": 0, "min_id": 0, "hash": 0})
    };
    assert!(s.encode(&get(json!("9223372036854775807"))).is_ok());
    assert!(matches!(
        s.encode(&get(json!("9223372036854775808"))),
        Err(CodecError::OutOfRange { path, .. }) if path == "messages.getHistory.peer.chat_id"
    ));
    assert!(matches!(
        s.encode(&get(json!(u64::MAX))),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        s.encode(&get(json!("12x"))),
        Err(CodecError::InvalidValue { .. })
    ));
    assert!(matches!(
        s.encode(&get(json!(1.5))),
        Err(CodecError::WrongType { .. })
    ));
    let mut big = get(json!(1));
    big["limit"] = json!(2_147_483_648i64);
    assert_eq!(
        s.encode(&big),
        Err(CodecError::OutOfRange {
            path: "messages.getHistory.limit".into(),
            ty: "int".into(),
            value: "2147483648".into()
        })
    );
    big["limit"] = json!(-2_147_483_649i64);
    assert!(matches!(s.encode(&big), Err(CodecError::OutOfRange { .. })));
    // Bytes, int128 and vectors.
    let srp = |a: Value| json!({"_": "inputCheckPasswordSRP", "srp_id": 1, "A": a, "M1": ""});
    assert!(s.encode(&srp(json!("AAE="))).is_ok());
    assert!(matches!(
        s.encode(&srp(json!("***"))),
        Err(CodecError::InvalidValue { path, .. }) if path == "inputCheckPasswordSRP.A"
    ));
    assert!(matches!(
        s.encode(&srp(json!([1, 256]))),
        Err(CodecError::OutOfRange { .. })
    ));
    let users = |ids: Value| json!({"_": "users.getUsers", "id": ids});
    assert!(matches!(
        s.encode(&users(json!([{"_": "inputUserSelf"}, {"_": "inputPeerSelf"}]))),
        Err(CodecError::WrongType { path, .. }) if path == "users.getUsers.id[1]"
    ));
    assert!(matches!(
        s.encode(&users(json!({"_": "inputUserSelf"}))),
        Err(CodecError::WrongType { .. })
    ));
    let svc = service();
    let nonce = Schema::parse("req_pq_multi#be7e8ef1 nonce:int128 = ResPQ;").unwrap();
    assert!(matches!(
        nonce.encode(&json!({"_": "req_pq_multi", "nonce": "00"})),
        Err(CodecError::InvalidValue { .. })
    ));
    assert!(matches!(
        svc.encode_as(&json!([]), "Vector<Nope<"),
        Err(CodecError::UnknownType { .. })
    ));
    // Too long for TL (B-4).
    let huge = "x".repeat(1 << 24);
    assert!(matches!(
        svc.encode(&json!({"_": "rpc_error", "error_code": 1, "error_message": huge})),
        Err(CodecError::Tl {
            source: TlError::TooLong(_),
            ..
        })
    ));
    // encode_into leaves the buffer as it was on error.
    let mut out = vec![1, 2, 3];
    assert!(svc
        .encode_into(&json!({"_": "rpc_error"}), &mut out)
        .is_err());
    assert_eq!(out, [1, 2, 3]);
    svc.encode_into(&json!({"_": "ping", "ping_id": 1}), &mut out)
        .unwrap();
    assert_eq!(out.len(), 3 + 12);
}

/// B-5, B-11: rejected bytes: truncation, unknown ids, trailing data.
#[test]
fn decode_rejections() {
    let t = Schema::parse(TV4).unwrap();
    let response = h(TV4_RESPONSE);
    for cut in 0..response.len() {
        match t.decode_as(&response[..cut], "Vector<User>") {
            Err(CodecError::Tl {
                source: TlError::UnexpectedEof { .. },
                ..
            }) => {}
            other => panic!("prefix {cut}: {other:?}"),
        }
    }
    let mut trailing = response.clone();
    trailing.extend([0, 0, 0, 0]);
    assert_eq!(
        t.decode_as(&trailing, "Vector<User>"),
        Err(CodecError::TrailingBytes {
            path: "<root>".into(),
            count: 4
        })
    );
    assert_eq!(
        t.decode(&h("EFBEADDE")),
        Err(CodecError::UnknownConstructor {
            path: "<root>".into(),
            id: 0xdead_beef,
            expected: "Object".into()
        })
    );
    // An unknown id inside a vector of a known type.
    let mut bad = response.clone();
    bad[32..36].copy_from_slice(&0xdead_beefu32.to_le_bytes());
    assert_eq!(
        t.decode_as(&bad, "Vector<User>"),
        Err(CodecError::UnknownConstructor {
            path: "[1]".into(),
            id: 0xdead_beef,
            expected: "User".into()
        })
    );
    // A known constructor of the wrong type.
    let s = service();
    assert!(matches!(
        s.decode_as(&h("EC77BE7A8877665544332211"), "Pong"),
        Err(CodecError::WrongType { got, .. }) if got == "\"ping\""
    ));
    assert!(matches!(
        s.decode_as(&h("EC77BE7A8877665544332211"), "Vector<long>"),
        Err(CodecError::WrongType { .. })
    ));
    // A count no input could hold, and a negative one.
    let mut ack = h("59B4D66215C4B51C");
    ack.put_i32(0x4000_0000);
    assert!(
        matches!(s.decode(&ack), Err(CodecError::Tl { path, .. }) if path == "msgs_ack.msg_ids")
    );
    let mut neg = h("59B4D66215C4B51C");
    neg.put_i32(-1);
    assert!(matches!(
        s.decode(&neg),
        Err(CodecError::Tl {
            source: TlError::NegativeLength(-1),
            ..
        })
    ));
    // Invalid UTF-8 in a string.
    assert!(matches!(
        s.decode(&h("19CA4421A401000002C32800")),
        Err(CodecError::Tl {
            source: TlError::InvalidUtf8,
            ..
        })
    ));
    assert!(matches!(s.decode(&[]), Err(CodecError::Tl { .. })));
    assert!(matches!(
        s.decode_function_result("nope", &[]),
        Err(CodecError::UnknownName { .. })
    ));
    assert!(matches!(
        s.decode_function_result("pong", &[]),
        Err(CodecError::UnknownName { .. })
    ));
}

/// B-11, B-13: nesting (objects, `!X` wrappers, gzip_packed layers) deeper
/// than the limit is refused both ways, before the stack is at risk.
#[test]
fn nesting_depth_is_bounded() {
    let s = api();
    let nested = |n: usize| {
        let mut v = json!({"_": "help.getConfig"});
        for _ in 0..n {
            v = json!({"_": "invokeWithoutUpdates", "query": v});
        }
        v
    };
    let ok = s.encode(&nested(60)).unwrap();
    assert_eq!(s.decode(&ok).unwrap(), nested(60));
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.put_u32(0xbf94_59b7);
    }
    deep.put_u32(0xc4f9_186b);
    assert!(matches!(
        s.decode(&deep),
        Err(CodecError::TooDeep { limit: 64, .. })
    ));
    // A JSON tree deeper than serde_json would parse, built by hand.
    assert!(matches!(
        s.encode(&nested(1000)),
        Err(CodecError::TooDeep { limit: 64, .. })
    ));
    let svc = service();
    let mut gz = h("19CA4421A40100000C464C4F4F445F574149545F33000000");
    for _ in 0..70 {
        gz = gzip_packed(&gz);
    }
    assert!(matches!(svc.decode(&gz), Err(CodecError::TooDeep { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// B-5, B-11: arbitrary bytes, and arbitrary bytes behind a real id,
    /// never make the decoder panic.
    #[test]
    fn decode_never_panics(
        raw in prop::collection::vec(any::<u8>(), 0..96),
        pick in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let s = api();
        let _ = s.decode(&raw);
        let defs: Vec<&Definition> = s.definitions().collect();
        let def = defs[pick.index(defs.len())];
        let mut bytes = def.id.to_le_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let _ = s.decode(&bytes);
        let _ = s.decode_as(&tail, "Vector<Message>");
        if def.category == Category::Function {
            let _ = s.decode_function_result(&def.name, &tail);
        }
        let _ = service().decode(&bytes);
    }

    /// B-7, B-10: arbitrary JSON, also as every field of a real
    /// declaration, never makes the encoder panic.
    #[test]
    fn encode_never_panics(v in arb_json(), pick in any::<prop::sample::Index>()) {
        let s = api();
        let defs: Vec<&Definition> = s.definitions().collect();
        let def = defs[pick.index(defs.len())];
        let _ = s.encode(&v);
        let mut obj = serde_json::Map::new();
        obj.insert("_".into(), json!(def.name));
        for p in &def.params {
            obj.insert(p.name.clone(), v.clone());
        }
        let _ = s.encode(&Value::Object(obj));
        let _ = s.encode_as(&v, "Vector<InputPeer>");
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9+/=_.]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "inputPeerSelf",
            "user",
            "help.getConfig",
            "boolTrue",
            "true"
        ])
        .prop_map(|n| json!({"_": n})),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(|m| {
                let mut o: serde_json::Map<String, Value> = m.into_iter().collect();
                o.insert("_".into(), json!("inputPeerUser"));
                Value::Object(o)
            }),
        ]
    })
}
