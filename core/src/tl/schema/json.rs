//! JSON forms of the TL primitive types (see the conventions in the module
//! documentation of [`super`]).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{Number, Value};

/// Largest integer a JSON number carries exactly everywhere: JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 - 1. Longs beyond it travel as strings.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Standard alphabet; accepts input with or without `=` padding.
const BASE64_IN: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What was wrong with a primitive JSON value; the caller adds the path.
#[derive(Debug)]
pub(crate) enum Bad {
    /// Wrong JSON kind; the text describes what was expected.
    Kind(&'static str),
    /// Right kind, value out of the type's range.
    Range,
    /// Right kind, malformed content.
    Invalid(String),
}

pub(crate) fn long_to_json(v: i64) -> Value {
    if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
        Value::from(v)
    } else {
        Value::String(v.to_string())
    }
}

pub(crate) fn double_to_json(v: f64) -> Value {
    match Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => Value::String("NaN".into()),
        None if v > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

pub(crate) fn bytes_to_json(v: &[u8]) -> Value {
    Value::String(STANDARD.encode(v))
}

pub(crate) fn hex_to_json(v: &[u8]) -> Value {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(v.len() * 2);
    for b in v {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    Value::String(s)
}

/// An integral JSON number as i64, accepting floats with no fractional part
/// up to 2^53 (some JSON producers write every number as a float).
fn integral(n: &Number) -> Result<i64, Bad> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.as_u64().is_some() {
        return Err(Bad::Range);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 => Ok(f as i64),
        Some(f) if f.is_finite() && f.fract() == 0.0 => Err(Bad::Range),
        _ => Err(Bad::Kind("an integer")),
    }
}

pub(crate) fn json_to_int(v: &Value) -> Result<i32, Bad> {
    match v {
        Value::Number(n) => i32::try_from(integral(n)?).map_err(|_| Bad::Range),
        _ => Err(Bad::Kind("an int (JSON number)")),
    }
}

pub(crate) fn json_to_long(v: &Value) -> Result<i64, Bad> {
    match v {
        Value::Number(n) => integral(n),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Bad::Invalid(format!("{s:?} is not a decimal integer")));
            }
            s.parse::<i64>().map_err(|_| Bad::Range)
        }
        _ => Err(Bad::Kind("a long (JSON number or decimal string)")),
    }
}

pub(crate) fn json_to_double(v: &Value) -> Result<f64, Bad> {
    match v {
        Value::Number(n) => n.as_f64().ok_or(Bad::Kind("a double")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(Bad::Invalid(format!(
                "{s:?}: only \"NaN\", \"Infinity\" and \"-Infinity\" may be strings"
            ))),
        },
        _ => Err(Bad::Kind("a double (JSON number)")),
    }
}

/// Bytes from an array of numbers 0..=255.
fn byte_array(items: &[Value]) -> Result<Vec<u8>, Bad> {
    items
        .iter()
        .map(|x| match x {
            Value::Number(n) => u8::try_from(integral(n)?).map_err(|_| Bad::Range),
            _ => Err(Bad::Kind("an array of byte values 0..=255")),
        })
        .collect()
}

pub(crate) fn json_to_bytes(v: &Value) -> Result<Vec<u8>, Bad> {
    match v {
        Value::String(s) => BASE64_IN
            .decode(s)
            .map_err(|e| Bad::Invalid(format!("not standard base64: {e}"))),
        Value::Array(items) => byte_array(items),
        _ => Err(Bad::Kind("bytes (base64 string or array of byte values)")),
    }
}

/// `int128`/`int256`: exactly `N` bytes as hex (either case) or a byte array.
pub(crate) fn json_to_fixed<const N: usize>(v: &Value) -> Result<[u8; N], Bad> {
    let bytes = match v {
        Value::String(s) => {
            let s = s.as_bytes();
            if s.len() != 2 * N {
                return Err(Bad::Invalid(format!(
                    "expected {} hex digits, got {}",
                    2 * N,
                    s.len()
                )));
            }
            s.chunks(2)
                .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| Bad::Invalid("not a hex string".into()))?
        }
        Value::Array(items) => byte_array(items)?,
        _ => return Err(Bad::Kind("a hex string or an array of byte values")),
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| Bad::Invalid(format!("expected {N} bytes, got {}", b.len())))
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
