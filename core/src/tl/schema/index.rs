//! [`Schema`]: parsed TL declarations indexed for the dynamic codec
//! (PROTOCOL.md L-1..L-9).
//!
//! A schema is built from one or more texts (for example `api.tl`, then the
//! MTProto service schema, then an application's own declarations), and keeps
//! three indexes: by full name, by constructor id (constructors and functions
//! separately) and by result type (type name → its constructors).

use std::collections::HashMap;

use super::parse::{self, Category, Definition, ParseError, TypeRef};

/// A schema text could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The text is not valid TL (L-1..L-6); the error carries the line.
    #[error("TL schema: {0}")]
    Parse(#[from] ParseError),
}

/// Bounds that protect the decoder (and the encoder) from hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of objects, vectors and `gzip_packed` layers. TL is
    /// recursive (a message holds a reply that holds a message...), so without
    /// a bound a crafted buffer could exhaust the stack.
    pub max_depth: usize,
    /// Total bytes that `gzip_packed` values may unpack to within one call
    /// (B-13). A few kilobytes of gzip can expand to gigabytes.
    pub max_unpacked_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_unpacked_size: 16 << 20,
        }
    }
}

/// A set of TL declarations, indexed for lookup and for the dynamic codec
/// ([`Schema::encode`], [`Schema::decode`]).
///
/// # Duplicates
///
/// Declarations are loaded in order, and **a later declaration wins**:
///
/// - Constructors and functions have separate id indexes (the wire context
///   says which one is meant). When two declarations of the same category share
///   an id, the id resolves to the later one. The earlier one stays reachable by
///   name, so it can still be encoded, but bytes carrying that id decode as the
///   later one. `api.tl` relies on this: its preamble declares pseudo-functions
///   such as `invokeWithBusinessConnectionPrefix#dd289f8e` that reuse the id of
///   the real wrapper `invokeWithBusinessConnection#dd289f8e` declared further
///   down, and the real wrapper is what a decoder must see.
/// - A declaration whose full name is already present replaces the old one
///   entirely, so an application can load `api.tl` and then override a few
///   declarations with its own text.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    defs: Vec<Definition>,
    by_name: HashMap<String, usize>,
    constructor_ids: HashMap<u32, usize>,
    function_ids: HashMap<u32, usize>,
    by_type: HashMap<String, Vec<usize>>,
    layer: Option<i32>,
    limits: Limits,
}

impl Schema {
    /// An empty schema; add texts with [`Schema::extend`].
    pub fn new() -> Self {
        Schema::default()
    }

