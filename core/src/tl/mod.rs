//! The TL layer: binary primitives, the schema parser, generated service
//! types and the schema-driven dynamic codec. It knows nothing of sessions
//! or sockets.

pub mod schema;
pub mod service;
pub mod wire;

pub use wire::{Reader, Writer};

/// Errors of the TL layer. Every malformed input maps to one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlError {
    #[error("unexpected end of input: needed {needed} bytes, {remaining} left")]
    UnexpectedEof { needed: usize, remaining: usize },
    #[error("unexpected constructor {got:#010x} (expected {expected:#010x})")]
    UnexpectedConstructor { expected: u32, got: u32 },
    #[error("unknown constructor {0:#010x} for this type")]
    UnknownConstructor(u32),
    #[error("invalid bytes/string length prefix 0xFF")]
    InvalidBytesPrefix,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("negative length {0}")]
    NegativeLength(i32),
    #[error("value of {0} bytes is longer than TL can encode (2^24-1)")]
    TooLong(usize),
    #[error("trailing {0} bytes after a complete value")]
    TrailingBytes(usize),
    #[error("{0}")]
    Invalid(String),
}

/// A TL value that can be written in its boxed form (constructor id first).
pub trait Serialize {
    /// Appends the boxed serialization.
    fn serialize(&self, out: &mut Vec<u8>);

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.serialize(&mut out);
        out
    }
}

/// A TL value that can be read from its boxed form.
pub trait Deserialize: Sized {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, TlError>;

    /// Reads one value that must take the whole buffer.
    fn from_bytes(data: &[u8]) -> Result<Self, TlError> {
        let mut r = Reader::new(data);
        let v = Self::deserialize(&mut r)?;
        match r.remaining() {
            0 => Ok(v),
            n => Err(TlError::TrailingBytes(n)),
        }
    }
}

/// A constructor or function with a fixed id.
pub trait Identifiable {
    const CONSTRUCTOR_ID: u32;
}

/// A function whose result type is known statically.
pub trait RemoteCall: Serialize {
    type Return;
}

impl Deserialize for bool {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, TlError> {
        r.read_bool()
    }
}

/// Read path of a generated field whose type is outside the service schema
/// (e.g. `JSONValue` in `initConnection`): such values can be written from
/// pre-serialized bytes but only the dynamic codec can decode them.
pub(crate) fn undecodable(type_name: &str) -> Result<Vec<u8>, TlError> {
    Err(TlError::Invalid(format!(
        "{type_name} cannot be decoded with the service schema alone"
    )))
}
