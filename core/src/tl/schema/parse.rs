//! A parser for TL schema text (PROTOCOL.md L-1..L-9, B-12).
//!
//! This file depends on `std` and `crc32fast` only, because the build script
//! includes it (via `#[path]`) to generate the service types: the same parser
//! serves code generation and the runtime dynamic codec.

use std::fmt;

/// Where a declaration sits in the file (L-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Type,
    Function,
}

/// A reference to a type inside a declaration (L-5, L-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeRef {
    /// Full name including namespace, e.g. `auth.Authorization`, `long`, `Vector`.
    pub name: String,
    /// Bare: lower-case constructor used as a type, or `%T` (B-7).
    pub bare: bool,
    /// `!X`: a full function call of generic type `X` (L-7).
    pub generic_ref: bool,
    /// The argument of `Vector<T>` / `vector<T>` (or `T<A>` in general).
    pub arg: Option<Box<TypeRef>>,
}

impl TypeRef {
    /// The name after the namespace dot, if any.
    pub fn base_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    fn parse(text: &str) -> Result<TypeRef, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty type".into());
        }
        if let Some(rest) = text.strip_prefix('!') {
            let mut t = TypeRef::parse(rest)?;
            t.generic_ref = true;
            return Ok(t);
        }
        if let Some(rest) = text.strip_prefix('%') {
            let mut t = TypeRef::parse(rest)?;
            t.bare = true;
            return Ok(t);
        }
        let (name, arg) = match text.find('<') {
            Some(open) => {
                let close = text
                    .rfind('>')
                    .filter(|&c| c > open)
                    .ok_or_else(|| format!("unbalanced '<' in type `{text}`"))?;
                if close != text.len() - 1 {
                    return Err(format!("text after '>' in type `{text}`"));
                }
                let arg = TypeRef::parse(&text[open + 1..close])?;
                (&text[..open], Some(Box::new(arg)))
            }
            None => (text, None),
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("invalid type name `{name}`"));
        }
        let base = name.rsplit('.').next().unwrap_or(name);
        let first = base.chars().next().ok_or("empty type name")?;
        let bare = first.is_ascii_lowercase();
        Ok(TypeRef {
            name: name.to_string(),
            bare,
            generic_ref: false,
            arg,
        })
    }

    /// The CRC form of this type (B-12): `bytes` becomes `string`,
    /// `<`/`>` become spaces.
    fn crc_text(&self, out: &mut String, bytes_as_string: bool) {
        if self.generic_ref {
            out.push('!');
        }
        if self.name == "bytes" && bytes_as_string {
            out.push_str("string");
        } else if self.bare
            && !self.generic_ref
            && self.name.starts_with(|c: char| c.is_ascii_uppercase())
        {
            // `%Message` hashes as the bare constructor name `message` (TV §5).
            let mut chars = self.name.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_lowercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(&self.name);
        }
        if let Some(arg) = &self.arg {
            out.push(' ');
            arg.crc_text(out, bytes_as_string);
        }
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.generic_ref {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(arg) = &self.arg {
            write!(f, "<{arg}>")?;
        }
        Ok(())
    }
}

/// `flags.N?` (B-10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagRef {
    pub field: String,
    pub bit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `name:#`, a uint32 bitmask controlling later fields.
    Flags,
    /// An ordinary field, possibly conditional.
    Value { ty: TypeRef, flag: Option<FlagRef> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
}

/// One constructor or function declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// Full name, e.g. `help.getConfig`.
    pub name: String,
    /// The id used on the wire: explicit when given, else the CRC32 rule.
    pub id: u32,
    /// The id computed by the CRC32 rule (B-12).
    pub crc_id: u32,
    /// Whether the schema wrote `#id`.
    pub explicit_id: bool,
    /// Implicit `{X:Type}` parameters (L-5); never serialized.
    pub generics: Vec<String>,
    pub params: Vec<Param>,
    pub result: TypeRef,
    pub category: Category,
    /// 1-based line of the declaration's start.
    pub line: usize,
}

impl Definition {
    /// The name after the namespace dot.
    pub fn base_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    /// The namespace, if any (`help` for `help.getConfig`).
    pub fn namespace(&self) -> Option<&str> {
        self.name.rsplit_once('.').map(|(ns, _)| ns)
    }

