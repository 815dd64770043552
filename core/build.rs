//! Generates Rust types for the MTProto service schema (`tl/mtproto.tl`).
//!
//! The schema parser is the crate's own (`src/tl/schema/parse.rs`), included
//! here by path so that code generation and the runtime dynamic codec read TL
//! the same way. Every explicit id is cross-checked by the CRC32 rule (B-12);
//! a mismatch fails the build.

#[allow(dead_code)]
#[path = "src/tl/schema/parse.rs"]
mod parse;

use parse::{Category, Definition, ParamKind, TypeRef};
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn main() {
    let schema_path = "tl/mtproto.tl";
    println!("cargo:rerun-if-changed={schema_path}");
    println!("cargo:rerun-if-changed=src/tl/schema/parse.rs");
    let text = std::fs::read_to_string(schema_path).expect("read tl/mtproto.tl");
    let defs = parse::parse(&text).unwrap_or_else(|e| panic!("{schema_path}: {e}"));
    for d in &defs {
        if d.explicit_id && !d.id_verifies() {
            panic!(
                "{schema_path}:{}: {} has id {:08x}, the CRC32 rule gives {:08x}",
                d.line, d.name, d.id, d.crc_id
            );
        }
    }
    let code = Generator::new(&defs).generate();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("mtproto_service.rs"), code).expect("write generated code");
    embed_telegram_schema(&out_dir);
}

/// Prepares the bundled Telegram API schema (`tl/api.tl`) for
/// `Schema::telegram()`: the text deflated (about a fifth of its size, which
/// is what every shipped library carries) and its layer, read from the
/// `// LAYER N` line, as a constant. The ids are checked by the crate's
/// tests and by `scripts/update-schema.sh`, not here: a build script runs
/// unoptimised, and a full parse would slow every cold build.
fn embed_telegram_schema(out_dir: &std::path::Path) {
    use std::io::Write as _;
    let path = "tl/api.tl";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).expect("read tl/api.tl");
    let layer: i32 = text
        .lines()
        .rev()
        .find_map(|l| {
            l.trim()
                .strip_prefix("//")?
                .trim()
                .strip_prefix("LAYER")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{path} has no `// LAYER N` line"));
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(text.as_bytes()).expect("deflate");
    let packed = z.finish().expect("deflate");
    std::fs::write(out_dir.join("api.tl.deflate"), &packed).expect("write api.tl.deflate");
    std::fs::write(
        out_dir.join("api_tl.rs"),
        format!(
            "/// The layer of the bundled `tl/api.tl`.\npub const API_LAYER: i32 = {layer};\n\
             /// Length of the bundled `tl/api.tl` text in bytes.\nconst API_TL_LEN: usize = {};\n",
            text.len()
        ),
    )
    .expect("write api_tl.rs");
}

/// `p_q_inner_data_dc` -> `PQInnerDataDc`, `auth.bindTempAuthKey` -> `AuthBindTempAuthKey`.
fn camel(name: &str) -> String {
    name.split(['_', '.'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            std::iter::once(first).chain(c).collect::<String>()
        })
        .collect()
}

fn field_ident(name: &str) -> String {
    match name {
        "type" | "self" | "match" | "fn" | "mod" | "ref" | "move" | "loop" | "static" => {
            format!("r#{name}")
        }
        _ => name.to_string(),
    }
}

struct Generator<'a> {
    defs: &'a [Definition],
    /// Boxed type name -> constructors.
    types: BTreeMap<String, Vec<&'a Definition>>,
}

/// How a field is read when its length is not self-describing.
enum Raw {
    /// Not raw.
    No,
    /// Takes the rest of the buffer (`Object` / `!X` as the last field).
    Rest,
    /// Sized by the earlier `bytes:int` field (`message.body`).
    SizedByBytes,
}

impl<'a> Generator<'a> {
    fn new(defs: &'a [Definition]) -> Self {
        let mut types: BTreeMap<String, Vec<&Definition>> = BTreeMap::new();
        for d in defs.iter().filter(|d| d.category == Category::Type) {
            types.entry(d.result.name.clone()).or_default().push(d);
        }
        Generator { defs, types }
    }

    fn is_raw_type(&self, ty: &TypeRef) -> bool {
        ty.generic_ref || ty.name == "Object" || !self.is_known(ty)
    }

    fn is_known(&self, ty: &TypeRef) -> bool {
        matches!(
            ty.name.as_str(),
            "int"
                | "long"
                | "double"
                | "int128"
                | "int256"
                | "bytes"
                | "string"
                | "Bool"
                | "true"
                | "Vector"
                | "vector"
        ) || self.types.contains_key(&ty.name)
            || self.bare_ctor(ty).is_some()
    }

