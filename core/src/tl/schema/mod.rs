//! TL schemas: the text parser (shared with the build script) and, on top of
//! it, the indexed [`Schema`] with its schema-driven dynamic codec, which
//! turns any constructor or function of a loaded schema into bytes and back
//! through `serde_json::Value`.
//!
//! ```
//! use mtproto::tl::schema::Schema;
//! use serde_json::json;
//!
//! let schema = Schema::parse(
//!     "inputPeerSelf#7da07ec9 = InputPeer;\n\
//!      inputPeerUser#dde8a54c user_id:long access_hash:long = InputPeer;\n\
//!      ---functions---\n\
//!      messages.getHistory#4423e6c5 peer:InputPeer offset_id:int offset_date:int \
//!      add_offset:int limit:int max_id:int min_id:int hash:long = messages.Messages;",
//! )
//! .unwrap();
//! let call = json!({
//!     "_": "messages.getHistory",
//!     "peer": {"_": "inputPeerUser", "user_id": 777000, "access_hash": "-8029612327539335186"},
//!     "offset_id": 0, "offset_date": 0, "add_offset": 0, "limit": 20,
//!     "max_id": 0, "min_id": 0, "hash": 0,
//! });
//! let bytes = schema.encode(&call).unwrap();
//! assert_eq!(&bytes[..4], &0x4423e6c5u32.to_le_bytes());
//! assert_eq!(schema.decode(&bytes).unwrap(), call);
//! ```
//!
//! # JSON conventions
//!
//! These are the conventions every language binding exposes. They are chosen
//! so that `decode` output can be edited and passed back to `encode`, and so
//! that JSON parsers in JavaScript (whose numbers are doubles) lose nothing.
//!
//! | TL | JSON produced by `decode` | also accepted by `encode` |
//! | --- | --- | --- |
//! | constructor / function (boxed or bare) | object with `"_"`: the full schema name (`"inputPeerUser"`, `"help.getConfig"`) and one key per field, named as in the schema | `"_"` may be left out for a bare constructor |
//! | `int` | number | a float with no fraction (`3.0`); out of `i32` range is an error |
//! | `long` | number when within ±(2^53 − 1), otherwise a decimal string (`"-8029612327539335186"`) | number or decimal string, any magnitude within `i64` |
//! | `double` | number; `"NaN"`, `"Infinity"`, `"-Infinity"` for non-finite values | the same |
//! | `string` | string (the wire must hold valid UTF-8) | |
//! | `bytes` | base64 string, standard alphabet, with `=` padding | base64 with or without padding, or an array of numbers 0..=255 |
//! | `int128`, `int256` | lower-case hex string of 32 / 64 digits, bytes in wire order (B-3) | hex in either case, or an array of 16 / 32 numbers |
//! | `Bool` | `true` / `false` | also `{"_": "boolTrue"}` / `{"_": "boolFalse"}` |
//! | `flags.N?true` | `true` / `false`, always present | absent or `null` means `false` |
//! | other `flags.N?T` | the key is absent when the bit is clear | absent or `null` means "not present" |
//! | `flags:#` (and `flags2:#`...) | left out | ignored if given: computed from the fields present (B-10) |
//! | `Vector<T>`, `vector<T>` | array | |
//! | `Object`, `X` | any boxed object (or a boolean for `Bool`) | |
//! | `!X` | a function-call object | |
//!
//! Further rules:
//!
//! - **Flags (B-10).** On `encode` a flag bit is set exactly when at least one
//!   field it controls is present. When several fields share a bit (as in
//!   `live_photo:flags.3?true video:flags.3?InputDocument`), giving one of them
//!   requires the others that carry data, and `true` fields on that bit read
//!   back as `true`. Flag bits that control no field are not preserved.
//! - **Type checks.** A field of a boxed type (`peer:InputPeer`) must hold a
//!   constructor of that type; anything else is
//!   [`CodecError::WrongType`] naming the field path, the expected type and
//!   the name given. Keys that are not fields of the constructor are
//!   rejected ([`CodecError::UnknownField`]), so a misspelt optional field
//!   cannot vanish silently.
//! - **Boxed and bare (B-7, B-8).** The schema decides: `Vector<long>` is
//!   written with `1cb5c415`, `vector<future_salt>` and `%Message` without
//!   any id. The JSON looks the same either way.
//! - **`gzip_packed` (B-13)** is unpacked wherever a boxed value is expected
//!   and replaced by its content, so decoded JSON never shows it. `encode`
//!   never compresses.
//! - **Vectors without a type.** A boxed `Vector` in an `Object` position (or
//!   at the top level of [`Schema::decode`]) cannot be read, because the wire
//!   does not say what its elements are; decode it with
//!   [`Schema::decode_as`] or [`Schema::decode_function_result`].
//! - **Duplicate ids**: see [`Schema`]; the later declaration wins.
//! - **Limits.** Nesting deeper than [`Limits::max_depth`] (64) and
//!   `gzip_packed` data unpacking to more than [`Limits::max_unpacked_size`]
//!   (16 MiB per call) are errors, so hostile input costs bounded memory and
//!   stack. No input, JSON or bytes, makes the codec panic.

