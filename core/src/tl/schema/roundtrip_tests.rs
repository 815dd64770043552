//! Round trip over every constructor and every function of `api.tl`
//! (layer 228) with generated values: JSON → bytes → JSON must give the same
//! JSON, and encoding that again must give the same bytes.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use super::codec_tests::api;
use super::index::Ty;
use super::*;

/// SplitMix64: small, deterministic, and independent of any crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INF: u32 = u32::MAX / 4;

/// Generates canonical JSON (the form `decode` produces) for any type of a
/// schema. "Cost" is the least object nesting a value of a type needs, with
/// every optional field absent and every vector empty; a value is generated
/// within a budget so recursive types terminate.
struct Gen<'s> {
    schema: &'s Schema,
    rng: Rng,
    type_cost: HashMap<&'s str, u32>,
    any_constructor: Vec<&'s Definition>,
    functions: Vec<&'s Definition>,
}

impl<'s> Gen<'s> {
    fn new(schema: &'s Schema, seed: u64) -> Self {
        let mut g = Gen {
            schema,
            rng: Rng(seed),
            type_cost: HashMap::new(),
            any_constructor: Vec::new(),
            functions: Vec::new(),
        };
        // Fixpoint of type costs.
        loop {
            let mut changed = false;
            for d in schema.definitions() {
                if d.category != Category::Type {
                    continue;
                }
                let c = g.def_cost(d, 0);
                let e = g.type_cost.entry(&d.result.name).or_insert(INF);
                if c < *e {
                    *e = c;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        g.any_constructor = schema
            .definitions()
            .filter(|d| d.category == Category::Type && schema.resolves_to_itself(d))
            .collect();
        g.functions = schema
            .definitions()
            .filter(|d| d.category == Category::Function && schema.resolves_to_itself(d))
            .collect();
        g
    }

    fn def_cost(&self, d: &Definition, depth: usize) -> u32 {
        let mut worst = 0;
        for p in &d.params {
            if let ParamKind::Value { ty, flag: None } = &p.kind {
                let t = Ty::of(ty, &d.generics).unwrap();
                worst = worst.max(self.ty_cost(t, depth));
            }
        }
        worst.saturating_add(1).min(INF)
    }

    fn ty_cost(&self, t: Ty<'_>, depth: usize) -> u32 {
        match t {
            Ty::Boxed(name) => *self.type_cost.get(name).unwrap_or(&INF),
            Ty::Bare(tr) if depth < 8 => self
                .schema
                .bare_constructor(tr)
                .map_or(INF, |d| self.def_cost(d, depth + 1)),
            Ty::Bare(_) => INF,
            // Only reached through generic wrappers; `help.getConfig` has cost 1.
            Ty::Object | Ty::Function => 1,
            _ => 0,
        }
    }

    fn long(&mut self) -> Value {
        let v = match self.rng.below(8) {
            0 => 0,
            1 => -1,
            2 => MAX_SAFE_INTEGER,
            3 => MAX_SAFE_INTEGER + 1,
            4 => -MAX_SAFE_INTEGER - 1,
            5 => i64::MIN,
            6 => i64::MAX,
            _ => self.rng.next() as i64,
        };
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            Value::from(v)
        } else {
            Value::String(v.to_string())
        }
    }

    fn string(&mut self) -> String {
        match self.rng.below(9) {
            0 => String::new(),
            1 => "a".into(),
            2 => "h\u{e9}llo w\u{f6}rld \u{2713} \u{1f980} \u{4e2d}\u{6587}".into(),
            3 => "x".repeat(253),
            4 => "y".repeat(254),
            5 => "z".repeat(300),
            // 254 bytes of two-byte characters, and a mixed 300-character text.
            6 => "\u{e9}".repeat(127),
            7 => "\u{1f980}\u{4e2d}a".repeat(100),
            _ => {
                let n = self.rng.below(20);
                (0..n)
                    .map(|_| (b' ' + self.rng.below(95) as u8) as char)
                    .collect()
            }
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = *self.rng.pick(&[0usize, 1, 3, 4, 253, 254, 300, 7, 16]);
        (0..n).map(|_| self.rng.next() as u8).collect()
    }

    fn hex(&mut self, n: usize) -> Value {
        let b: Vec<u8> = (0..n).map(|_| self.rng.next() as u8).collect();
        Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
    }

    fn double(&mut self) -> Value {
        match self.rng.below(8) {
            0 => Value::from(0.0),
            1 => Value::from(-0.0),
            2 => Value::from(1.5),
            3 => Value::from(f64::MAX),
            4 => Value::from(-1e-300),
            5 => Value::String("NaN".into()),
            6 => Value::String("-Infinity".into()),
            _ => loop {
                let f = f64::from_bits(self.rng.next());
                if f.is_finite() {
                    break Value::from(f);
                }
            },
        }
    }

    /// A value of type `t` whose objects nest at most `budget` deep.
    fn value(&mut self, t: Ty<'s>, generics: &'s [String], budget: u32) -> Value {
        match t {
            Ty::Int => Value::from(match self.rng.below(6) {
                0 => 0,
                1 => -1,
                2 => i32::MIN,
                3 => i32::MAX,
                _ => self.rng.next() as i32,
            }),
            Ty::Long => self.long(),
            Ty::Double => self.double(),
            Ty::String => Value::String(self.string()),
            Ty::Bytes => {
                let b = self.bytes();
                Value::String(STANDARD.encode(b))
            }
            Ty::Int128 => self.hex(16),
            Ty::Int256 => self.hex(32),
            Ty::True => Value::Bool(true),
            Ty::Bool => Value::Bool(self.rng.coin()),
            Ty::Vector { elem, .. } => {
                let et = Ty::of(elem, generics).unwrap();
                let n = if self.ty_cost(et, 0) <= budget {
                    self.rng.below(4)
                } else {
                    0
                };
                Value::Array((0..n).map(|_| self.value(et, generics, budget)).collect())
            }
            Ty::Boxed(name) => {
                let choices: Vec<&'s Definition> = self
                    .schema
                    .constructors_of(name)
                    .filter(|d| self.schema.resolves_to_itself(d) && self.def_cost(d, 0) <= budget)
                    .collect();
                assert!(
                    !choices.is_empty(),
                    "no constructor of {name} within {budget}"
                );
                let d = *self.rng.pick(&choices);
                self.object(d, budget - 1)
            }
            Ty::Bare(tr) => {
                let d = self.schema.bare_constructor(tr).unwrap();
                self.object(d, budget - 1)
            }
            Ty::Object => {
                let choices: Vec<&'s Definition> = self
                    .any_constructor
                    .iter()
                    .copied()
                    .filter(|d| self.def_cost(d, 0) <= budget.min(2))
                    .collect();
                let d = *self.rng.pick(&choices);
                self.top(d, budget)
            }
            Ty::Function => {
                let choices: Vec<&'s Definition> = self
                    .functions
                    .iter()
                    .copied()
                    .filter(|d| self.def_cost(d, 0) <= budget.min(2))
                    .collect();
                let d = *self.rng.pick(&choices);
                self.object(d, budget - 1)
            }
        }
    }

    /// A top-level value for a declaration: `Bool` constructors are JSON
    /// booleans, everything else an object.
    fn top(&mut self, d: &'s Definition, budget: u32) -> Value {
        match d.name.as_str() {
            "boolTrue" => Value::Bool(true),
            "boolFalse" => Value::Bool(false),
            _ => self.object(d, budget - 1),
        }
    }

    /// The fields of `d`, each within `budget`.
    fn object(&mut self, d: &'s Definition, budget: u32) -> Value {
        let mut map = Map::new();
        map.insert("_".into(), Value::String(d.name.clone()));
        // Choose the set bits first (B-10): a bit is usable only if every
        // data field it controls can be generated within the budget.
        let mut set: Vec<(&str, u32)> = Vec::new();
        for p in &d.params {
            if p.kind != ParamKind::Flags {
                continue;
            }
            let mut mask = 0u32;
            for bit in 0..32 {
                let fields: Vec<Ty<'s>> = d
                    .params
                    .iter()
                    .filter_map(|q| match &q.kind {
                        ParamKind::Value { ty, flag: Some(f) }
                            if f.field == p.name && f.bit == bit =>
                        {
                            Some(Ty::of(ty, &d.generics).unwrap())
                        }
                        _ => None,
                    })
                    .collect();
                if fields.is_empty() || !self.rng.coin() {
                    continue;
                }
                if fields.iter().all(|t| self.ty_cost(*t, 0) <= budget) {
                    mask |= 1 << bit;
                }
            }
            set.push((&p.name, mask));
        }
        for p in &d.params {
            let ParamKind::Value { ty, flag } = &p.kind else {
                continue;
            };
            let t = Ty::of(ty, &d.generics).unwrap();
            if let Some(f) = flag {
                let on = set
                    .iter()
                    .any(|(n, m)| *n == f.field && m & (1 << f.bit) != 0);
                if matches!(t, Ty::True) {
                    map.insert(p.name.clone(), Value::Bool(on));
                    continue;
                }
                if !on {
                    continue;
                }
            }
            let v = self.value(t, &d.generics, budget);
            map.insert(p.name.clone(), v);
        }
        Value::Object(map)
    }
}

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check(schema: &Schema, v: &Value, what: &str, failures: &mut Vec<String>) -> usize {
    let bytes = match schema.encode(v) {
        Ok(b) => b,
        Err(e) => {
            failures.push(format!("{what}: encode: {e}"));
            return 0;
        }
    };
    match schema.decode(&bytes) {
        Ok(back) if back == *v => match schema.encode(&back) {
            Ok(again) if again == bytes => bytes.len(),
            other => {
                failures.push(format!("{what}: re-encode differs: {other:?}"));
                0
            }
        },
        Ok(back) => {
            failures.push(format!("{what}: decoded JSON differs:\n{v}\n{back}"));
            0
        }
        Err(e) => {
            failures.push(format!("{what}: decode: {e}"));
            0
        }
    }
}

/// B-1..B-13, L-1..L-8: every constructor and every function of api.tl
/// survives encode → decode → encode with generated values, and so does a
/// generated result of every non-generic function through
/// `decode_function_result`.
#[test]
fn api_tl_round_trip_every_definition() {
    let schema = api();
    const ROUNDS: u64 = 4;
    let mut failures = Vec::new();
    let (mut constructors, mut functions, mut results, mut shadowed) = (0, 0, 0, Vec::new());
    let (mut cases, mut total_bytes, mut max_cost, mut max_depth) = (0usize, 0usize, 0u32, 0usize);
    for round in 0..ROUNDS {
        let mut g = Gen::new(schema, 0x5eed_0000 + round);
        for d in schema.definitions() {
            if !schema.resolves_to_itself(d) {
                // invokeWith*Prefix: encodable by name, but its id decodes
                // as the real wrapper declared later (the "later wins" rule).
                if round == 0 {
                    shadowed.push(d.name.clone());
                    assert!(schema.encode(&g.object(d, 3)).is_ok(), "{}", d.name);
                }
                continue;
            }
            let cost = g.def_cost(d, 0);
            assert!(cost < INF, "{} cannot be generated", d.name);
            max_cost = max_cost.max(cost);
            // Alternate a tight and a roomy budget.
            let budget = cost.max(if round % 2 == 0 { 3 } else { 5 });
            let v = g.top(d, budget);
            max_depth = max_depth.max(json_depth(&v));
            let n = check(schema, &v, &d.name, &mut failures);
            total_bytes += n;
            cases += 1;
            if round == 0 {
                match d.category {
                    Category::Type => constructors += 1,
                    Category::Function => functions += 1,
                }
            }
            if d.category == Category::Function && d.generics.is_empty() {
                let t = Ty::of(&d.result, &d.generics).unwrap();
                let budget = g.ty_cost(t, 0).max(3);
                let r = g.value(t, &d.generics, budget);
                let ty = d.result.to_string();
                match schema.encode_as(&r, &ty) {
                    Ok(bytes) => match schema.decode_function_result(&d.name, &bytes) {
                        Ok(back) if back == r => {
                            if round == 0 {
                                results += 1;
                            }
                        }
                        other => failures.push(format!("{} result: {other:?}", d.name)),
                    },
                    Err(e) => failures.push(format!("{} result: encode_as {ty}: {e}", d.name)),
                }
            }
        }
    }
    println!(
        "api.tl round trip: {constructors} constructors, {functions} functions, \
         {results} function results, {ROUNDS} rounds, {cases} cases, {total_bytes} bytes, \
         max cost {max_cost}, deepest JSON {max_depth}; skipped (id shadowed) {shadowed:?}"
    );
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(constructors > 1500 && functions > 700);
    // The generator really nests objects and vectors.
    assert!(max_depth >= 8, "{max_depth}");
    assert_eq!(shadowed.len(), 4, "{shadowed:?}");
}