    /// A lower-case constructor (or `%Type` / `Message`) used as a bare type.
    fn bare_ctor(&self, ty: &TypeRef) -> Option<&'a Definition> {
        if ty.name == "Message" || (ty.bare && ty.name.starts_with(|c: char| c.is_uppercase())) {
            let ctors = self.types.get(&ty.name)?;
            return (ctors.len() == 1).then(|| ctors[0]);
        }
        if ty.bare {
            return self
                .defs
                .iter()
                .find(|d| d.category == Category::Type && d.name == ty.name);
        }
        None
    }

    fn rust_type(&self, ty: &TypeRef) -> String {
        if self.is_raw_type(ty) {
            return "Vec<u8>".into();
        }
        match ty.name.as_str() {
            "int" => "i32".into(),
            "long" => "i64".into(),
            "double" => "f64".into(),
            "int128" => "[u8; 16]".into(),
            "int256" => "[u8; 32]".into(),
            "bytes" => "Vec<u8>".into(),
            "string" => "String".into(),
            "Bool" | "true" => "bool".into(),
            "Vector" | "vector" => {
                format!(
                    "Vec<{}>",
                    self.rust_type(ty.arg.as_deref().expect("vector argument"))
                )
            }
            _ => match self.bare_ctor(ty) {
                Some(d) => format!("super::types::{}", camel(&d.name)),
                None => format!("super::enums::{}", camel(&ty.name)),
            },
        }
    }

    /// Smallest serialized size of one element, to bound vector counts.
    fn min_size(&self, ty: &TypeRef) -> usize {
        match ty.name.as_str() {
            "long" | "double" => 8,
            "int128" => 16,
            "int256" => 32,
            _ => 4,
        }
    }

    fn read_expr(&self, ty: &TypeRef, raw: &Raw) -> String {
        match raw {
            Raw::Rest => return "r.read_rest().to_vec()".into(),
            Raw::SizedByBytes => {
                return "r.read_raw(usize::try_from(bytes).map_err(|_| crate::tl::TlError::NegativeLength(bytes))?)?.to_vec()".into()
            }
            Raw::No => {}
        }
        if self.is_raw_type(ty) {
            return format!("crate::tl::undecodable(\"{}\")?", ty.name);
        }
        match ty.name.as_str() {
            "int" => "r.read_i32()?".into(),
            "long" => "r.read_i64()?".into(),
            "double" => "r.read_f64()?".into(),
            "int128" => "r.read_int128()?".into(),
            "int256" => "r.read_int256()?".into(),
            "bytes" => "r.read_bytes()?.to_vec()".into(),
            "string" => "r.read_string()?".into(),
            "Bool" => "r.read_bool()?".into(),
            "Vector" | "vector" => {
                let arg = ty.arg.as_deref().expect("vector argument");
                let f = if ty.name == "Vector" {
                    "read_vector"
                } else {
                    "read_bare_vector"
                };
                format!(
                    "r.{f}({}, |r| Ok({}))?",
                    self.min_size(arg),
                    self.read_expr(arg, &Raw::No)
                )
            }
            _ => match self.bare_ctor(ty) {
                Some(d) => format!("super::types::{}::deserialize_bare(r)?", camel(&d.name)),
                None => format!(
                    "<super::enums::{} as crate::tl::Deserialize>::deserialize(r)?",
                    camel(&ty.name)
                ),
            },
        }
    }

    fn write_stmt(&self, ty: &TypeRef, e: &str) -> String {
        if self.is_raw_type(ty) {
            return format!("out.put_raw({e});");
        }
        match ty.name.as_str() {
            "int" => format!("out.put_i32(*{e});"),
            "long" => format!("out.put_i64(*{e});"),
            "double" => format!("out.put_f64(*{e});"),
            "int128" | "int256" => format!("out.put_raw(&{e}[..]);"),
            "bytes" => format!("out.put_bytes({e});"),
            "string" => format!("out.put_string({e});"),
            "Bool" => format!("out.put_bool(*{e});"),
            "Vector" | "vector" => {
                let arg = ty.arg.as_deref().expect("vector argument");
                let header = if ty.name == "Vector" {
                    format!("out.put_vector_header(({e}).len());")
                } else {
                    format!("out.put_i32(({e}).len() as i32);")
                };
                format!(
                    "{header} for x in ({e}).iter() {{ {} }}",
                    self.write_stmt(arg, "x")
                )
            }
            _ => match self.bare_ctor(ty) {
                Some(_) => format!("({e}).serialize_bare(out);"),
                None => format!("crate::tl::Serialize::serialize({e}, out);"),
            },
        }
    }

    fn generate(&self) -> String {
        let mut types = String::new();
        let mut functions = String::new();
        for d in self.defs {
            let code = self.gen_struct(d);
            match d.category {
                Category::Type => types.push_str(&code),
                Category::Function => functions.push_str(&code),
            }
        }
        let mut enums = String::new();
        for (name, ctors) in &self.types {
            // `Object` (gzip_packed) and the bare-only `Message` are not enums.
            if name == "Object" || name == "Message" {
                continue;
            }
            enums.push_str(&self.gen_enum(name, ctors));
        }
        format!(
            "/// Constructors of the service schema, one struct each.\npub mod types {{\n#![allow(clippy::all)]\nuse crate::tl::Writer as _;\n{types}}}\n\
             /// Functions (requests) of the service schema.\npub mod functions {{\n#![allow(clippy::all)]\nuse crate::tl::Writer as _;\n{functions}}}\n\
             /// One enum per boxed type, over its constructors.\npub mod enums {{\n#![allow(clippy::all)]\n{enums}}}\n"
        )
    }

    fn gen_struct(&self, d: &Definition) -> String {
        let name = camel(&d.name);
        let mut s = String::new();
        let kind = match d.category {
            Category::Type => "constructor",
            Category::Function => "function",
        };
        writeln!(
            s,
            "/// TL {kind} `{}#{:08x}` (returns `{}`).",
            d.name, d.id, d.result
        )
        .unwrap();
        writeln!(
            s,
            "#[derive(Clone, Debug, PartialEq)]\npub struct {name} {{"
        )
        .unwrap();
        let value_params: Vec<_> = d
            .params
            .iter()
            .filter_map(|p| match &p.kind {
                ParamKind::Value { ty, flag } => Some((p, ty, flag)),
                ParamKind::Flags => None,
            })
            .collect();
        for (p, ty, flag) in &value_params {
            let rt = self.rust_type(ty);
            let rt = match flag {
                Some(_) if ty.name == "true" => rt,
                Some(_) => format!("Option<{rt}>"),
                None => rt,
            };
            writeln!(s, "    pub {}: {rt},", field_ident(&p.name)).unwrap();
        }
        s.push_str("}\n");
        writeln!(
            s,
            "impl crate::tl::Identifiable for {name} {{ const CONSTRUCTOR_ID: u32 = 0x{:08x}; }}",
            d.id
        )
        .unwrap();

        // Serialization.
        let mut ser = String::new();
        for p in &d.params {
            match &p.kind {
                ParamKind::Flags => {
                    writeln!(ser, "let mut {}: u32 = 0;", field_ident(&p.name)).unwrap();
                    for (q, ty, flag) in &value_params {
                        if let Some(f) = flag.as_ref().filter(|f| f.field == p.name) {
                            let cond = if ty.name == "true" {
                                format!("self.{}", field_ident(&q.name))
                            } else {
                                format!("self.{}.is_some()", field_ident(&q.name))
                            };
                            writeln!(
                                ser,
                                "if {cond} {{ {} |= 1 << {}; }}",
                                field_ident(&p.name),
                                f.bit
                            )
                            .unwrap();
                        }
                    }
                    writeln!(ser, "out.put_u32({});", field_ident(&p.name)).unwrap();
                }
                ParamKind::Value { ty, flag } => {
                    let field = format!("self.{}", field_ident(&p.name));
                    match flag {
                        Some(_) if ty.name == "true" => {}
                        Some(_) => writeln!(
                            ser,
                            "if let Some(v) = &{field} {{ {} }}",
                            self.write_stmt(ty, "v")
                        )
                        .unwrap(),
                        None => {
                            writeln!(ser, "{}", self.write_stmt(ty, &format!("&{field}"))).unwrap()
                        }
                    }
                }
            }
        }
        let bare_only = d.name == "message";
        writeln!(
            s,
            "impl {name} {{\n    /// Appends the bare serialization (fields only, no constructor id).\n    #[allow(unused_variables)]\n    pub fn serialize_bare(&self, out: &mut Vec<u8>) {{\n{ser}    }}\n"
        )
        .unwrap();

        // Deserialization.
        let mut de = String::new();
        let mut prev_int_named_bytes = false;
        let last_index = d.params.len().saturating_sub(1);
        for (i, p) in d.params.iter().enumerate() {
            let ident = field_ident(&p.name);
            match &p.kind {
                ParamKind::Flags => {
                    writeln!(de, "let {ident} = r.read_u32()?;").unwrap();
                }
                ParamKind::Value { ty, flag } => {
                    let raw = if ty.generic_ref || ty.name == "Object" {
                        if prev_int_named_bytes {
                            Raw::SizedByBytes
                        } else if i == last_index {
                            Raw::Rest
                        } else {
                            panic!("{}: an Object field must be last or sized", d.name)
                        }
                    } else {
                        Raw::No
                    };
                    let expr = self.read_expr(ty, &raw);
                    match flag {
                        Some(f) if ty.name == "true" => {
                            writeln!(de, "let {ident} = {} & (1 << {}) != 0;", field_ident(&f.field), f.bit)
                                .unwrap()
                        }
                        Some(f) => writeln!(
                            de,
                            "let {ident} = if {} & (1 << {}) != 0 {{ Some({expr}) }} else {{ None }};",
                            field_ident(&f.field),
                            f.bit
                        )
                        .unwrap(),
                        None => writeln!(de, "let {ident} = {expr};").unwrap(),
                    }
                    prev_int_named_bytes = p.name == "bytes" && ty.name == "int";
                }
            }
        }
        let fields: Vec<String> = value_params
            .iter()
            .map(|(p, _, _)| field_ident(&p.name))
            .collect();
        writeln!(
            s,
            "    /// Reads the bare form (fields only).\n    #[allow(unused_variables)]\n    pub fn deserialize_bare(r: &mut crate::tl::Reader<'_>) -> Result<Self, crate::tl::TlError> {{\n{de}        Ok(Self {{ {} }})\n    }}\n}}",
            fields.join(", ")
        )
        .unwrap();
        if !bare_only {
            writeln!(
                s,
                "impl crate::tl::Serialize for {name} {{ fn serialize(&self, out: &mut Vec<u8>) {{ out.put_u32(0x{:08x}); self.serialize_bare(out); }} }}",
                d.id
            )
            .unwrap();
            writeln!(
                s,
                "impl crate::tl::Deserialize for {name} {{ fn deserialize(r: &mut crate::tl::Reader<'_>) -> Result<Self, crate::tl::TlError> {{ r.expect_id(0x{:08x})?; Self::deserialize_bare(r) }} }}",
                d.id
            )
            .unwrap();
        }
        if d.category == Category::Function && d.generics.is_empty() {
            let ret = &d.result;
            if !self.is_raw_type(ret) {
                writeln!(
                    s,
                    "impl crate::tl::RemoteCall for {name} {{ type Return = {}; }}",
                    self.rust_type(ret)
                )
                .unwrap();
            }
        }
        s
    }

    fn gen_enum(&self, name: &str, ctors: &[&Definition]) -> String {
        let ename = camel(name);
        let mut s = String::new();
        writeln!(
            s,
            "/// TL type `{name}`.\n#[derive(Clone, Debug, PartialEq)]\npub enum {ename} {{"
        )
        .unwrap();
        for c in ctors {
            let cname = camel(&c.name);
            writeln!(s, "    {cname}(super::types::{cname}),").unwrap();
        }
        s.push_str("}\n");
        let ser_arms: String = ctors
            .iter()
            .map(|c| {
                format!(
                    "Self::{0}(x) => crate::tl::Serialize::serialize(x, out),",
                    camel(&c.name)
                )
            })
            .collect();
        writeln!(
            s,
            "impl crate::tl::Serialize for {ename} {{ fn serialize(&self, out: &mut Vec<u8>) {{ match self {{ {ser_arms} }} }} }}"
        )
        .unwrap();
        let de_arms: String = ctors
            .iter()
            .map(|c| {
                format!(
                    "0x{:08x} => Ok(Self::{1}(super::types::{1}::deserialize_bare(r)?)),",
                    c.id,
                    camel(&c.name)
                )
            })
            .collect();
        writeln!(
            s,
            "impl crate::tl::Deserialize for {ename} {{ fn deserialize(r: &mut crate::tl::Reader<'_>) -> Result<Self, crate::tl::TlError> {{ let id = r.read_u32()?; match id {{ {de_arms} _ => Err(crate::tl::TlError::UnknownConstructor(id)) }} }} }}"
        )
        .unwrap();
        for c in ctors {
            writeln!(
                s,
                "impl From<super::types::{0}> for {ename} {{ fn from(x: super::types::{0}) -> Self {{ Self::{0}(x) }} }}",
                camel(&c.name)
            )
            .unwrap();
        }
        s
    }
}
