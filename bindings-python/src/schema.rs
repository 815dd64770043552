//! `Schema`: the core's schema-driven TL codec with Python values instead
//! of JSON.
//!
//! The core codec speaks `serde_json::Value` with JSON conventions (bytes as
//! base64, big `long`s as decimal strings). Python has real `bytes` and
//! unbounded `int`s, so this module walks the schema alongside the value and
//! converts field by field:
//!
//! | TL | Python |
//! | --- | --- |
//! | `int`, `long` | `int` |
//! | `double` | `float` |
//! | `string` | `str` |
//! | `bytes` | `bytes` (`bytearray`, `memoryview` accepted) |
//! | `int128`, `int256` | `bytes` of 16 / 32, in wire order |
//! | `Bool`, `true` flags | `bool` |
//! | vectors | `list` (tuples accepted) |
//! | objects | `dict` with `"_"`: the constructor or function name |
//!
//! Every check (types, ranges, missing and unknown fields, flags) stays in
//! the core; errors come back as `InvalidInput` with the field path.

use std::sync::Arc;

use base64::Engine;
use mtproto::tl::schema::{
    parse::TypeRef, CodecError, Definition, ParamKind, Schema as CoreSchema,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use serde_json::{Map, Number, Value};

use crate::errors::invalid_input;

/// Deeper Python nesting than this is refused before the core sees it (the
/// core's own limit is 64 levels of TL objects); it also stops cycles.
const MAX_DEPTH: usize = 200;

/// How a field is converted, derived from its TL type.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Int,
    Long,
    Double,
    Str,
    Bytes,
    Int128,
    Int256,
    Bool,
    Vector(&'a TypeRef),
    /// A lower-case constructor or `%T`: may come without `"_"`.
    Bare(&'a TypeRef),
    /// Any boxed object (or anything we do not classify): converted by the
    /// Python value's own kind.
    Any,
}

fn kind_of<'a>(t: &'a TypeRef, generics: &[String]) -> Kind<'a> {
    if t.generic_ref || generics.contains(&t.name) {
        return Kind::Any;
    }
    match t.name.as_str() {
        "int" => Kind::Int,
        "long" => Kind::Long,
        "double" => Kind::Double,
        "string" => Kind::Str,
        "bytes" => Kind::Bytes,
        "int128" => Kind::Int128,
        "int256" => Kind::Int256,
        "true" | "Bool" => Kind::Bool,
        "Vector" | "vector" => match &t.arg {
            Some(arg) => Kind::Vector(arg),
            None => Kind::Any,
        },
        _ if t.bare => Kind::Bare(t),
        _ => Kind::Any,
    }
}

/// The field path under construction, rendered like the core's paths
/// (`messages.sendMessage.peer`, `msg_container.messages[1].body`).
#[derive(Default)]
struct Path {
    segs: Vec<String>,
}

impl Path {
    fn render(&self) -> String {
        if self.segs.is_empty() {
            return "<root>".into();
        }
        let mut out = String::new();
        for s in &self.segs {
            if !out.is_empty() && !s.starts_with('[') {
                out.push('.');
            }
            out.push_str(s);
        }
        out
    }
}

struct Conv<'s, 'py> {
    schema: &'s CoreSchema,
    py: Python<'py>,
    path: Path,
    depth: usize,
}

impl<'s, 'py> Conv<'s, 'py> {
    fn err(&self, message: impl Into<String>) -> PyErr {
        let path = self.path.render();
        invalid_input(self.py, format!("{path}: {}", message.into()), Some(&path))
    }

    fn enter(&mut self) -> PyResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn type_name(v: &Bound<'_, PyAny>) -> String {
        v.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    }

    // ---- Python -> JSON ----

