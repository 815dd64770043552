//! The test API of `test.tl`: constructor ids, request builders for
//! clients, the parser the server dispatches on, and the deterministic
//! contents of generated payloads (so a client can check what it got).
//!
//! Hand-serialized with the core's TL [`Reader`]/[`Writer`]: seven methods
//! do not justify the dynamic codec, and the ids are checked against the
//! CRC32 rule by parsing `test.tl` in this module's tests.

use mtproto::tl::{Reader, TlError, Writer};

/// The schema text, for tooling in other languages (dynamic codecs) and
/// for the id check.
pub const TEST_TL: &str = include_str!("../test.tl");

/// Constructor ids of `test.tl` (B-12).
pub mod ids {
    pub const PAYLOAD: u32 = 0xb750c89e;
    pub const UPDATE: u32 = 0x953f0002;
    pub const COUNT: u32 = 0xf817aaab;
    pub const ECHO: u32 = 0x8f5c7b19;
    pub const BIG_PAYLOAD: u32 = 0x22c80592;
    pub const ERROR: u32 = 0x27e9abdd;
    pub const SLEEP: u32 = 0x16e1c9d6;
    pub const PUSH_UPDATES: u32 = 0x0e841a3c;
    pub const COUNTER: u32 = 0x30111f37;
    pub const DROP_CONNECTION: u32 = 0x44554e8f;
    pub const CANCELLED_COUNT: u32 = 0x6e16d7e7;
    pub const COUNTER_SLOW: u32 = 0xea6b2c5f;
    pub const FORGET_SESSION: u32 = 0x54348f76;
    /// `boolTrue` / `boolFalse` of the service schema (B-9).
    pub const BOOL_TRUE: u32 = 0x997275b5;
    pub const BOOL_FALSE: u32 = 0xbc799737;
}

/// Upper bounds on what one call may ask the server to produce, so a
/// hostile or buggy request cannot make it allocate without limit.
pub mod limits {
    /// `test.bigPayload.size` (the result still fits one TL `bytes`).
    pub const MAX_BIG_PAYLOAD: i32 = 8 << 20;
    /// `test.sleep.ms`: ten minutes.
    pub const MAX_SLEEP_MS: i32 = 600_000;
    /// `test.pushUpdates.count`.
    pub const MAX_UPDATES: i32 = 100_000;
    /// `test.pushUpdates.size`.
    pub const MAX_UPDATE_SIZE: i32 = 1 << 20;
    /// `count * size` of one `test.pushUpdates`.
    pub const MAX_UPDATES_TOTAL: i64 = 64 << 20;
}

/// One call of the test API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Echo(Vec<u8>),
    BigPayload { size: i32 },
    Error { code: i32, message: String },
    Sleep { ms: i32 },
    PushUpdates { count: i32, size: i32 },
    Counter { key: String },
    DropConnection,
    CancelledCount,
    CounterSlow { key: String, ms: i32, cut: Cut },
    ForgetSession,
}

/// Where `test.counterSlow` cuts the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    Never,
    /// After the query ran, before its answer left the server.
    AfterRun,
    /// After the answer left the server, before the client read it.
    AfterAnswer,
}

impl Cut {
    pub fn code(self) -> i32 {
        match self {
            Cut::Never => 0,
            Cut::AfterRun => 1,
            Cut::AfterAnswer => 2,
        }
    }

    fn from_code(code: i32) -> Option<Cut> {
        match code {
            0 => Some(Cut::Never),
            1 => Some(Cut::AfterRun),
            2 => Some(Cut::AfterAnswer),
            _ => None,
        }
    }
}