mod codec;
mod decode;
mod encode;
mod error;
mod index;
mod json;
pub mod parse;
pub(crate) mod telegram;

pub use decode::GZIP_PACKED_ID;
pub use error::CodecError;
pub use index::{Limits, Schema, SchemaError};
pub use json::MAX_SAFE_INTEGER;
pub use parse::{
    crc_id, id_mismatches, parse_type, Category, Definition, FlagRef, IdMismatch, Param, ParamKind,
    ParseError, TypeRef,
};
pub use telegram::{api_tl_text, API_LAYER};

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_tl() -> String {
        api_tl_text()
    }

    fn one(text: &str) -> Definition {
        let mut defs = parse::parse(text).unwrap();
        assert_eq!(defs.len(), 1, "{defs:?}");
        defs.remove(0)
    }

    /// B-12, TV §5: the published and recomputed CRC32 ids.
    #[test]
    fn b12_crc_rule_vectors() {
        assert_eq!(crc_id("vector t:Type # [ t ] = Vector t"), 0x1cb5c415);
        assert_eq!(crc_id("int ? = Int"), 0xa8509bda);
        let cases = [
            ("resPQ nonce:int128 server_nonce:int128 pq:bytes server_public_key_fingerprints:Vector<long> = ResPQ;", 0x05162463u32),
            ("req_pq_multi nonce:int128 = ResPQ;", 0xbe7e8ef1),
            ("p_q_inner_data_dc pq:bytes p:bytes q:bytes nonce:int128 server_nonce:int128 new_nonce:int256 dc:int = P_Q_inner_data;", 0xa9f55f95),
            ("msg_container messages:vector<%Message> = MessageContainer;", 0x73f1f8dc),
            ("future_salts req_msg_id:long now:int salts:vector<future_salt> = FutureSalts;", 0xae500895),
            ("rpc_answer_dropped msg_id:long seq_no:int bytes:int = RpcDropAnswer;", 0xa43ad8b7),
            ("invokeWithLayer {X:Type} layer:int query:!X = X;", 0xda9b0d0d),
            ("initConnection {X:Type} flags:# api_id:int device_model:string system_version:string app_version:string system_lang_code:string lang_pack:string lang_code:string proxy:flags.0?InputClientProxy params:flags.1?JSONValue query:!X = X;", 0xc1cd5ea9),
            ("boolTrue = Bool;", 0x997275b5),
            ("boolFalse = Bool;", 0xbc799737),
            ("true = True;", 0x3fedd339),
            ("user id:int first_name:string last_name:string = User;", 0xd23c81a3),
            ("help.getConfig = Config;", 0xc4f9186b),
        ];
        for (text, id) in cases {
            let d = one(text);
            assert!(!d.explicit_id);
            assert_eq!(d.id, id, "{text} -> {}", d.crc_text());
        }
        // `bytes` as a field *name* stays; as a type it hashes as `string`.
        assert_eq!(
            one("rpc_answer_dropped msg_id:long seq_no:int bytes:int = RpcDropAnswer;").crc_text(),
            "rpc_answer_dropped msg_id:long seq_no:int bytes:int = RpcDropAnswer"
        );
        // `Vector t` in the result, space form (TV §5 getUsers).
        let d = one("---functions---\ngetUsers ids:Vector<int> = Vector<User>;");
        assert_eq!(d.crc_text(), "getUsers ids:Vector int = Vector User");
        assert_eq!(d.result.arg.as_ref().unwrap().name, "User");
    }

    /// L-1..L-6: sections, comments, namespaces, generics, flags, bare types.
    #[test]
    fn l_items_syntax() {
        let text = "// comment\n/* block\n comment */\nint ? = Int;\nvector {t:Type} # [ t ] = Vector t;\n\
            a.b#00000001 flags:# x:flags.0?true y:flags.3?Vector<long> z:%Foo = a.B;\n\
            ---functions---\nf.g#2 {X:Type} q:!X = X;\n---types---\nc = C;";
        let defs = parse::parse(text).unwrap();
        assert_eq!(defs.len(), 3);
        let d = &defs[0];
        assert_eq!(
            (d.name.as_str(), d.id, d.namespace()),
            ("a.b", 1, Some("a"))
        );
        assert_eq!(d.line, 6);
        assert_eq!(d.params[0].kind, ParamKind::Flags);
        match &d.params[2].kind {
            ParamKind::Value { ty, flag } => {
                assert_eq!(ty.name, "Vector");
                assert!(!ty.bare);
                assert_eq!(ty.arg.as_ref().unwrap().name, "long");
                assert_eq!(flag.as_ref().unwrap().bit, 3);
            }
            other => panic!("{other:?}"),
        }
        match &d.params[3].kind {
            ParamKind::Value { ty, .. } => assert!(ty.bare && ty.name == "Foo"),
            other => panic!("{other:?}"),
        }
        assert_eq!(defs[1].category, Category::Function);
        assert_eq!(defs[1].generics, vec!["X".to_string()]);
        assert!(matches!(&defs[1].params[0].kind, ParamKind::Value { ty, .. } if ty.generic_ref));
        assert_eq!(defs[2].category, Category::Type);
    }

    /// L-1, B-10: malformed declarations are typed errors with a line number.
    #[test]
    fn l1_malformed_declarations_are_errors() {
        for bad in [
            "foo#xyz = Foo;",
            "foo#123456789 = Foo;",
            "foo x:flags.0?int = Foo;",
            "foo x = Foo;",
            "foo x:int Foo;",
            "foo x:int = Foo",
            "---bogus---",
            "foo x:Vector<int = Foo;",
        ] {
            let err = parse::parse(&format!("\n{bad}")).unwrap_err();
            assert_eq!(err.line, 2, "{bad}: {err}");
        }
    }

    /// L-1..L-9, B-12: the whole Telegram API schema (layer 228) parses, and
    /// every explicit id agrees with the CRC32 rule (with the variants of
    /// `Definition::id_verifies`) outside the preamble.
    #[test]
    fn api_tl_parses_and_ids_verify() {
        let defs = parse::parse(&api_tl()).unwrap();
        assert!(defs.len() > 2000, "{}", defs.len());
        let functions = defs
            .iter()
            .filter(|d| d.category == Category::Function)
            .count();
        assert!(functions > 500, "{functions}");
        let mismatches = id_mismatches(&defs);
        // Only the `invokeWith*Prefix` pseudo-functions may differ: they reuse
        // the id of the real wrapper they stand for.
        // api.tl opens with a preamble (before its first `---types---`) of
        // declarations Telegram keeps with historical ids: pseudo-functions
        // that reuse the id of the wrapper they stand for, and legacy
        // constructors. Everything after it must verify.
        let preamble_end = api_tl()
            .lines()
            .position(|l| l.trim() == "---types---")
            .unwrap();
        for m in &mismatches {
            assert!(m.line <= preamble_end, "id mismatch: {m:?}");
        }
        assert!(mismatches.len() < 12, "{mismatches:?}");
        let get_config = defs.iter().find(|d| d.name == "help.getConfig").unwrap();
        assert_eq!(get_config.id, 0xc4f9186b);
    }
}