    fn bytes_of(&self, v: &Bound<'py, PyAny>) -> PyResult<Option<Vec<u8>>> {
        if let Ok(b) = v.cast::<PyBytes>() {
            return Ok(Some(b.as_bytes().to_vec()));
        }
        if let Ok(b) = v.cast::<PyByteArray>() {
            return Ok(Some(b.to_vec()));
        }
        if v.is_instance_of::<PyMemoryView>() {
            let b = v.call_method0("tobytes")?;
            return Ok(Some(b.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        Ok(None)
    }

    fn py_to_json(&mut self, v: &Bound<'py, PyAny>, kind: Kind<'s>) -> PyResult<Value> {
        match kind {
            Kind::Bytes | Kind::Int128 | Kind::Int256 => match self.bytes_of(v)? {
                Some(b) => {
                    return Ok(Value::String(match kind {
                        Kind::Bytes => base64::engine::general_purpose::STANDARD.encode(b),
                        _ => hex(&b),
                    }))
                }
                None if v.is_none() => return Ok(Value::Null),
                None => return Err(self.err(format!("expected bytes, got {}", Self::type_name(v)))),
            },
            Kind::Vector(elem) if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() => {
                self.enter()?;
                let mut out = Vec::new();
                for (i, item) in v.try_iter()?.enumerate() {
                    self.path.segs.push(format!("[{i}]"));
                    out.push(self.py_to_json(&item?, kind_of(elem, &[]))?);
                    self.path.segs.pop();
                }
                self.depth -= 1;
                return Ok(Value::Array(out));
            }
            Kind::Bare(t) => {
                if let Ok(d) = v.cast::<PyDict>() {
                    let def = bare_constructor(self.schema, t);
                    return self.object_to_json(d, def);
                }
            }
            _ => {}
        }
        self.any_py_to_json(v)
    }

    fn any_py_to_json(&mut self, v: &Bound<'py, PyAny>) -> PyResult<Value> {
        if v.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(b) = v.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if v.is_instance_of::<PyInt>() {
            if let Ok(i) = v.extract::<i64>() {
                return Ok(Value::Number(i.into()));
            }
            if let Ok(u) = v.extract::<u64>() {
                return Ok(Value::Number(u.into()));
            }
            // Beyond 64 bits: the core reports it out of range with the path.
            return Ok(Value::String(v.str()?.to_string()));
        }
        if let Ok(f) = v.cast::<PyFloat>() {
            let x = f.value();
            return Ok(match Number::from_f64(x) {
                Some(n) => Value::Number(n),
                None if x.is_nan() => Value::String("NaN".into()),
                None if x > 0.0 => Value::String("Infinity".into()),
                None => Value::String("-Infinity".into()),
            });
        }
        if let Ok(s) = v.cast::<PyString>() {
            return Ok(Value::String(s.to_cow()?.into_owned()));
        }
        if let Ok(d) = v.cast::<PyDict>() {
            let def = match d.get_item("_")? {
                Some(name) => match name.cast::<PyString>() {
                    Ok(n) => self.schema.get(&n.to_cow()?),
                    Err(_) => {
                        return Err(self.err(format!(
                            "\"_\" must be a str naming a constructor or function, got {}",
                            Self::type_name(&name)
                        )))
                    }
                },
                None => None,
            };
            return self.object_to_json(d, def);
        }
        if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            self.enter()?;
            let mut out = Vec::new();
            for (i, item) in v.try_iter()?.enumerate() {
                self.path.segs.push(format!("[{i}]"));
                out.push(self.any_py_to_json(&item?)?);
                self.path.segs.pop();
            }
            self.depth -= 1;
            return Ok(Value::Array(out));
        }
        if self.bytes_of(v)?.is_some() {
            return Err(self.err("bytes where the schema expects no bytes field"));
        }
        Err(self.err(format!(
            "cannot encode a value of type {}",
            Self::type_name(v)
        )))
    }

    fn object_to_json(
        &mut self,
        d: &Bound<'py, PyDict>,
        def: Option<&'s Definition>,
    ) -> PyResult<Value> {
        self.enter()?;
        let root = self.path.segs.is_empty();
        if root {
            if let Some(def) = def {
                self.path.segs.push(def.name.clone());
            }
        }
        let mut map = Map::new();
        for (key, value) in d.iter() {
            let key = match key.cast::<PyString>() {
                Ok(k) => k.to_cow()?.into_owned(),
                Err(_) => {
                    return Err(self.err(format!("keys must be str, got {}", Self::type_name(&key))))
                }
            };
            if key == "_" {
                map.insert(key, self.any_py_to_json(&value)?);
                continue;
            }
            let kind = def
                .and_then(|def| field_kind(def, &key))
                .unwrap_or(Kind::Any);
            self.path.segs.push(key.clone());
            let v = self.py_to_json(&value, kind)?;
            self.path.segs.pop();
            map.insert(key, v);
        }
        if root && def.is_some() {
            self.path.segs.pop();
        }
        self.depth -= 1;
        Ok(Value::Object(map))
    }

    // ---- JSON -> Python ----

    fn json_to_py(&mut self, v: &Value, kind: Kind<'s>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        match (kind, v) {
            (Kind::Bytes, Value::String(s)) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| self.err(format!("bad base64 from the codec: {e}")))?;
                Ok(PyBytes::new(py, &b).into_any())
            }
            (Kind::Int128 | Kind::Int256, Value::String(s)) => {
                let b = unhex(s).ok_or_else(|| self.err("bad hex from the codec"))?;
                Ok(PyBytes::new(py, &b).into_any())
            }
            (Kind::Long | Kind::Int, Value::String(s)) => {
                let i: i64 = s
                    .parse()
                    .map_err(|_| self.err(format!("bad long {s:?} from the codec")))?;
                Ok(i.into_pyobject(py)?.into_any())
            }
            (Kind::Double, Value::String(s)) => {
                let x = match s.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => return Err(self.err(format!("bad double {s:?} from the codec"))),
                };
                Ok(PyFloat::new(py, x).into_any())
            }
            (Kind::Double, Value::Number(n)) => {
                Ok(PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any())
            }
            (Kind::Vector(elem), Value::Array(items)) => {
                let list = PyList::empty(py);
                for (i, item) in items.iter().enumerate() {
                    self.path.segs.push(format!("[{i}]"));
                    list.append(self.json_to_py(item, kind_of(elem, &[]))?)?;
                    self.path.segs.pop();
                }
                Ok(list.into_any())
            }
            _ => self.any_json_to_py(v),
        }
    }

    fn any_json_to_py(&mut self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i.into_pyobject(py)?.into_any()
                } else if let Some(u) = n.as_u64() {
                    u.into_pyobject(py)?.into_any()
                } else {
                    PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
                }
            }
            Value::String(s) => PyString::new(py, s).into_any(),
            Value::Array(items) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(self.any_json_to_py(item)?)?;
                }
                list.into_any()
            }
            Value::Object(map) => {
                let def = match map.get("_") {
                    Some(Value::String(name)) => self.schema.get(name),
                    _ => None,
                };
                let dict = PyDict::new(py);
                for (key, value) in map {
                    let kind = def.and_then(|d| field_kind(d, key)).unwrap_or(Kind::Any);
                    self.path.segs.push(key.clone());
                    dict.set_item(key, self.json_to_py(value, kind)?)?;
                    self.path.segs.pop();
                }
                dict.into_any()
            }
        })
    }
}