    /// Parses one schema text.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let mut schema = Schema::new();
        schema.extend(text)?;
        Ok(schema)
    }

    /// Adds the declarations of another text. Either the whole text is added
    /// or, on a parse error, nothing is. A `// LAYER N` comment in the text
    /// sets [`Schema::layer`].
    pub fn extend(&mut self, text: &str) -> Result<(), SchemaError> {
        let defs = parse::parse(text)?;
        if let Some(layer) = find_layer(text) {
            self.layer = Some(layer);
        }
        for def in defs {
            self.insert(def);
        }
        Ok(())
    }

    fn insert(&mut self, def: Definition) {
        let idx = match self.by_name.get(&def.name) {
            Some(&old) => {
                self.unindex(old);
                self.defs[old] = def;
                old
            }
            None => {
                self.defs.push(def);
                self.by_name.insert(
                    self.defs[self.defs.len() - 1].name.clone(),
                    self.defs.len() - 1,
                );
                self.defs.len() - 1
            }
        };
        let def = &self.defs[idx];
        match def.category {
            Category::Type => {
                self.constructor_ids.insert(def.id, idx);
                self.by_type
                    .entry(def.result.name.clone())
                    .or_default()
                    .push(idx);
            }
            Category::Function => {
                self.function_ids.insert(def.id, idx);
            }
        }
    }

    /// Removes the id and type entries of a declaration about to be replaced.
    fn unindex(&mut self, idx: usize) {
        let def = &self.defs[idx];
        let ids = match def.category {
            Category::Type => &mut self.constructor_ids,
            Category::Function => &mut self.function_ids,
        };
        if ids.get(&def.id) == Some(&idx) {
            ids.remove(&def.id);
        }
        if let Some(list) = self.by_type.get_mut(&def.result.name) {
            list.retain(|&i| i != idx);
        }
    }

    /// The layer named by a `// LAYER N` comment, or set by [`Schema::set_layer`].
    /// The schema text alone often does not say; callers that know the layer
    /// (they need it for `invokeWithLayer`, L-9) can record it here.
    pub fn layer(&self) -> Option<i32> {
        self.layer
    }

    pub fn set_layer(&mut self, layer: Option<i32>) {
        self.layer = layer;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Replaces the decoding bounds (depth, gzip size).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Every loaded declaration, in load order (replaced ones excluded).
    pub fn definitions(&self) -> impl Iterator<Item = &Definition> + '_ {
        self.defs.iter()
    }

    /// Number of declarations.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// A constructor or function by its full name, e.g. `help.getConfig`.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.by_name.get(name).map(|&i| &self.defs[i])
    }

    /// The constructor a boxed id resolves to (see the duplicate rule above).
    pub fn constructor_by_id(&self, id: u32) -> Option<&Definition> {
        self.constructor_ids.get(&id).map(|&i| &self.defs[i])
    }

    /// The function a boxed id resolves to.
    pub fn function_by_id(&self, id: u32) -> Option<&Definition> {
        self.function_ids.get(&id).map(|&i| &self.defs[i])
    }

    /// The constructors of a type, by the type's full name (e.g. `InputPeer`,
    /// `auth.Authorization`), in load order.
    pub fn constructors_of<'a>(
        &'a self,
        type_name: &str,
    ) -> impl Iterator<Item = &'a Definition> + 'a {
        self.by_type
            .get(type_name)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|&i| &self.defs[i])
    }

    /// Whether bytes carrying `def.id` decode as `def` itself, i.e. no later
    /// declaration took over its id.
    pub fn resolves_to_itself(&self, def: &Definition) -> bool {
        let found = match def.category {
            Category::Type => self.constructor_by_id(def.id),
            Category::Function => self.function_by_id(def.id),
        };
        found.is_some_and(|d| d.name == def.name)
    }
}

/// `// LAYER 228`; when a text has several, the last one counts.
fn find_layer(text: &str) -> Option<i32> {
    text.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("//")?.trim();
        let rest = rest.strip_prefix("LAYER")?;
        rest.trim().parse().ok()
    })
}

