//! JSON → TL bytes, driven by a [`Schema`]. Everything is appended to one
//! output buffer in a single pass; flag masks (B-10) are computed from the
//! JSON object before its fields are written, so nothing is patched later.

use serde_json::{Map, Value};

use super::error::{describe, CodecError, Path, Seg};
use super::index::flag_is_set;
use super::index::{Schema, Ty};
use super::json::{self, Bad};
use super::parse::{Category, Definition, ParamKind};
use crate::tl::wire::{check_bytes_len, Writer, BOOL_FALSE_ID, BOOL_TRUE_ID, VECTOR_ID};

pub(crate) struct Encoder<'s, 'o> {
    schema: &'s Schema,
    out: &'o mut Vec<u8>,
    path: Path<'s>,
}

type Result<T> = std::result::Result<T, CodecError>;

impl<'s, 'o> Encoder<'s, 'o> {
    pub(crate) fn new(schema: &'s Schema, out: &'o mut Vec<u8>) -> Self {
        Encoder {
            schema,
            out,
            path: Path::default(),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.path.enter(self.schema.limits().max_depth)
    }

    fn leave(&mut self) {
        self.path.leave();
    }

    fn bad(&self, bad: Bad, ty: &str, v: &Value) -> CodecError {
        let path = self.path.render();
        match bad {
            Bad::Kind(expected) => CodecError::WrongType {
                path,
                expected: expected.into(),
                got: describe(v),
            },
            Bad::Range => CodecError::OutOfRange {
                path,
                ty: ty.into(),
                value: match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            },
            Bad::Invalid(reason) => CodecError::InvalidValue {
                path,
                ty: ty.into(),
                reason,
            },
        }
    }

    fn wrong(&self, expected: impl Into<String>, got: String) -> CodecError {
        CodecError::WrongType {
            path: self.path.render(),
            expected: expected.into(),
            got,
        }
    }

    fn put_bytes_checked(&mut self, data: &[u8]) -> Result<()> {
        check_bytes_len(data.len()).map_err(|source| CodecError::Tl {
            path: self.path.render(),
            source,
        })?;
        self.out.put_bytes(data);
        Ok(())
    }

    /// Resolves `"_"` of a JSON object to a declaration.
    fn named<'v>(
        &self,
        v: &'v Value,
        expected: &str,
    ) -> Result<(&'s Definition, &'v Map<String, Value>)> {
        let map = match v {
            Value::Object(map) => map,
            _ => {
                return Err(CodecError::NotAnObject {
                    path: self.path.render(),
                    expected: expected.into(),
                    got: describe(v),
                })
            }
        };
        let name = match map.get("_") {
            Some(Value::String(name)) => name,
            _ => {
                return Err(CodecError::NotAnObject {
                    path: self.path.render(),
                    expected: expected.into(),
                    got: describe(v),
                })
            }
        };
        let schema: &'s Schema = self.schema;
        match schema.get(name) {
            Some(def) => Ok((def, map)),
            None => Err(CodecError::UnknownName {
                path: self.path.render(),
                name: name.clone(),
            }),
        }
    }

