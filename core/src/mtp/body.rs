//! Message bodies above the envelope: containers (S-18, M-7), gzip_packed
//! (B-13) and rpc_result (S-2).

use std::io::Read;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::MtpError;
use crate::tl::service::types;
use crate::tl::{Deserialize, Identifiable, Reader, Serialize, TlError};

/// At most 1024 messages per container (S-18).
pub const MAX_CONTAINER_MESSAGES: usize = 1024;
/// Upper bound on a decompressed gzip_packed body: larger is treated as
/// hostile (a "gzip bomb") instead of exhausting memory.
pub const MAX_GUNZIP_LEN: usize = 16 << 20;

const GZIP_PACKED_ID: u32 = types::GzipPacked::CONSTRUCTOR_ID;
const RPC_ERROR_ID: u32 = types::RpcError::CONSTRUCTOR_ID;

/// One message inside a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEntry {
    pub msg_id: i64,
    pub seq_no: i32,
    pub body: Vec<u8>,
}

/// Serializes a `msg_container` body (S-18): a bare vector of bare messages.
pub fn pack_container(entries: &[ContainerEntry], out: &mut Vec<u8>) {
    use crate::tl::Writer;
    out.put_u32(types::MsgContainer::CONSTRUCTOR_ID);
    out.put_i32(entries.len() as i32);
    for e in entries {
        out.put_i64(e.msg_id);
        out.put_i32(e.seq_no);
        out.put_i32(e.body.len() as i32);
        out.put_raw(&e.body);
    }
}

/// Parses a container body and enforces S-18 and M-7: at most 1024
/// entries, no nested containers, and every inner msg_id below the
/// container's own.
pub fn unpack_container(
    container_msg_id: i64,
    body: &[u8],
) -> Result<Vec<ContainerEntry>, MtpError> {
    let mut r = Reader::new(body);
    r.expect_id(types::MsgContainer::CONSTRUCTOR_ID)?;
    // Each entry takes at least 16 header bytes.
    let n = r.read_count(16)?;
    if n > MAX_CONTAINER_MESSAGES {
        return Err(MtpError::ContainerTooLarge(n));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let m = types::Message::deserialize_bare(&mut r)?;
        if m.msg_id >= container_msg_id {
            return Err(MtpError::ContainerIdOrder {
                inner: m.msg_id,
                container: container_msg_id,
            });
        }
        if m.body.get(..4) == Some(&types::MsgContainer::CONSTRUCTOR_ID.to_le_bytes()[..]) {
            return Err(MtpError::NestedContainer);
        }
        out.push(ContainerEntry {
            msg_id: m.msg_id,
            seq_no: m.seqno,
            body: m.body,
        });
    }
    if r.remaining() != 0 {
        return Err(TlError::TrailingBytes(r.remaining()).into());
    }
    Ok(out)
}

/// Wraps a boxed serialization as `gzip_packed` (B-13).
pub fn gzip_pack(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    std::io::Write::write_all(&mut enc, data).expect("writing to a Vec cannot fail");
    let packed = enc.finish().expect("writing to a Vec cannot fail");
    types::GzipPacked {
        packed_data: packed,
    }
    .to_bytes()
}

/// Decompresses a gzip stream (RFC 1952), refusing more than
/// [`MAX_GUNZIP_LEN`] bytes of output.
pub fn gzip_unpack(packed: &[u8]) -> Result<Vec<u8>, MtpError> {
    let mut out = Vec::new();
    let mut dec = GzDecoder::new(packed).take(MAX_GUNZIP_LEN as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| MtpError::Gzip(e.to_string()))?;
    if out.len() > MAX_GUNZIP_LEN {
        return Err(MtpError::Gzip(format!(
            "decompressed body exceeds {MAX_GUNZIP_LEN} bytes"
        )));
    }
    Ok(out)
}

/// If `object` is a `gzip_packed`, returns its decompressed content;
/// otherwise returns it unchanged (B-13: accepted wherever an Object may be).
///
/// A gzip_packed whose content is again gzip_packed is refused: it is never
/// useful, and unwrapping layer after layer would let a peer drive the
/// receiver's recursion as deep as it likes.
pub fn unwrap_gzip(object: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, MtpError> {
    if object.get(..4) == Some(&GZIP_PACKED_ID.to_le_bytes()[..]) {
        let packed = types::GzipPacked::from_bytes(object)?;
        let inner = gzip_unpack(&packed.packed_data)?;
        if inner.get(..4) == Some(&GZIP_PACKED_ID.to_le_bytes()[..]) {
            return Err(MtpError::Gzip("gzip_packed inside gzip_packed".into()));
        }
        Ok(std::borrow::Cow::Owned(inner))
    } else {
        Ok(std::borrow::Cow::Borrowed(object))
    }
}

/// The answer carried by an rpc_result (S-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcAnswer {
    /// The boxed result, already un-gzipped.
    Ok(Vec<u8>),
    /// `rpc_error`.
    Error { code: i32, message: String },
}