    /// The normalised declaration text hashed by the CRC32 rule (B-12).
    pub fn crc_text(&self) -> String {
        self.crc_text_with(true, true)
    }

    /// Whether the explicit id agrees with the CRC32 rule, allowing the two
    /// variants that Telegram's published API schema is known to use: `bytes`
    /// hashed as written, and zero-size `flags.N?true` fields left out.
    pub fn id_verifies(&self) -> bool {
        [(true, true), (true, false), (false, true), (false, false)]
            .iter()
            .any(|&(bytes_as_string, keep_true)| {
                crc_id(&self.crc_text_with(bytes_as_string, keep_true)) == self.id
            })
    }

    fn crc_text_with(&self, bytes_as_string: bool, keep_true_flags: bool) -> String {
        let mut s = self.name.clone();
        for g in &self.generics {
            s.push(' ');
            s.push_str(g);
            s.push_str(":Type");
        }
        for p in &self.params {
            if let ParamKind::Value { ty, flag: Some(_) } = &p.kind {
                if !keep_true_flags && ty.name == "true" {
                    continue;
                }
            }
            s.push(' ');
            s.push_str(&p.name);
            s.push(':');
            match &p.kind {
                ParamKind::Flags => s.push('#'),
                ParamKind::Value { ty, flag } => {
                    if let Some(f) = flag {
                        s.push_str(&format!("{}.{}?", f.field, f.bit));
                    }
                    ty.crc_text(&mut s, bytes_as_string);
                }
            }
        }
        s.push_str(" = ");
        self.result.crc_text(&mut s, bytes_as_string);
        s
    }
}

/// A parse failure with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A declaration whose explicit `#id` differs from the CRC32 rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMismatch {
    pub name: String,
    pub explicit: u32,
    pub computed: u32,
    pub line: usize,
}

/// Names of the built-in pseudo-declarations (L-4); they are skipped.
const BUILTINS: &[&str] = &[
    "int", "long", "double", "string", "bytes", "int128", "int256", "vector",
];

/// Parses schema text into declarations. Built-in pseudo-declarations are
/// skipped (L-4); comments are ignored (L-3); section markers switch between
/// constructors and functions (L-2).
pub fn parse(text: &str) -> Result<Vec<Definition>, ParseError> {
    let cleaned = strip_comments(text);
    let mut defs = Vec::new();
    let mut category = Category::Type;
    // Accumulate declarations that may span lines until a ';'.
    let mut pending = String::new();
    let mut pending_line = 0usize;
    for (idx, raw_line) in cleaned.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        if pending.is_empty() {
            if let Some(section) = line.strip_prefix("---").and_then(|l| l.strip_suffix("---")) {
                category = match section.trim() {
                    "functions" => Category::Function,
                    "types" => Category::Type,
                    other => {
                        return Err(ParseError {
                            line: line_no,
                            message: format!("unknown section `---{other}---`"),
                        })
                    }
                };
                continue;
            }
            pending_line = line_no;
        }
        let mut rest = line;
        while let Some(end) = rest.find(';') {
            pending.push(' ');
            pending.push_str(&rest[..end]);
            if let Some(def) =
                parse_declaration(&pending, category).map_err(|message| ParseError {
                    line: pending_line,
                    message,
                })?
            {
                defs.push(Definition {
                    line: pending_line,
                    ..def
                });
            }
            pending.clear();
            pending_line = line_no;
            rest = &rest[end + 1..];
        }
        if !rest.trim().is_empty() {
            pending.push(' ');
            pending.push_str(rest);
        }
    }
    if !pending.trim().is_empty() {
        return Err(ParseError {
            line: pending_line,
            message: "declaration without a final ';'".into(),
        });
    }
    Ok(defs)
}

/// Lists declarations whose explicit id disagrees with the CRC32 rule (B-12)
/// in every accepted variant ([`Definition::id_verifies`]). The explicit id
/// always wins on the wire; this is a cross-check only.
pub fn id_mismatches(defs: &[Definition]) -> Vec<IdMismatch> {
    defs.iter()
        .filter(|d| d.explicit_id && !d.id_verifies())
        .map(|d| IdMismatch {
            name: d.name.clone(),
            explicit: d.id,
            computed: d.crc_id,
            line: d.line,
        })
        .collect()
}