    /// Writes `v` as a value of type `ty`. `generics` are the `{X:Type}`
    /// names of the declaration `ty` comes from.
    pub(crate) fn value(&mut self, ty: Ty<'_>, generics: &[String], v: &Value) -> Result<()> {
        match ty {
            Ty::Int => {
                let x = json::json_to_int(v).map_err(|b| self.bad(b, "int", v))?;
                self.out.put_i32(x);
            }
            Ty::Long => {
                let x = json::json_to_long(v).map_err(|b| self.bad(b, "long", v))?;
                self.out.put_i64(x);
            }
            Ty::Double => {
                let x = json::json_to_double(v).map_err(|b| self.bad(b, "double", v))?;
                self.out.put_f64(x);
            }
            Ty::String => match v {
                Value::String(s) => self.put_bytes_checked(s.as_bytes())?,
                _ => return Err(self.wrong("a string", describe(v))),
            },
            Ty::Bytes => {
                let data = json::json_to_bytes(v).map_err(|b| self.bad(b, "bytes", v))?;
                self.put_bytes_checked(&data)?;
            }
            Ty::Int128 => {
                let data = json::json_to_fixed::<16>(v).map_err(|b| self.bad(b, "int128", v))?;
                self.out.put_raw(&data);
            }
            Ty::Int256 => {
                let data = json::json_to_fixed::<32>(v).map_err(|b| self.bad(b, "int256", v))?;
                self.out.put_raw(&data);
            }
            Ty::True => {
                if v != &Value::Bool(true) {
                    return Err(self.wrong("true", describe(v)));
                }
            }
            Ty::Bool => self.bool(v)?,
            Ty::Vector { boxed, elem } => {
                let items = match v {
                    Value::Array(items) => items,
                    _ => return Err(self.wrong("an array", describe(v))),
                };
                let elem_ty =
                    Ty::of(elem, generics).map_err(|reason| self.bad_type(elem, reason))?;
                let count = i32::try_from(items.len()).map_err(|_| CodecError::OutOfRange {
                    path: self.path.render(),
                    ty: "vector length".into(),
                    value: items.len().to_string(),
                })?;
                self.enter()?;
                if boxed {
                    self.out.put_u32(VECTOR_ID);
                }
                self.out.put_i32(count);
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    self.value(elem_ty, generics, item)?;
                    self.path.pop();
                }
                self.leave();
            }
            Ty::Boxed(type_name) => {
                let (def, map) = self.named(v, type_name)?;
                if def.category != Category::Type || def.result.name != type_name {
                    return Err(self.wrong(type_name, format!("{:?}", def.name)));
                }
                self.object(def, map, true)?;
            }
            Ty::Bare(t) => {
                let schema: &'s Schema = self.schema;
                let def = schema
                    .bare_constructor(t)
                    .map_err(|reason| self.bad_type(t, reason))?;
                let map = match v {
                    Value::Object(map) => map,
                    _ => {
                        return Err(CodecError::NotAnObject {
                            path: self.path.render(),
                            expected: def.name.clone(),
                            got: describe(v),
                        })
                    }
                };
                match map.get("_") {
                    None => {}
                    Some(Value::String(name)) if *name == def.name => {}
                    Some(other) => return Err(self.wrong(def.name.clone(), describe(other))),
                }
                self.object(def, map, false)?;
            }
            Ty::Object => match v {
                Value::Bool(_) => self.bool(v)?,
                Value::Array(_) => {
                    return Err(CodecError::UntypedVector {
                        path: self.path.render(),
                    })
                }
                _ => {
                    let (def, map) = self.named(v, "Object")?;
                    self.object(def, map, true)?;
                }
            },
            Ty::Function => {
                let (def, map) = self.named(v, "a function call")?;
                if def.category != Category::Function {
                    return Err(self.wrong("a function call", format!("{:?}", def.name)));
                }
                self.object(def, map, true)?;
            }
        }
        Ok(())
    }

    fn bad_type(&self, t: &impl std::fmt::Display, reason: String) -> CodecError {
        CodecError::UnknownType {
            path: self.path.render(),
            name: t.to_string(),
            reason,
        }
    }

    /// `Bool` (B-9): a JSON boolean, or `{"_": "boolTrue"}` / `{"_": "boolFalse"}`.
    fn bool(&mut self, v: &Value) -> Result<()> {
        let b = match v {
            Value::Bool(b) => *b,
            Value::Object(map) => match map.get("_").and_then(Value::as_str) {
                Some("boolTrue") => true,
                Some("boolFalse") => false,
                _ => return Err(self.wrong("a boolean", describe(v))),
            },
            _ => return Err(self.wrong("a boolean", describe(v))),
        };
        self.out
            .put_u32(if b { BOOL_TRUE_ID } else { BOOL_FALSE_ID });
        Ok(())
    }

    /// Writes a constructor or function call: its id when `boxed`, then its
    /// fields in declaration order (B-7, B-10).
    fn object(&mut self, def: &'s Definition, map: &Map<String, Value>, boxed: bool) -> Result<()> {
        let root = self.path.is_empty();
        if root {
            self.path.push(Seg::Name(&def.name));
        }
        self.enter()?;
        for key in map.keys() {
            if key != "_" && !def.params.iter().any(|p| p.name == *key) {
                return Err(CodecError::UnknownField {
                    path: self.path.render(),
                    object: def.name.clone(),
                    field: key.clone(),
                });
            }
        }
        // B-10: a bit is set when any field it controls is present.
        let mut masks: Vec<(&str, u32)> = Vec::new();
        for p in &def.params {
            match &p.kind {
                ParamKind::Flags => masks.push((&p.name, 0)),
                ParamKind::Value { ty, flag: Some(f) } => {
                    if self.present(&p.name, ty.name == "true", map)? {
                        if let Some(m) = masks.iter_mut().find(|(n, _)| *n == f.field) {
                            m.1 |= 1 << f.bit;
                        }
                    }
                }
                ParamKind::Value { flag: None, .. } => {}
            }
        }
        if boxed {
            self.out.put_u32(def.id);
        }
        for p in &def.params {
            let (ty, flag) = match &p.kind {
                ParamKind::Flags => {
                    let mask = masks.iter().find(|(n, _)| *n == p.name).map_or(0, |m| m.1);
                    self.out.put_u32(mask);
                    continue;
                }
                ParamKind::Value { ty, flag } => (ty, flag),
            };
            let t = Ty::of(ty, &def.generics).map_err(|reason| self.bad_type(ty, reason))?;
            if let Some(f) = flag {
                let set = flag_is_set(&masks, f);
                if !set || matches!(t, Ty::True) {
                    continue;
                }
            }
            let v = match map.get(&p.name) {
                Some(v) if !v.is_null() => v,
                _ if matches!(t, Ty::True) => continue,
                _ => {
                    return Err(CodecError::MissingField {
                        path: self.path.render(),
                        object: def.name.clone(),
                        field: p.name.clone(),
                    })
                }
            };
            self.path.push(Seg::Name(&p.name));
            self.value(t, &def.generics, v)?;
            self.path.pop();
        }
        self.leave();
        if root {
            self.path.pop();
        }
        Ok(())
    }

    /// Whether a conditional field counts as present: `true` fields when
    /// they are JSON `true`, other fields when they are there and not null.
    fn present(&mut self, name: &'s str, is_true: bool, map: &Map<String, Value>) -> Result<bool> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) if is_true => Ok(*b),
            Some(other) if is_true => {
                self.path.push(Seg::Name(name));
                Err(self.wrong("a boolean (flag of type true)", describe(other)))
            }
            Some(_) => Ok(true),
        }
    }
}
