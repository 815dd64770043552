//! TL schemas: the text parser (shared with the build script) and, on top of
//! it, the indexed [`Schema`] used by the dynamic codec.

pub mod parse;

pub use parse::{
    crc_id, id_mismatches, Category, Definition, FlagRef, IdMismatch, Param, ParamKind, ParseError,
    TypeRef,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn api_tl() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tl/api.tl");
        std::fs::read_to_string(path).expect("../shared/tl/api.tl beside the repository")
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
