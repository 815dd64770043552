//! Rust types for the MTProto service schema, generated at build time from
//! `core/tl/mtproto.tl` by `build.rs`.
//!
//! Naming: a constructor `p_q_inner_data_dc` becomes the struct
//! `types::PQInnerDataDc`; a function `req_DH_params` becomes
//! `functions::ReqDHParams`; a boxed type `Server_DH_Params` becomes the enum
//! `enums::ServerDHParams` with one variant per constructor. `Serialize` and
//! `Deserialize` use the boxed form; `serialize_bare`/`deserialize_bare` the
//! bare one. `Object` and `!X` fields hold raw TL bytes.

include!(concat!(env!("OUT_DIR"), "/mtproto_service.rs"));

#[cfg(test)]
mod tests {
    use super::{enums, functions, types};
    use crate::tl::{Deserialize, Identifiable, Reader, Serialize};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const NONCE: &str = "79F0AFB50252E5FC96924BFCECDA4F05";
    const SERVER_NONCE: &str = "801775A3EFBFD2701AA28AD727BE4646";

    fn arr16(s: &str) -> [u8; 16] {
        h(s).try_into().unwrap()
    }

    /// A-2, B-3, B-8, TV §1.1–1.2: req_pq_multi and resPQ bodies byte for byte.
    #[test]
    fn a2_req_pq_multi_and_res_pq() {
        let req = functions::ReqPqMulti {
            nonce: arr16(NONCE),
        };
        assert_eq!(req.to_bytes(), h(&format!("F18E7EBE{NONCE}")));
        let body = h("6324160579F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE464608130B7475669FEB8B00000015C4B51C0300000085FD64DE851D9DD0A5B7F709355FC30B216BE86C022BB4C3");
        let res = types::ResPQ::from_bytes(&body).unwrap();
        assert_eq!(res.nonce, arr16(NONCE));
        assert_eq!(res.server_nonce, arr16(SERVER_NONCE));
        assert_eq!(res.pq, h("130B7475669FEB8B"));
        assert_eq!(
            res.server_public_key_fingerprints[0],
            0xD09D1D85DE64FD85u64 as i64
        );
        assert_eq!(res.to_bytes(), body);
    }

    /// A-6, TV §1.4: p_q_inner_data_dc serialization.
    #[test]
    fn a6_p_q_inner_data_dc() {
        let inner = types::PQInnerDataDc {
            pq: h("130B7475669FEB8B"),
            p: h("44095E05"),
            q: h("47A8C84F"),
            nonce: arr16(NONCE),
            server_nonce: arr16(SERVER_NONCE),
            new_nonce: h("264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC")
                .try_into()
                .unwrap(),
            dc: 2,
        };
        assert_eq!(inner.to_bytes(), h("955FF5A908130B7475669FEB8B0000000444095E050000000447A8C84F00000079F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE4646264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC02000000"));
        let any = enums::PQInnerData::from_bytes(&inner.to_bytes()).unwrap();
        assert_eq!(any, enums::PQInnerData::PQInnerDataDc(inner));
    }

    /// A-18, TV §1.9: dh_gen_ok decodes through the boxed enum.
    #[test]
    fn a18_dh_gen_ok() {
        let body = h("34F7CB3B79F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE464651070B3DB672B7602E4EE2FE761B36A2");
        match enums::SetClientDHParamsAnswer::from_bytes(&body).unwrap() {
            enums::SetClientDHParamsAnswer::DhGenOk(ok) => {
                assert_eq!(
                    ok.new_nonce_hash1,
                    arr16("51070B3DB672B7602E4EE2FE761B36A2")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            enums::SetClientDHParamsAnswer::from_bytes(&h("01020304")),
            Err(crate::tl::TlError::UnknownConstructor(0x04030201))
        ));
    }

    /// B-8, S-18, TV §7.9: msg_container is a bare vector of bare messages.
    #[test]
    fn s18_container_bare_vector() {
        let body = h("DCF8F1730200000080563412EEE57767020000001400000059B4D66215C4B51C0100000001000000EFE5776784563412EEE57767030000000C000000EC77BE7A8877665544332211");
        let c = types::MsgContainer::from_bytes(&body).unwrap();
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.messages[0].msg_id, 0x6777E5EE12345680);
        assert_eq!(c.messages[0].seqno, 2);
        let ack = types::MsgsAck::from_bytes(&c.messages[0].body).unwrap();
        assert_eq!(ack.msg_ids, vec![0x6777E5EF00000001]);
        let ping = functions::Ping::from_bytes(&c.messages[1].body).unwrap();
        assert_eq!(ping.ping_id, 0x1122334455667788);
        assert_eq!(c.to_bytes(), body);
        // A body length beyond the buffer is an error, not a panic.
        let mut bad = body.clone();
        bad[20] = 0xFF;
        assert!(types::MsgContainer::from_bytes(&bad).is_err());
    }

