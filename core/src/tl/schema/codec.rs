//! The public entry points of the dynamic codec. The JSON conventions are
//! described in the documentation of the [`schema`](super) module.

use serde_json::Value;

use super::decode::Decoder;
use super::encode::Encoder;
use super::error::CodecError;
use super::index::{Schema, Ty};
use super::parse::{self, Category, TypeRef};
use crate::tl::wire::Reader;

impl Schema {
    /// Serialises a boxed TL object: a constructor (`{"_": "inputPeerSelf"}`)
    /// or a function call (`{"_": "help.getConfig"}`), id first. A JSON
    /// boolean becomes `boolTrue`/`boolFalse`.
    ///
    /// A bare JSON array is refused ([`CodecError::UntypedVector`]): use
    /// [`Schema::encode_as`] with a `Vector<T>` type.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        Encoder::new(self, &mut out).value(Ty::Object, &[], value)?;
        Ok(out)
    }

    /// Like [`Schema::encode`], appending to `out`. On error `out` is left
    /// as it was.
    pub fn encode_into(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let result = Encoder::new(self, out).value(Ty::Object, &[], value);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Serialises `value` as the given type expression, written as in a
    /// schema: `Vector<User>`, `User`, `long`, `%Message`, `future_salt`...
    /// This is how to write what [`Schema::decode_as`] reads, e.g. a bare
    /// value or a vector.
    pub fn encode_as(&self, value: &Value, type_expr: &str) -> Result<Vec<u8>, CodecError> {
        let t = type_ref(type_expr)?;
        let ty = Ty::of(&t, &[]).map_err(|reason| bad_expr(type_expr, reason))?;
        let mut out = Vec::new();
        Encoder::new(self, &mut out).value(ty, &[], value)?;
        Ok(out)
    }

    /// Reads one boxed TL object that must fill `bytes` exactly. Any
    /// constructor or function the schema knows is accepted; a constructor id
    /// is looked up among constructors first, then among functions.
    /// `gzip_packed` is unpacked transparently (B-13).
    ///
    /// A boxed `Vector` cannot be read this way, because its element type is
    /// not on the wire: use [`Schema::decode_as`] or
    /// [`Schema::decode_function_result`].
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, CodecError> {
        let mut dec = Decoder::new(self);
        let mut r = Reader::new(bytes);
        let v = dec.value(&mut r, Ty::Object, &[])?;
        dec.finish(&r)?;
        Ok(v)
    }

    /// Reads `bytes` as the given type expression (see [`Schema::encode_as`]),
    /// e.g. `Vector<User>` or `Bool`. The value must fill `bytes` exactly.
    /// For a boxed type, a constructor of another type is an error.
    pub fn decode_as(&self, bytes: &[u8], type_expr: &str) -> Result<Value, CodecError> {
        let t = type_ref(type_expr)?;
        let ty = Ty::of(&t, &[]).map_err(|reason| bad_expr(type_expr, reason))?;
        let mut dec = Decoder::new(self);
        let mut r = Reader::new(bytes);
        let v = dec.value(&mut r, ty, &[])?;
        dec.finish(&r)?;
        Ok(v)
    }

    /// Reads the result of a call to `function` (its `rpc_result.result`, L-8)
    /// as the function's declared result type. For generic wrappers such as
    /// `invokeWithLayer` (result `X`), whose result type depends on the inner
    /// call, any boxed object is accepted; decode with the inner function's
    /// name instead to get the typed result.
    pub fn decode_function_result(
        &self,
        function: &str,
        bytes: &[u8],
    ) -> Result<Value, CodecError> {
        let def = self
            .get(function)
            .filter(|d| d.category == Category::Function)
            .ok_or_else(|| CodecError::UnknownName {
                path: "<root>".into(),
                name: function.into(),
            })?;
        let ty = Ty::of(&def.result, &def.generics).map_err(|reason| CodecError::UnknownType {
            path: "<root>".into(),
            name: def.result.to_string(),
            reason,
        })?;
        let mut dec = Decoder::new(self);
        let mut r = Reader::new(bytes);
        let v = dec.value(&mut r, ty, &def.generics)?;
        dec.finish(&r)?;
        Ok(v)
    }
}

fn type_ref(type_expr: &str) -> Result<TypeRef, CodecError> {
    parse::parse_type(type_expr).map_err(|reason| bad_expr(type_expr, reason))
}

fn bad_expr(type_expr: &str, reason: String) -> CodecError {
    CodecError::UnknownType {
        path: "<root>".into(),
        name: type_expr.into(),
        reason,
    }
}