impl Call {
    /// Parses a query body. `Ok(None)`: not a test API method (the server
    /// answers those with `METHOD_INVALID`); `Err`: a test method whose
    /// arguments do not parse.
    pub fn parse(body: &[u8]) -> Result<Option<Call>, TlError> {
        let mut r = Reader::new(body);
        let id = match r.read_u32() {
            Ok(id) => id,
            Err(_) => return Ok(None),
        };
        let call = match id {
            ids::ECHO => Call::Echo(r.read_bytes()?.to_vec()),
            ids::BIG_PAYLOAD => Call::BigPayload {
                size: r.read_i32()?,
            },
            ids::ERROR => Call::Error {
                code: r.read_i32()?,
                message: r.read_string()?,
            },
            ids::SLEEP => Call::Sleep { ms: r.read_i32()? },
            ids::PUSH_UPDATES => Call::PushUpdates {
                count: r.read_i32()?,
                size: r.read_i32()?,
            },
            ids::COUNTER => Call::Counter {
                key: r.read_string()?,
            },
            ids::DROP_CONNECTION => Call::DropConnection,
            ids::CANCELLED_COUNT => Call::CancelledCount,
            ids::COUNTER_SLOW => {
                let key = r.read_string()?;
                let ms = r.read_i32()?;
                let code = r.read_i32()?;
                let cut = Cut::from_code(code).ok_or(TlError::UnknownConstructor(code as u32))?;
                Call::CounterSlow { key, ms, cut }
            }
            ids::FORGET_SESSION => Call::ForgetSession,
            _ => return Ok(None),
        };
        match r.remaining() {
            0 => Ok(Some(call)),
            n => Err(TlError::TrailingBytes(n)),
        }
    }

    /// The boxed serialization a client sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Call::Echo(data) => {
                out.put_u32(ids::ECHO);
                out.put_bytes(data);
            }
            Call::BigPayload { size } => {
                out.put_u32(ids::BIG_PAYLOAD);
                out.put_i32(*size);
            }
            Call::Error { code, message } => {
                out.put_u32(ids::ERROR);
                out.put_i32(*code);
                out.put_string(message);
            }
            Call::Sleep { ms } => {
                out.put_u32(ids::SLEEP);
                out.put_i32(*ms);
            }
            Call::PushUpdates { count, size } => {
                out.put_u32(ids::PUSH_UPDATES);
                out.put_i32(*count);
                out.put_i32(*size);
            }
            Call::Counter { key } => {
                out.put_u32(ids::COUNTER);
                out.put_string(key);
            }
            Call::DropConnection => out.put_u32(ids::DROP_CONNECTION),
            Call::CancelledCount => out.put_u32(ids::CANCELLED_COUNT),
            Call::CounterSlow { key, ms, cut } => {
                out.put_u32(ids::COUNTER_SLOW);
                out.put_string(key);
                out.put_i32(*ms);
                out.put_i32(cut.code());
            }
            Call::ForgetSession => out.put_u32(ids::FORGET_SESSION),
        }
        out
    }
}

/// `test.payload data`.
pub fn payload(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.put_u32(ids::PAYLOAD);
    out.put_bytes(data);
    out
}

/// `test.update seq data`.
pub fn update(seq: i32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.put_u32(ids::UPDATE);
    out.put_i32(seq);
    out.put_bytes(data);
    out
}

/// `test.count value`.
pub fn count(value: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.put_u32(ids::COUNT);
    out.put_i64(value);
    out
}

/// `boolTrue` / `boolFalse`.
pub fn bool_value(v: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    out.put_bool(v);
    out
}

fn whole<T>(
    bytes: &[u8],
    id: u32,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, TlError>,
) -> Result<T, TlError> {
    let mut r = Reader::new(bytes);
    r.expect_id(id)?;
    let v = f(&mut r)?;
    match r.remaining() {
        0 => Ok(v),
        n => Err(TlError::TrailingBytes(n)),
    }
}

/// Reads a `test.payload`, returning its data.
pub fn parse_payload(bytes: &[u8]) -> Result<Vec<u8>, TlError> {
    whole(bytes, ids::PAYLOAD, |r| Ok(r.read_bytes()?.to_vec()))
}

/// Reads a `test.update`, returning `(seq, data)`.
pub fn parse_update(bytes: &[u8]) -> Result<(i32, Vec<u8>), TlError> {
    whole(bytes, ids::UPDATE, |r| {
        Ok((r.read_i32()?, r.read_bytes()?.to_vec()))
    })
}