/// CRC32 (IEEE) of a normalised declaration (B-12).
pub fn crc_id(normalised: &str) -> u32 {
    crc32fast::hash(normalised.as_bytes())
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                // Keep line numbers stable.
                if bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else {
            // Copy one UTF-8 character.
            let ch_len = utf8_len(bytes[i]);
            let end = (i + ch_len).min(bytes.len());
            out.push_str(std::str::from_utf8(&bytes[i..end]).unwrap_or("\u{FFFD}"));
            i = end;
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Parses one declaration without its `;`. Returns `None` for built-ins.
fn parse_declaration(text: &str, category: Category) -> Result<Option<Definition>, String> {
    let text = text.trim();
    let (lhs, rhs) = text
        .split_once('=')
        .ok_or_else(|| format!("missing '=' in `{text}`"))?;
    let mut tokens = lhs.split_whitespace();
    let head = tokens.next().ok_or("empty declaration")?;
    let (name, explicit) = match head.split_once('#') {
        Some((name, hex)) => {
            if hex.is_empty() || hex.len() > 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("invalid constructor id `#{hex}` (L-1)"));
            }
            let id = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            (name, Some(id))
        }
        None => (head, None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(format!("invalid declaration name `{name}`"));
    }
    let rest: Vec<&str> = tokens.collect();
    if BUILTINS.contains(&name) || rest.iter().any(|t| t.contains('[') || *t == "?") {
        return Ok(None);
    }
    let mut generics = Vec::new();
    let mut params = Vec::new();
    for tok in rest {
        if let Some(inner) = tok.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| format!("unclosed '{{' in `{tok}`"))?;
            let (gname, gtype) = inner
                .split_once(':')
                .ok_or_else(|| format!("invalid generic `{tok}`"))?;
            if gtype != "Type" && gtype != "#" {
                return Err(format!("unsupported generic kind `{gtype}`"));
            }
            generics.push(gname.to_string());
            continue;
        }
        let (pname, ptype) = tok
            .split_once(':')
            .ok_or_else(|| format!("parameter without type: `{tok}`"))?;
        if pname.is_empty() {
            return Err(format!("parameter without name: `{tok}`"));
        }
        let kind = if ptype == "#" {
            ParamKind::Flags
        } else if let Some((cond, ty)) = ptype.split_once('?') {
            let (field, bit) = cond
                .split_once('.')
                .ok_or_else(|| format!("invalid condition `{cond}`"))?;
            let bit: u32 = bit
                .parse()
                .map_err(|_| format!("invalid flag bit in `{cond}`"))?;
            if bit > 31 {
                return Err(format!("flag bit {bit} out of range"));
            }
            if !params
                .iter()
                .any(|p: &Param| p.name == field && p.kind == ParamKind::Flags)
            {
                return Err(format!(
                    "condition on `{field}`, which is not an earlier `#` field (B-10)"
                ));
            }
            ParamKind::Value {
                ty: TypeRef::parse(ty)?,
                flag: Some(FlagRef {
                    field: field.to_string(),
                    bit,
                }),
            }
        } else {
            ParamKind::Value {
                ty: TypeRef::parse(ptype)?,
                flag: None,
            }
        };
        params.push(Param {
            name: pname.to_string(),
            kind,
        });
    }
    let result = parse_result(rhs)?;
    let mut def = Definition {
        name: name.to_string(),
        id: 0,
        crc_id: 0,
        explicit_id: explicit.is_some(),
        generics,
        params,
        result,
        category,
        line: 0,
    };
    def.crc_id = crc_id(&def.crc_text());
    def.id = explicit.unwrap_or(def.crc_id);
    Ok(Some(def))
}

/// Parses a standalone type expression such as `User`, `Vector<long>`,
/// `Vector User` or `%Message`, as written on the right of a declaration.
pub fn parse_type(text: &str) -> Result<TypeRef, String> {
    parse_result(text)
}

/// The result type may be written `Vector t` (space form) or `Vector<t>`.
fn parse_result(rhs: &str) -> Result<TypeRef, String> {
    let parts: Vec<&str> = rhs.split_whitespace().collect();
    match parts.as_slice() {
        [one] => TypeRef::parse(one),
        [head, arg] => {
            let mut t = TypeRef::parse(head)?;
            t.arg = Some(Box::new(TypeRef::parse(arg)?));
            Ok(t)
        }
        _ => Err(format!("invalid result type `{}`", rhs.trim())),
    }
}