/// A parsed `rpc_result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcResult {
    pub req_msg_id: i64,
    pub answer: RpcAnswer,
}

impl RpcResult {
    /// Parses an `rpc_result` body, unpacking gzip_packed results and
    /// decoding rpc_error.
    pub fn parse(body: &[u8]) -> Result<Self, MtpError> {
        let raw = types::RpcResult::from_bytes(body)?;
        let result = unwrap_gzip(&raw.result)?;
        let answer = if result.get(..4) == Some(&RPC_ERROR_ID.to_le_bytes()[..]) {
            let e = types::RpcError::from_bytes(&result)?;
            RpcAnswer::Error {
                code: e.error_code,
                message: e.error_message,
            }
        } else {
            RpcAnswer::Ok(result.into_owned())
        };
        Ok(RpcResult {
            req_msg_id: raw.req_msg_id,
            answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// S-18, M-7, TV §7.9: container round trip and its limits.
    #[test]
    fn s18_m7_container_rules() {
        let body = h("DCF8F1730200000080563412EEE57767020000001400000059B4D66215C4B51C0100000001000000EFE5776784563412EEE57767030000000C000000EC77BE7A8877665544332211");
        let entries = unpack_container(0x6777E5EE12345688, &body).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].seq_no, 3);
        let mut again = Vec::new();
        pack_container(&entries, &mut again);
        assert_eq!(again, body);
        // M-7: the container id must exceed every inner id.
        assert!(matches!(
            unpack_container(0x6777E5EE12345684, &body),
            Err(MtpError::ContainerIdOrder { .. })
        ));
        // No nesting.
        let nested = vec![ContainerEntry {
            msg_id: 4,
            seq_no: 0,
            body: body.clone(),
        }];
        let mut out = Vec::new();
        pack_container(&nested, &mut out);
        assert_eq!(
            unpack_container(i64::MAX, &out),
            Err(MtpError::NestedContainer)
        );
        // At most 1024 entries.
        let many: Vec<_> = (0..1025)
            .map(|i| ContainerEntry {
                msg_id: i * 4,
                seq_no: 0,
                body: h("EC77BE7A8877665544332211"),
            })
            .collect();
        let mut out = Vec::new();
        pack_container(&many, &mut out);
        assert_eq!(
            unpack_container(i64::MAX, &out),
            Err(MtpError::ContainerTooLarge(1025))
        );
        // Truncated: an error, not a panic.
        for n in 0..body.len() {
            assert!(unpack_container(i64::MAX, &body[..n]).is_err());
        }
    }

    /// B-13, S-2, TV §7.10: gzip_packed rpc_error inside rpc_result.
    #[test]
    fn b13_gzip_packed_vector() {
        let gz = h("A1CF72302C1F8B0800000000000203933CE5A2B884918181C7CDC7DFDF253EDCD13324DE98818101004260B22518000000000000");
        assert_eq!(
            unwrap_gzip(&gz).unwrap().as_ref(),
            &h("19CA4421A40100000C464C4F4F445F574149545F33000000")[..]
        );
        let mut rpc = h("016D5CF378563412EEE57767");
        rpc.extend_from_slice(&gz);
        let r = RpcResult::parse(&rpc).unwrap();
        assert_eq!(r.req_msg_id, 0x6777E5EE12345678);
        assert_eq!(
            r.answer,
            RpcAnswer::Error {
                code: 420,
                message: "FLOOD_WAIT_3".into()
            }
        );
    }

    /// B-13: our own gzip output round-trips; corrupt streams and bombs are errors.
    #[test]
    fn b13_gzip_round_trip_and_bounds() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        let packed = gzip_pack(&data);
        assert!(packed.len() < data.len() / 4);
        assert_eq!(unwrap_gzip(&packed).unwrap().as_ref(), &data[..]);
        let mut bad = packed.clone();
        let n = bad.len();
        bad[n / 2] ^= 0xFF;
        assert!(unwrap_gzip(&bad).is_err());
        let bomb = gzip_pack(&vec![0u8; MAX_GUNZIP_LEN + 4]);
        assert!(matches!(unwrap_gzip(&bomb), Err(MtpError::Gzip(_))));
    }

    /// B-13: nested gzip_packed is refused (bounded recursion for hostile peers).
    #[test]
    fn b13_nested_gzip_refused() {
        let inner = gzip_pack(&h("B5757299"));
        let nested = gzip_pack(&inner);
        assert!(matches!(unwrap_gzip(&nested), Err(MtpError::Gzip(_))));
        assert_eq!(unwrap_gzip(&inner).unwrap().as_ref(), &h("B5757299")[..]);
    }

    /// S-2: a plain result passes through unchanged.
    #[test]
    fn s2_rpc_result_ok() {
        let mut rpc = h("016D5CF30100000000000000");
        rpc.extend_from_slice(&h("B5757299"));
        let r = RpcResult::parse(&rpc).unwrap();
        assert_eq!(r.answer, RpcAnswer::Ok(h("B5757299")));
    }
}