fn field_kind<'s>(def: &'s Definition, field: &str) -> Option<Kind<'s>> {
    def.params
        .iter()
        .find(|p| p.name == field)
        .and_then(|p| match &p.kind {
            ParamKind::Value { ty, .. } => Some(kind_of(ty, &def.generics)),
            ParamKind::Flags => None,
        })
}

/// The constructor a bare type stands for, as the core resolves it: a
/// lower-case constructor name, or `%T` of a type with one constructor.
fn bare_constructor<'s>(schema: &'s CoreSchema, t: &TypeRef) -> Option<&'s Definition> {
    if t.base_name().starts_with(|c: char| c.is_ascii_lowercase()) {
        schema.get(&t.name)
    } else {
        let mut it = schema.constructors_of(&t.name);
        match (it.next(), it.next()) {
            (Some(d), None) => Some(d),
            _ => None,
        }
    }
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn codec_err(py: Python<'_>, e: CodecError) -> PyErr {
    invalid_input(py, e.to_string(), Some(e.path()))
}

/// A TL schema (e.g. `api.tl`) and its dynamic codec.
#[pyclass(module = "mtproto._native")]
pub struct Schema {
    /// Shared with every other `Schema` made from the same source (the
    /// bundled Telegram schema is parsed once per process); `extend` copies
    /// on write.
    inner: Arc<CoreSchema>,
}

