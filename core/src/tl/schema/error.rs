//! [`CodecError`] and the field paths it reports.

use serde_json::Value;

use crate::tl::TlError;

/// Why the dynamic codec rejected a value or a buffer.
///
/// Every variant carries `path`: where in the value the problem sits, written
/// as the top-level constructor or function name followed by field names and
/// vector indexes, e.g. `messages.sendMessage.peer` or
/// `msg_container.messages[1].body`. A path of `<root>` means the top level
/// before any name was known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// `"_"` names nothing in the schema.
    #[error("{path}: unknown constructor or function `{name}`")]
    UnknownName { path: String, name: String },
    /// A type the caller asked for, or a `%T` in the schema, cannot be used.
    #[error("{path}: unusable type `{name}`: {reason}")]
    UnknownType {
        path: String,
        name: String,
        reason: String,
    },
    /// The input holds a constructor id the schema does not know. TL objects
    /// carry no length, so the rest of the buffer cannot be interpreted (B-11).
    #[error("{path}: unknown constructor id {id:#010x} where {expected} was expected")]
    UnknownConstructor {
        path: String,
        id: u32,
        expected: String,
    },
    /// A required field (or one whose flag bit another field set) is absent.
    #[error("{path}: missing field `{field}` of `{object}`")]
    MissingField {
        path: String,
        object: String,
        field: String,
    },
    /// The JSON object has a key that is not a field of its constructor.
    #[error("{path}: `{object}` has no field `{field}`")]
    UnknownField {
        path: String,
        object: String,
        field: String,
    },
    /// The value has the wrong JSON kind, or names a constructor of another
    /// type. `got` is the JSON value kind, or the constructor name in quotes.
    #[error("{path}: expected {expected}, got {got}")]
    WrongType {
        path: String,
        expected: String,
        got: String,
    },
    /// A number that does not fit its TL type (`int`, `long`, byte values).
    #[error("{path}: {value} is out of range for {ty}")]
    OutOfRange {
        path: String,
        ty: String,
        value: String,
    },
    /// A TL object was expected: a JSON object with a `"_"` name.
    #[error(
        "{path}: expected a TL object of type {expected} (a JSON object with \"_\"), got {got}"
    )]
    NotAnObject {
        path: String,
        expected: String,
        got: String,
    },
    /// A string that is not valid for its type: bad base64, bad hex, wrong
    /// length of `int128`/`int256`, a malformed decimal `long`.
    #[error("{path}: invalid {ty}: {reason}")]
    InvalidValue {
        path: String,
        ty: String,
        reason: String,
    },
    /// A `Vector` where any object may appear (`Object`, the top level of
    /// [`Schema::decode`](super::Schema::decode)): its element type is not
    /// written on the wire, so it can only be handled with a known type
    /// ([`Schema::decode_as`](super::Schema::decode_as), e.g. `Vector<long>`).
    #[error("{path}: a Vector whose element type is unknown; decode or encode it with an explicit type such as Vector<User>")]
    UntypedVector { path: String },
    /// A wire-level error: truncated input, bad string prefix, invalid UTF-8,
    /// negative or impossible count, over-long bytes.
    #[error("{path}: {source}")]
    Tl {
        path: String,
        #[source]
        source: TlError,
    },
    /// The value ended before the input did.
    #[error("{path}: {count} trailing bytes after a complete value")]
    TrailingBytes { path: String, count: usize },
    /// `gzip_packed` data is not a valid gzip stream (B-13).
    #[error("{path}: gzip_packed: {reason}")]
    Gzip { path: String, reason: String },
    /// `gzip_packed` data unpacks to more than
    /// [`Limits::max_unpacked_size`](super::Limits) bytes.
    #[error("{path}: gzip_packed unpacks to more than {limit} bytes")]
    GzipTooLarge { path: String, limit: usize },
    /// Nesting deeper than [`Limits::max_depth`](super::Limits).
    #[error("{path}: nesting deeper than {limit} levels")]
    TooDeep { path: String, limit: usize },
}

impl CodecError {
    /// Where in the value the error sits.
    pub fn path(&self) -> &str {
        match self {
            CodecError::UnknownName { path, .. }
            | CodecError::UnknownType { path, .. }
            | CodecError::UnknownConstructor { path, .. }
            | CodecError::MissingField { path, .. }
            | CodecError::UnknownField { path, .. }
            | CodecError::WrongType { path, .. }
            | CodecError::OutOfRange { path, .. }
            | CodecError::NotAnObject { path, .. }
            | CodecError::InvalidValue { path, .. }
            | CodecError::UntypedVector { path }
            | CodecError::Tl { path, .. }
            | CodecError::TrailingBytes { path, .. }
            | CodecError::Gzip { path, .. }
            | CodecError::GzipTooLarge { path, .. }
            | CodecError::TooDeep { path, .. } => path,
        }
    }
}

/// One step of a path. Names borrow from the schema; nothing is formatted
/// unless an error is actually reported.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg<'s> {
    Name(&'s str),
    Index(usize),
}

/// The path under construction while encoding or decoding, and how deep
/// the nesting of objects currently is (bounded, so hostile input cannot
/// exhaust the stack).
#[derive(Debug, Default)]
pub(crate) struct Path<'s> {
    segs: Vec<Seg<'s>>,
    depth: usize,
}

impl<'s> Path<'s> {
    /// Enters one level of nesting; `TooDeep` past `limit`.
    pub(crate) fn enter(&mut self, limit: usize) -> Result<(), CodecError> {
        self.depth += 1;
        if self.depth > limit {
            return Err(CodecError::TooDeep {
                path: self.render(),
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    pub(crate) fn push(&mut self, seg: Seg<'s>) {
        self.segs.push(seg);
    }

    pub(crate) fn pop(&mut self) {
        self.segs.pop();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    pub(crate) fn render(&self) -> String {
        if self.segs.is_empty() {
            return "<root>".into();
        }
        let mut out = String::new();
        for (i, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Name(n) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(n);
                }
                Seg::Index(k) => {
                    out.push('[');
                    out.push_str(&k.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

/// A short description of a JSON value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(map) => match map.get("_") {
            Some(Value::String(name)) => format!("{name:?}"),
            _ => "a JSON object without a \"_\" name".into(),
        },
    }
}