/// Reads a `test.count`, returning its value.
pub fn parse_count(bytes: &[u8]) -> Result<i64, TlError> {
    whole(bytes, ids::COUNT, |r| r.read_i64())
}

/// Reads a boxed `Bool`.
pub fn parse_bool(bytes: &[u8]) -> Result<bool, TlError> {
    let mut r = Reader::new(bytes);
    let v = r.read_bool()?;
    match r.remaining() {
        0 => Ok(v),
        n => Err(TlError::TrailingBytes(n)),
    }
}

/// The data of `test.bigPayload size`: a repeated text, so it compresses
/// well and a client can verify every byte.
pub fn big_payload_data(size: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"mtproto-localdc big payload. ";
    TEXT.iter().copied().cycle().take(size).collect()
}

/// The data of the update with sequence number `seq` in
/// `test.pushUpdates`: byte `i` is `seq + i` (mod 256).
pub fn update_data(seq: i32, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (seq as usize).wrapping_add(i) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtproto::tl::schema::parse::parse;

    /// B-12: every declaration of test.tl carries the id the CRC32 rule
    /// gives, and the constants here are those ids.
    #[test]
    fn b12_test_tl_ids_follow_the_crc32_rule() {
        let defs = parse(TEST_TL).expect("test.tl parses");
        let expected = [
            ("test.payload", ids::PAYLOAD),
            ("test.update", ids::UPDATE),
            ("test.count", ids::COUNT),
            ("test.echo", ids::ECHO),
            ("test.bigPayload", ids::BIG_PAYLOAD),
            ("test.error", ids::ERROR),
            ("test.sleep", ids::SLEEP),
            ("test.pushUpdates", ids::PUSH_UPDATES),
            ("test.counter", ids::COUNTER),
            ("test.dropConnection", ids::DROP_CONNECTION),
            ("test.cancelledCount", ids::CANCELLED_COUNT),
            ("test.counterSlow", ids::COUNTER_SLOW),
            ("test.forgetSession", ids::FORGET_SESSION),
        ];
        assert_eq!(defs.len(), expected.len());
        for (name, id) in expected {
            let d = defs
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| panic!("{name} missing from test.tl"));
            assert!(d.explicit_id, "{name} has an explicit id");
            assert_eq!(d.crc_id, d.id, "{name}: `{}`", d.crc_text());
            assert_eq!(d.id, id, "{name}");
        }
    }

    #[test]
    fn calls_round_trip() {
        let calls = [
            Call::Echo(b"hello".to_vec()),
            Call::BigPayload { size: 100_000 },
            Call::Error {
                code: 420,
                message: "FLOOD_WAIT_3".into(),
            },
            Call::Sleep { ms: 50 },
            Call::PushUpdates { count: 3, size: 7 },
            Call::Counter { key: "k".into() },
            Call::DropConnection,
            Call::CancelledCount,
        ];
        for c in calls {
            assert_eq!(Call::parse(&c.to_bytes()), Ok(Some(c.clone())));
        }
        // Not a test method, and an empty body: not ours.
        assert_eq!(Call::parse(&0x12345678u32.to_le_bytes()), Ok(None));
        assert_eq!(Call::parse(&[]), Ok(None));
        // Truncated arguments and trailing bytes are errors.
        assert!(Call::parse(&ids::SLEEP.to_le_bytes()).is_err());
        let mut long = Call::DropConnection.to_bytes();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(Call::parse(&long), Err(TlError::TrailingBytes(4)));
    }

    #[test]
    fn results_round_trip() {
        assert_eq!(parse_payload(&payload(b"abc")).unwrap(), b"abc");
        assert_eq!(
            parse_update(&update(7, b"xy")).unwrap(),
            (7, b"xy".to_vec())
        );
        assert_eq!(parse_count(&count(-3)).unwrap(), -3);
        assert!(parse_bool(&bool_value(true)).unwrap());
        assert!(!parse_bool(&bool_value(false)).unwrap());
        assert!(parse_payload(&count(1)).is_err());
        assert_eq!(big_payload_data(40).len(), 40);
        assert_eq!(update_data(255, 3), vec![255, 0, 1]);
    }
}
