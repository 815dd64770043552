//! TL bytes → JSON, driven by a [`Schema`]. One forward pass over a
//! bounds-checked [`Reader`]; every count is checked against the remaining
//! input before anything is allocated, recursion is bounded by
//! [`Limits::max_depth`](super::Limits) and `gzip_packed` by
//! [`Limits::max_unpacked_size`](super::Limits).

use std::io::Read;

use serde_json::{Map, Value};

use super::error::{CodecError, Path, Seg};
use super::index::flag_is_set;
use super::index::{Schema, Ty};
use super::json;
use super::parse::{Definition, ParamKind};
use crate::tl::wire::{Reader, BOOL_FALSE_ID, BOOL_TRUE_ID, VECTOR_ID};
use crate::tl::TlError;

/// `gzip_packed#3072cfa1 packed_data:bytes = Object;` (B-13).
pub const GZIP_PACKED_ID: u32 = 0x3072_cfa1;

pub(crate) struct Decoder<'s> {
    schema: &'s Schema,
    path: Path<'s>,
    /// Bytes `gzip_packed` may still unpack to during this call.
    unpack_budget: usize,
}

type Result<T> = std::result::Result<T, CodecError>;

impl<'s> Decoder<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Self {
        Decoder {
            schema,
            path: Path::default(),
            unpack_budget: schema.limits().max_unpacked_size,
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.path.enter(self.schema.limits().max_depth)
    }

    fn leave(&mut self) {
        self.path.leave();
    }

    fn tl(&self, source: TlError) -> CodecError {
        CodecError::Tl {
            path: self.path.render(),
            source,
        }
    }

    /// Fails unless the reader is exhausted.
    pub(crate) fn finish(&self, r: &Reader<'_>) -> Result<()> {
        match r.remaining() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes {
                path: self.path.render(),
                count,
            }),
        }
    }

    /// An id that is not what the position allows: a known name of another
    /// type, or an id the schema does not have.
    fn unexpected(&self, id: u32, expected: impl Into<String>) -> CodecError {
        let known = self
            .schema
            .constructor_by_id(id)
            .or_else(|| self.schema.function_by_id(id))
            .map(|d| d.name.as_str())
            .or(match id {
                BOOL_TRUE_ID => Some("boolTrue"),
                BOOL_FALSE_ID => Some("boolFalse"),
                VECTOR_ID => Some("vector"),
                _ => None,
            });
        match known {
            Some(name) => CodecError::WrongType {
                path: self.path.render(),
                expected: expected.into(),
                got: format!("{name:?}"),
            },
            None => CodecError::UnknownConstructor {
                path: self.path.render(),
                id,
                expected: expected.into(),
            },
        }
    }

    fn bad_type(&self, t: &impl std::fmt::Display, reason: String) -> CodecError {
        CodecError::UnknownType {
            path: self.path.render(),
            name: t.to_string(),
            reason,
        }
    }

    /// Reads a boxed id, reporting truncation with the current path.
    fn id(&self, r: &mut Reader<'_>) -> Result<u32> {
        r.read_u32().map_err(|e| self.tl(e))
    }

    /// B-13: where a boxed value is expected, `gzip_packed` may stand in for
    /// it. Unpacks and reads the expected type from the unpacked bytes, which
    /// it must fill exactly.
    fn gzip(
        &mut self,
        r: &mut Reader<'_>,
        ty: Ty<'_>,
        generics: &[String],
    ) -> Result<Option<Value>> {
        if !matches!(r.peek_u32(), Ok(GZIP_PACKED_ID)) {
            return Ok(None);
        }
        r.read_u32().map_err(|e| self.tl(e))?;
        let packed = r.read_bytes().map_err(|e| self.tl(e))?;
        self.enter()?;
        let limit = self.schema.limits().max_unpacked_size;
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(packed)
            .take(self.unpack_budget as u64 + 1)
            .read_to_end(&mut unpacked)
            .map_err(|e| CodecError::Gzip {
                path: self.path.render(),
                reason: e.to_string(),
            })?;
        if unpacked.len() > self.unpack_budget {
            return Err(CodecError::GzipTooLarge {
                path: self.path.render(),
                limit,
            });
        }
        self.unpack_budget -= unpacked.len();
        let mut inner = Reader::new(&unpacked);
        let v = self.value(&mut inner, ty, generics)?;
        self.finish(&inner)?;
        self.leave();
        Ok(Some(v))
    }

    /// Reads one value of type `ty`.
    pub(crate) fn value(
        &mut self,
        r: &mut Reader<'_>,
        ty: Ty<'_>,
        generics: &[String],
    ) -> Result<Value> {
        Ok(match ty {
            Ty::Int => Value::from(r.read_i32().map_err(|e| self.tl(e))?),
            Ty::Long => json::long_to_json(r.read_i64().map_err(|e| self.tl(e))?),
            Ty::Double => json::double_to_json(r.read_f64().map_err(|e| self.tl(e))?),
            Ty::String => Value::String(r.read_string().map_err(|e| self.tl(e))?),
            Ty::Bytes => json::bytes_to_json(r.read_bytes().map_err(|e| self.tl(e))?),
            Ty::Int128 => json::hex_to_json(&r.read_int128().map_err(|e| self.tl(e))?),
            Ty::Int256 => json::hex_to_json(&r.read_int256().map_err(|e| self.tl(e))?),
            Ty::True => Value::Bool(true),
            Ty::Bool => {
                if let Some(v) = self.gzip(r, ty, generics)? {
                    return Ok(v);
                }
                match self.id(r)? {
                    BOOL_TRUE_ID => Value::Bool(true),
                    BOOL_FALSE_ID => Value::Bool(false),
                    id => return Err(self.unexpected(id, "Bool")),
                }
            }
            Ty::Vector { boxed, elem } => {
                if boxed {
                    if let Some(v) = self.gzip(r, ty, generics)? {
                        return Ok(v);
                    }
                    let id = self.id(r)?;
                    if id != VECTOR_ID {
                        return Err(self.unexpected(id, format!("Vector<{elem}>")));
                    }
                }
                let elem_ty =
                    Ty::of(elem, generics).map_err(|reason| self.bad_type(elem, reason))?;
                // Zero-size elements would let a 4-byte count demand billions
                // of values; count them as 1 byte so a count can never exceed
                // the input length.
                let min = self.schema.min_size(elem_ty, 0).max(1);
                let n = r.read_count(min).map_err(|e| self.tl(e))?;
                self.enter()?;
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    self.path.push(Seg::Index(i));
                    items.push(self.value(r, elem_ty, generics)?);
                    self.path.pop();
                }
                self.leave();
                Value::Array(items)
            }
            Ty::Boxed(type_name) => {
                if let Some(v) = self.gzip(r, ty, generics)? {
                    return Ok(v);
                }
                let id = self.id(r)?;
                let schema: &'s Schema = self.schema;
                match schema.constructor_by_id(id) {
                    Some(def) if def.result.name == type_name => self.object(r, def)?,
                    _ => return Err(self.unexpected(id, type_name)),
                }
            }
            Ty::Bare(t) => {
                let schema: &'s Schema = self.schema;
                let def = schema
                    .bare_constructor(t)
                    .map_err(|reason| self.bad_type(t, reason))?;
                self.object(r, def)?
            }
            Ty::Object => {
                if let Some(v) = self.gzip(r, ty, generics)? {
                    return Ok(v);
                }
                let id = self.id(r)?;
                let schema: &'s Schema = self.schema;
                match id {
                    BOOL_TRUE_ID => Value::Bool(true),
                    BOOL_FALSE_ID => Value::Bool(false),
                    VECTOR_ID => {
                        return Err(CodecError::UntypedVector {
                            path: self.path.render(),
                        })
                    }
                    _ => match schema
                        .constructor_by_id(id)
                        .or_else(|| schema.function_by_id(id))
                    {
                        Some(def) => self.object(r, def)?,
                        None => return Err(self.unexpected(id, "Object")),
                    },
                }
            }
            Ty::Function => {
                if let Some(v) = self.gzip(r, ty, generics)? {
                    return Ok(v);
                }
                let id = self.id(r)?;
                let schema: &'s Schema = self.schema;
                match schema.function_by_id(id) {
                    Some(def) => self.object(r, def)?,
                    None => return Err(self.unexpected(id, "a function call")),
                }
            }
        })
    }

    /// Reads the fields of `def` (its id, if any, is already consumed).
    fn object(&mut self, r: &mut Reader<'_>, def: &'s Definition) -> Result<Value> {
        let root = self.path.is_empty();
        if root {
            self.path.push(Seg::Name(&def.name));
        }
        self.enter()?;
        let mut map = Map::new();
        map.insert("_".into(), Value::String(def.name.clone()));
        let mut masks: Vec<(&str, u32)> = Vec::new();
        for p in &def.params {
            let (ty, flag) = match &p.kind {
                ParamKind::Flags => {
                    let mask = r.read_u32().map_err(|e| self.tl(e))?;
                    masks.push((&p.name, mask));
                    continue;
                }
                ParamKind::Value { ty, flag } => (ty, flag),
            };
            let t = Ty::of(ty, &def.generics).map_err(|reason| self.bad_type(ty, reason))?;
            if let Some(f) = flag {
                let set = flag_is_set(&masks, f);
                if matches!(t, Ty::True) {
                    map.insert(p.name.clone(), Value::Bool(set));
                    continue;
                }
                if !set {
                    continue;
                }
            }
            self.path.push(Seg::Name(&p.name));
            let v = self.value(r, t, &def.generics)?;
            self.path.pop();
            map.insert(p.name.clone(), v);
        }
        self.leave();
        if root {
            self.path.pop();
        }
        Ok(Value::Object(map))
    }
}