    /// B-8, S-15, TV §7.9: future_salts holds a bare vector of bare future_salt.
    #[test]
    fn s15_future_salts_bare_vector() {
        let body = h("950850AE78563412EEE57767EBE5776702000000EBE57767F3EC77670807060504030201F3EC7767FBF377671817161514131211");
        let fs = types::FutureSalts::from_bytes(&body).unwrap();
        assert_eq!(fs.req_msg_id, 0x6777E5EE12345678);
        assert_eq!(fs.salts.len(), 2);
        assert_eq!(fs.salts[0].salt, 0x0102030405060708);
        assert_eq!(fs.to_bytes(), body);
    }

    /// S-2, TV §7.4: rpc_result keeps its result as raw bytes (any Object).
    #[test]
    fn s2_rpc_result_with_error() {
        let body = h("016D5CF378563412EEE5776719CA4421A40100000C464C4F4F445F574149545F33000000");
        let res = types::RpcResult::from_bytes(&body).unwrap();
        assert_eq!(res.req_msg_id, 0x6777E5EE12345678);
        let err = types::RpcError::from_bytes(&res.result).unwrap();
        assert_eq!(
            (err.error_code, err.error_message.as_str()),
            (420, "FLOOD_WAIT_3")
        );
    }

    /// B-10, R-4: initConnection computes its flags from the optional fields;
    /// `!X` holds the inner call's bytes.
    #[test]
    fn b10_flags_computed_from_optional_fields() {
        let inner = functions::Ping { ping_id: 7 }.to_bytes();
        let mut call = functions::InitConnection {
            api_id: 1,
            device_model: "d".into(),
            system_version: "s".into(),
            app_version: "a".into(),
            system_lang_code: "en".into(),
            lang_pack: "".into(),
            lang_code: "en".into(),
            proxy: None,
            params: None,
            query: inner.clone(),
        };
        let bytes = call.to_bytes();
        assert_eq!(&bytes[..4], &0xc1cd5ea9u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
        assert!(bytes.ends_with(&inner));
        call.proxy = Some(
            types::InputClientProxy {
                address: "h".into(),
                port: 1,
            }
            .into(),
        );
        let bytes = call.to_bytes();
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
        let back = functions::InitConnection::from_bytes(&bytes).unwrap();
        assert_eq!(back, call);
        let wrapped = functions::InvokeWithLayer {
            layer: 228,
            query: bytes.clone(),
        };
        assert_eq!(
            &wrapped.to_bytes()[..8],
            &[0x0D, 0x0D, 0x9B, 0xDA, 228, 0, 0, 0]
        );
        assert_eq!(functions::InvokeWithLayer::CONSTRUCTOR_ID, 0xda9b0d0d);
    }

    /// B-11: truncated input at every length is an error, never a panic.
    #[test]
    fn b11_truncated_inputs_are_errors() {
        let body = h("6324160579F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE464608130B7475669FEB8B00000015C4B51C0300000085FD64DE851D9DD0A5B7F709355FC30B216BE86C022BB4C3");
        for n in 0..body.len() {
            assert!(types::ResPQ::deserialize(&mut Reader::new(&body[..n])).is_err());
        }
    }
}