/// How a field type is written and read, derived from its [`TypeRef`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty<'a> {
    Int,
    Long,
    Double,
    String,
    Bytes,
    Int128,
    Int256,
    /// `true`: zero bytes, its presence is the flag bit (B-9).
    True,
    /// Boxed `Bool`, shown as a JSON boolean.
    Bool,
    /// `Vector<T>` (boxed) or `vector<T>` (bare), B-8.
    Vector {
        boxed: bool,
        elem: &'a TypeRef,
    },
    /// A capitalised type: boxed, any constructor of that type.
    Boxed(&'a str),
    /// A lower-case constructor or `%T`: serialised without its id (B-7).
    Bare(&'a TypeRef),
    /// `Object` or a generic `X`: any boxed constructor or function (B-11).
    Object,
    /// `!X`: a complete boxed function call (L-7).
    Function,
}

impl<'a> Ty<'a> {
    /// Classifies a type reference. `generics` are the `{X:Type}` names of the
    /// declaration the reference appears in.
    pub(crate) fn of(t: &'a TypeRef, generics: &[String]) -> Result<Ty<'a>, String> {
        if t.generic_ref {
            return Ok(Ty::Function);
        }
        if generics.contains(&t.name) {
            return Ok(Ty::Object);
        }
        Ok(match t.name.as_str() {
            "int" => Ty::Int,
            "long" => Ty::Long,
            "double" => Ty::Double,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "int128" => Ty::Int128,
            "int256" => Ty::Int256,
            "true" => Ty::True,
            "Bool" if !t.bare => Ty::Bool,
            "Object" if !t.bare => Ty::Object,
            "Vector" | "vector" => {
                let elem = t
                    .arg
                    .as_deref()
                    .ok_or_else(|| format!("`{}` without an element type", t.name))?;
                Ty::Vector {
                    boxed: t.name == "Vector" && !t.bare,
                    elem,
                }
            }
            _ if t.bare => Ty::Bare(t),
            _ => Ty::Boxed(&t.name),
        })
    }
}

impl Schema {
    /// The constructor a bare type stands for: a lower-case constructor name,
    /// or `%T` where `T` has exactly one constructor.
    pub(crate) fn bare_constructor(&self, t: &TypeRef) -> Result<&Definition, String> {
        if t.base_name().starts_with(|c: char| c.is_ascii_lowercase()) {
            match self.get(&t.name) {
                Some(d) if d.category == Category::Type => Ok(d),
                _ => Err(format!("no constructor named `{}`", t.name)),
            }
        } else {
            let mut it = self.constructors_of(&t.name);
            match (it.next(), it.next()) {
                (Some(d), None) => Ok(d),
                (None, _) => Err(format!("type `{}` has no constructors", t.name)),
                _ => Err(format!(
                    "bare `%{}` needs a type with exactly one constructor",
                    t.name
                )),
            }
        }
    }

    /// A lower bound on the serialised size of one value, used to reject
    /// vector counts the remaining input cannot hold before allocating.
    pub(crate) fn min_size(&self, ty: Ty<'_>, depth: usize) -> usize {
        match ty {
            Ty::True => 0,
            Ty::Int | Ty::String | Ty::Bytes | Ty::Bool => 4,
            Ty::Boxed(_) | Ty::Object | Ty::Function => 4,
            Ty::Long | Ty::Double => 8,
            Ty::Int128 => 16,
            Ty::Int256 => 32,
            Ty::Vector { boxed, .. } => {
                if boxed {
                    8
                } else {
                    4
                }
            }
            Ty::Bare(t) => {
                if depth > 4 {
                    return 0;
                }
                let Ok(def) = self.bare_constructor(t) else {
                    return 0;
                };
                def.params
                    .iter()
                    .map(|p| match &p.kind {
                        parse::ParamKind::Flags => 4,
                        parse::ParamKind::Value { flag: Some(_), .. } => 0,
                        parse::ParamKind::Value { ty, flag: None } => Ty::of(ty, &def.generics)
                            .map(|t| self.min_size(t, depth + 1))
                            .unwrap_or(0),
                    })
                    .sum()
            }
        }
    }
}

/// B-10: whether the bit a conditional field names is set, given the masks
/// already read or computed for the object (`(field name, mask)` pairs).
pub(crate) fn flag_is_set(masks: &[(&str, u32)], flag: &super::parse::FlagRef) -> bool {
    masks
        .iter()
        .find(|(name, _)| *name == flag.field)
        .is_some_and(|(_, mask)| mask & (1 << flag.bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L-2, L-9: indexes, the duplicate rule and the layer comment.
    #[test]
    fn l2_indexes_and_duplicates() {
        let mut s = Schema::parse(
            "// LAYER 7\na#00000001 = T;\nb#00000002 x:int = T;\n---functions---\n\
             fPrefix#00000009 x:string = T;\nf#00000009 {X:Type} x:string q:!X = X;",
        )
        .unwrap();
        assert_eq!(s.layer(), Some(7));
        assert_eq!(s.len(), 4);
        let names: Vec<_> = s.constructors_of("T").map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.constructor_by_id(2).unwrap().name, "b");
        assert_eq!(s.function_by_id(9).unwrap().name, "f");
        assert!(!s.resolves_to_itself(s.get("fPrefix").unwrap()));
        assert!(s.resolves_to_itself(s.get("f").unwrap()));
        // A later text overrides by name; the old id no longer resolves.
        s.extend("b#00000003 y:long = U;").unwrap();
        assert!(s.constructor_by_id(2).is_none());
        assert_eq!(s.constructor_by_id(3).unwrap().name, "b");
        assert_eq!(s.constructors_of("T").count(), 1);
        assert_eq!(s.constructors_of("U").count(), 1);
        // A failed extend changes nothing.
        assert!(s.extend("c#00000004 = C;\nbroken").is_err());
        assert!(s.get("c").is_none());
        assert_eq!(Schema::parse("a = A;").unwrap().layer(), None);
    }
}