#[pymethods]
impl Schema {
    /// Parses schema text.
    #[staticmethod]
    fn parse(py: Python<'_>, text: &str) -> PyResult<Self> {
        let inner = CoreSchema::parse(text).map_err(|e| invalid_input(py, e.to_string(), None))?;
        Ok(Schema {
            inner: Arc::new(inner),
        })
    }

    /// Telegram's bundled API schema plus the service schema (parsed on the
    /// first call, without the GIL, then shared).
    #[staticmethod]
    fn telegram(py: Python<'_>) -> Self {
        Schema {
            inner: py.detach(CoreSchema::telegram),
        }
    }

    /// Adds the declarations of another text (later declarations win).
    fn extend(&mut self, py: Python<'_>, text: &str) -> PyResult<()> {
        let mut extended = (*self.inner).clone();
        extended
            .extend(text)
            .map_err(|e| invalid_input(py, e.to_string(), None))?;
        self.inner = Arc::new(extended);
        Ok(())
    }

    /// The layer named by a `// LAYER N` comment, if any.
    #[getter]
    fn layer(&self) -> Option<i32> {
        self.inner.layer()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.get(name).is_some()
    }

    /// The constructor id of a name, or None.
    fn id_of(&self, name: &str) -> Option<u32> {
        self.inner.get(name).map(|d| d.id)
    }

    /// Serializes a boxed object or function call (a dict with `"_"`).
    fn encode<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if !value.is_instance_of::<PyDict>() && !value.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err(format!(
                "encode() takes a dict with a \"_\" name, not {}",
                value.get_type().name()?
            )));
        }
        let json = self.conv(py).any_py_to_json(value)?;
        let bytes = self.inner.encode(&json).map_err(|e| codec_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Serializes a value as a type expression (`Vector<long>`, `%Message`...).
    fn encode_as<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        type_expr: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let t = mtproto::tl::schema::parse::parse_type(type_expr)
            .map_err(|e| invalid_input(py, format!("type {type_expr:?}: {e}"), None))?;
        let json = self.conv(py).py_to_json(value, kind_of(&t, &[]))?;
        let bytes = self
            .inner
            .encode_as(&json, type_expr)
            .map_err(|e| codec_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Reads one boxed object that fills `data` exactly.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = crate::session::bytes_arg("data", data)?;
        let json = self.inner.decode(&data).map_err(|e| codec_err(py, e))?;
        self.conv(py).any_json_to_py(&json)
    }

    /// Reads `data` as a type expression.
    fn decode_as<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        type_expr: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = crate::session::bytes_arg("data", data)?;
        let json = self
            .inner
            .decode_as(&data, type_expr)
            .map_err(|e| codec_err(py, e))?;
        let t = mtproto::tl::schema::parse::parse_type(type_expr)
            .map_err(|e| invalid_input(py, format!("type {type_expr:?}: {e}"), None))?;
        self.conv(py).json_to_py(&json, kind_of(&t, &[]))
    }

    /// Reads the result of a call to `method`, typed by its declared result.
    fn decode_result<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = crate::session::bytes_arg("data", data)?;
        let json = self
            .inner
            .decode_function_result(method, &data)
            .map_err(|e| codec_err(py, e))?;
        let kind = match self.inner.get(method) {
            Some(def) => kind_of(&def.result, &def.generics),
            None => Kind::Any,
        };
        self.conv(py).json_to_py(&json, kind)
    }
}

impl Schema {
    fn conv<'s, 'py>(&'s self, py: Python<'py>) -> Conv<'s, 'py> {
        Conv {
            schema: &self.inner,
            py,
            path: Path::default(),
            depth: 0,
        }
    }
}
