//! `fidius python-stub`: a Python module skeleton for an interface, with the
//! exact interface hash the macro computes and typed hints for its records.
//!
//! The hash comes from the same [`Interface`] model the macro uses, so it
//! agrees with `<Trait>_PYTHON_DESCRIPTOR.interface_hash` for every method
//! kind (streams and optional methods included).

use crate::ir::{Interface, Method, Ret};
use crate::source::{CrateSource, TypeItem};
use fidius_core::MethodKind;
use std::collections::BTreeSet;
use std::fmt::Write;
use syn::{GenericArgument, PathArguments, Type};

/// The Python hint for `ty`; user types found in `src` are named (and
/// collected into `records`), anything else unknown is `Any`.
fn hint(ty: &Type, src: Option<&CrateSource>, records: &mut BTreeSet<String>) -> String {
    match ty {
        Type::Reference(r) => hint(&r.elem, src, records),
        Type::Paren(p) => hint(&p.elem, src, records),
        Type::Group(g) => hint(&g.elem, src, records),
        Type::Slice(s) => format!("List[{}]", hint(&s.elem, src, records)),
        Type::Array(a) => format!("List[{}]", hint(&a.elem, src, records)),
        Type::Tuple(t) if t.elems.is_empty() => "None".into(),
        Type::Tuple(t) => format!(
            "Tuple[{}]",
            t.elems
                .iter()
                .map(|e| hint(e, src, records))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Path(p) => {
            let Some(last) = p.path.segments.last() else {
                return "Any".into();
            };
            let args: Vec<&Type> = match &last.arguments {
                PathArguments::AngleBracketed(a) => a
                    .args
                    .iter()
                    .filter_map(|g| match g {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let name = last.ident.to_string();
            let arg = |i: usize, records: &mut BTreeSet<String>| {
                args.get(i)
                    .map(|t| hint(t, src, records))
                    .unwrap_or_else(|| "Any".into())
            };
            match name.as_str() {
                "bool" => "bool".into(),
                "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
                    "int".into()
                }
                "f32" | "f64" => "float".into(),
                "String" | "str" | "char" | "PathBuf" => "str".into(),
                "Vec" | "VecDeque" | "HashSet" | "BTreeSet" => {
                    format!("List[{}]", arg(0, records))
                }
                "Option" => format!("Optional[{}]", arg(0, records)),
                "Box" | "Arc" | "Rc" | "Cow" => arg(0, records),
                "HashMap" | "BTreeMap" => {
                    format!("Dict[{}, {}]", arg(0, records), arg(1, records))
                }
                "Result" => arg(0, records),
                "Stream" => format!("Iterator[{}]", arg(0, records)),
                "Value" => "Any".into(),
                _ if src.is_some_and(|s| !s.find_type(&name).is_empty()) => {
                    if records.insert(name.clone()) {
                        // Records used by this record's fields come along.
                        if let Some(def) = src.and_then(|s| s.find_type(&name).first().copied()) {
                            if let TypeItem::Struct(st) = &def.item {
                                for f in &st.fields {
                                    hint(&f.ty, src, records);
                                }
                            }
                        }
                    }
                    format!("\"{name}\"")
                }
                _ => "Any".into(),
            }
        }
        _ => "Any".into(),
    }
}

fn doc_of(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn record(out: &mut String, name: &str, src: &CrateSource, records: &mut BTreeSet<String>) {
    let Some(def) = src.find_type(name).first().copied() else {
        return;
    };
    match &def.item {
        TypeItem::Struct(st) if matches!(st.fields, syn::Fields::Named(_)) => {
            let _ = writeln!(out, "class {name}(TypedDict):");
            for line in doc_of(&st.attrs) {
                let _ = writeln!(out, "    # {line}");
            }
            for f in &st.fields {
                let field = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
                let field = field.trim_start_matches("r#");
                let _ = writeln!(out, "    {field}: {}", hint(&f.ty, Some(src), records));
            }
            if st.fields.is_empty() {
                let _ = writeln!(out, "    pass");
            }
        }
        TypeItem::Struct(st) => {
            let hints: Vec<String> = st
                .fields
                .iter()
                .map(|f| hint(&f.ty, Some(src), records))
                .collect();
            let alias = match hints.len() {
                0 => "None".to_owned(),
                1 => hints[0].clone(),
                _ => format!("Tuple[{}]", hints.join(", ")),
            };
            let _ = writeln!(
                out,
                "{name} = {alias}  # a tuple struct crosses as its fields"
            );
        }
        TypeItem::Enum(en) => {
            let unit = en.variants.iter().all(|v| v.fields.is_empty());
            if unit {
                let names: Vec<String> = en
                    .variants
                    .iter()
                    .map(|v| format!("\"{}\"", v.ident))
                    .collect();
                let _ = writeln!(out, "{name} = Literal[{}]", names.join(", "));
            } else {
                let _ = writeln!(
                    out,
                    "# {name}: a unit variant is its name (\"{}\"), any other is a one-key dict\n# {{\"Variant\": value}} (serde's external tagging).\n{name} = Any",
                    en.variants.first().map(|v| v.ident.to_string()).unwrap_or_default()
                );
            }
        }
    }
    out.push_str("\n\n");
}

fn method_stub(
    out: &mut String,
    m: &Method,
    src: Option<&CrateSource>,
    records: &mut BTreeSet<String>,
) {
    let name = m.ident.to_string();
    let mut params = Vec::new();
    for a in &m.args {
        let p = a.ident.to_string();
        let p = p.trim_start_matches("r#").to_owned();
        let h = if m.raw {
            "bytes".to_owned()
        } else {
            hint(&a.ty, src, records)
        };
        params.push(format!("{p}: {h}"));
    }
    let ret = match (&m.ret, m.raw) {
        (_, true) => "bytes".to_owned(),
        (Ret::Unit, _) => "None".to_owned(),
        (Ret::Plain(t), _) | (Ret::Result { ok: t, .. }, _) => hint(t, src, records),
    };
    let _ = writeln!(out, "@fidius.method");
    let _ = writeln!(out, "def {name}({}) -> {ret}:", params.join(", "));
    let mut notes: Vec<String> = Vec::new();
    match m.kind {
        MethodKind::ServerStream => notes.push("A server stream: yield items one by one (a generator); the host pulls them lazily and closing it runs your `finally`.".into()),
        MethodKind::ClientStream => notes.push("A client stream: iterate the stream argument; items arrive as the host produces them.".into()),
        MethodKind::BidiStream => notes.push("Bidirectional: iterate the stream argument and yield results.".into()),
        _ => {}
    }
    if m.raw {
        notes.push("Raw wire: takes and returns bytes.".into());
    }
    if matches!(m.ret, Ret::Result { .. }) {
        notes.push("Raise fidius.PluginError(code, message, details) for the error case.".into());
    }
    if let Some(bit) = m.optional_bit {
        notes.push(format!("Optional method (capability bit {bit})."));
    }
    if m.is_async {
        notes.push("Async in Rust; a plain function here.".into());
    }
    if !notes.is_empty() {
        let _ = writeln!(
            out,
            "    \"\"\"{}\"\"\"",
            notes.join("\n    ").replace("\"\"\"", "'''")
        );
    }
    let _ = writeln!(
        out,
        "    raise fidius.PluginError(\"NOT_IMPLEMENTED\", \"{name} is not implemented yet\")"
    );
    if matches!(m.kind, MethodKind::ServerStream | MethodKind::BidiStream) {
        let _ = writeln!(out, "    yield  # makes this function a generator");
    }
    out.push_str("\n\n");
}

/// The Python module skeleton for `iface`; `src` supplies user types (records
/// become `TypedDict`s, enums `Literal`s or `Any` with a note).
pub fn python_stub(iface: &Interface, src: Option<&CrateSource>) -> String {
    let mut records = BTreeSet::new();
    let mut methods = String::new();
    let docs: std::collections::HashMap<String, Vec<String>> = iface
        .item
        .items
        .iter()
        .filter_map(|i| match i {
            syn::TraitItem::Fn(f) => Some((f.sig.ident.to_string(), doc_of(&f.attrs))),
            _ => None,
        })
        .collect();
    for m in &iface.methods {
        let mut stub = String::new();
        method_stub(&mut stub, m, src, &mut records);
        if let Some(d) = docs.get(&m.ident.to_string()).filter(|d| !d.is_empty()) {
            // Put the trait's doc comment first in the docstring.
            let first = format!("    \"\"\"{}", d.join("\n    ").replace("\"\"\"", "'''"));
            if stub.contains("    \"\"\"") {
                stub = stub.replacen("    \"\"\"", &format!("{first}\n\n    "), 1);
            } else {
                stub = stub.replacen(
                    "    raise fidius.PluginError",
                    &format!("{first}\"\"\"\n    raise fidius.PluginError"),
                    1,
                );
            }
        }
        methods.push_str(&stub);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\"\"\"A Python plugin for `{}` (interface version {}).\n\nGenerated by `fidius python-stub`: fill in each method. Records arrive as dicts,\n`Vec<u8>` as a list of ints, `#[wire(raw)]` arguments as bytes. For a\nconfigured plugin, define `__fidius_configure__(config)` returning an object\nwith these methods instead of module-level functions.\n\"\"\"",
        iface.ident, iface.version
    );
    out.push_str("from typing import Any, Dict, Iterator, List, Literal, Optional, Tuple, TypedDict\n\nimport fidius\n\n");
    let _ = writeln!(
        out,
        "# Must equal {}_PYTHON_DESCRIPTOR.interface_hash; the host refuses the module otherwise.\n__interface_hash__ = {:#018x}\n\n",
        iface.ident, iface.hash
    );
    if let Some(src) = src {
        // Records may pull in more records; emit until none is left.
        let mut done = BTreeSet::new();
        loop {
            let pending: Vec<String> = records.difference(&done).cloned().collect();
            if pending.is_empty() {
                break;
            }
            for name in pending {
                record(&mut out, &name, src, &mut records);
                done.insert(name);
            }
        }
    }
    out.push_str(&methods);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (Interface, CrateSource) {
        let dir = std::env::temp_dir().join(format!(
            "fidius-pystub-{}-{}",
            std::process::id(),
            src.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("lib.rs");
        std::fs::write(&file, src).unwrap();
        let out = crate::source::interface_from_source(&file, None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn every_method_kind_gets_a_stub_and_records_become_typed_dicts() {
        let (iface, src) = parse(
            r#"
            pub struct Point { pub x: i64, pub y: Option<f64>, pub tags: Vec<Tag> }
            pub enum Tag { A, B }
            #[fidius::plugin_interface(version = 2, buffer = PluginAllocated)]
            pub trait Shapes: Send + Sync {
                /// Moves a point.
                fn shift(&self, p: Point, by: i64) -> Result<Point, PluginError>;
                #[wire(raw)]
                fn echo(&self, data: Vec<u8>) -> Vec<u8>;
                fn count(&self, n: u32) -> fidius::Stream<u64>;
                fn sum(&self, offset: u64, items: fidius::Stream<u64>) -> u64;
                fn scale(&self, items: fidius::Stream<u64>) -> fidius::Stream<u64>;
                fn touch(&self);
                #[optional(since = 2)]
                fn extra(&self) -> String;
            }
            "#,
        );
        let stub = python_stub(&iface, Some(&src));
        assert!(stub.contains(&format!("__interface_hash__ = {:#018x}", iface.hash)));
        assert!(stub.contains("class Point(TypedDict):\n    x: int\n    y: Optional[float]\n    tags: List[\"Tag\"]"), "{stub}");
        assert!(stub.contains("Tag = Literal[\"A\", \"B\"]"), "{stub}");
        assert!(
            stub.contains("def shift(p: \"Point\", by: int) -> \"Point\":"),
            "{stub}"
        );
        assert!(stub.contains("Moves a point."));
        assert!(stub.contains("def echo(data: bytes) -> bytes:"));
        assert!(stub.contains("def count(n: int) -> Iterator[int]:"));
        assert!(
            stub.contains("def sum(offset: int, items: Iterator[int]) -> int:"),
            "{stub}"
        );
        assert!(stub.contains("def scale(items: Iterator[int]) -> Iterator[int]:"));
        assert!(stub.contains("def touch() -> None:"));
        assert!(stub.contains("capability bit 0"));
        assert_eq!(stub.matches("    yield").count(), 2);
    }
}
