//! The WIT world of an interface (fidius 0.5's shape, reference §11.3):
//! Rust types mapped to WIT, user records and variants resolved from the
//! crate's source, the world rendered as text, and the Rust conversions
//! between wit-bindgen's generated types and the user's own.

use crate::ir::{Interface, Method, Ret};
use crate::names::{bindgen_camel, bindgen_snake, escape, is_valid_wit_ident, kebab};
use crate::source::{CrateSource, TypeItem};
use fidius_core::MethodKind;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use syn::spanned::Spanned;
use syn::{Fields, GenericArgument, PathArguments, Type};

/// What the mapping supports, quoted in every error.
pub const SUPPORTED: &str = "bool, i8..i64, u8..u64, usize/isize, f32, f64, char, String, &str, \
Vec<T>, &[T], Option<T>, HashMap/BTreeMap<K, V>, Box<T>, non-empty tuples, PluginError, and \
structs with named fields or enums defined in this crate's source";

/// The WIT package version of every macro-generated interface (fixed, as in fidius 0.5).
pub const PACKAGE_VERSION: &str = "0.1.0";

/// A WIT type.
#[derive(Clone, Debug, PartialEq)]
pub enum WitType {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `s16`
    S16,
    /// `s32`
    S32,
    /// `s64`
    S64,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
    /// `list<T>`
    List(Box<WitType>),
    /// `option<T>`
    Option(Box<WitType>),
    /// `tuple<…>`
    Tuple(Vec<WitType>),
    /// A Rust map, written `list<tuple<k, v>>`.
    Map(Box<WitType>, Box<WitType>),
    /// `Box<T>` on the Rust side: `T` in WIT.
    Boxed(Box<WitType>),
    /// The built-in `plugin-error` record.
    PluginError,
    /// A user record or variant, by WIT name.
    Named(String),
}

impl WitType {
    /// The type as WIT source.
    pub fn render(&self) -> String {
        match self {
            WitType::Bool => "bool".into(),
            WitType::S8 => "s8".into(),
            WitType::S16 => "s16".into(),
            WitType::S32 => "s32".into(),
            WitType::S64 => "s64".into(),
            WitType::U8 => "u8".into(),
            WitType::U16 => "u16".into(),
            WitType::U32 => "u32".into(),
            WitType::U64 => "u64".into(),
            WitType::F32 => "f32".into(),
            WitType::F64 => "f64".into(),
            WitType::Char => "char".into(),
            WitType::String => "string".into(),
            WitType::List(t) => format!("list<{}>", t.render()),
            WitType::Option(t) => format!("option<{}>", t.render()),
            WitType::Tuple(ts) => format!(
                "tuple<{}>",
                ts.iter()
                    .map(WitType::render)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            WitType::Map(k, v) => format!("list<tuple<{}, {}>>", k.render(), v.render()),
            WitType::Boxed(t) => t.render(),
            WitType::PluginError => "plugin-error".into(),
            WitType::Named(n) => escape(n),
        }
    }

    /// Whether values need converting between wit-bindgen's Rust types and the user's.
    pub fn needs_conversion(&self) -> bool {
        match self {
            WitType::List(t) | WitType::Option(t) => t.needs_conversion(),
            WitType::Tuple(ts) => ts.iter().any(WitType::needs_conversion),
            WitType::Map(..) | WitType::Boxed(_) | WitType::PluginError | WitType::Named(_) => true,
            _ => false,
        }
    }
}

/// One record field (or one field of a struct-shaped variant case).
#[derive(Clone, Debug)]
pub struct FieldDef {
    /// The Rust field name.
    pub rust: syn::Ident,
    /// The WIT field name (kebab-case, unescaped).
    pub wit: String,
    /// Its type.
    pub ty: WitType,
}

/// The payload of a variant case.
#[derive(Clone, Debug)]
pub enum CasePayload {
    /// A unit case.
    None,
    /// `Case(T)`.
    Single(WitType),
    /// `Case(A, B, …)`: a WIT tuple.
    Tuple(Vec<WitType>),
    /// `Case { … }`: a synthetic record named `<enum>-<case>`.
    Record(String, Vec<FieldDef>),
}

/// One variant case.
#[derive(Clone, Debug)]
pub struct CaseDef {
    /// The Rust variant name.
    pub rust: syn::Ident,
    /// The WIT case name.
    pub wit: String,
    /// Its payload.
    pub payload: CasePayload,
}

/// The shape of a user type.
#[derive(Clone, Debug)]
pub enum UserShape {
    /// A struct with named fields.
    Record(Vec<FieldDef>),
    /// A single-field tuple struct: transparent in WIT (its inner type).
    Newtype(WitType),
    /// An enum.
    Variant(Vec<CaseDef>),
}

/// A user type of the world.
#[derive(Clone, Debug)]
pub struct UserType {
    /// The Rust type name.
    pub rust: syn::Ident,
    /// Module path from the crate root.
    pub module: Vec<String>,
    /// The WIT name.
    pub wit: String,
    /// Record, newtype or variant.
    pub shape: UserShape,
}

/// A function parameter.
#[derive(Clone, Debug)]
pub struct ParamDef {
    /// The WIT name.
    pub wit: String,
    /// Its type.
    pub ty: WitType,
    /// The Rust type as written in the trait.
    pub rust_ty: Type,
}

/// What a function returns.
#[derive(Clone, Debug)]
pub enum FuncResult {
    /// Nothing.
    None,
    /// A value.
    Plain(WitType),
    /// `result<T, plugin-error>` (`None` = `result<_, plugin-error>`).
    Result(Option<WitType>),
    /// A server stream: returns the `<m>-stream` resource with items of this type.
    Stream(WitType),
}

/// One function of the interface (one trait method).
#[derive(Clone, Debug)]
pub struct FuncDef {
    /// Index of the method in the trait (vtable order).
    pub index: usize,
    /// The Rust method name.
    pub rust: syn::Ident,
    /// The WIT name.
    pub wit: String,
    /// Parameters (a client-stream argument is not one: items are pulled through an import).
    pub params: Vec<ParamDef>,
    /// The result.
    pub result: FuncResult,
    /// The call kind.
    pub kind: MethodKind,
    /// Client-stream position and item type, if any.
    pub stream_in: Option<(usize, WitType)>,
}

/// The world of one interface.
#[derive(Clone, Debug)]
pub struct World {
    /// The trait name.
    pub trait_name: String,
    /// Interface (and package) name: kebab of the trait name.
    pub iface: String,
    /// User types, dependencies first.
    pub types: Vec<UserType>,
    /// Functions, in trait order.
    pub funcs: Vec<FuncDef>,
    /// The interface hash (returned by `fidius-interface-hash`).
    pub hash: u64,
}

impl World {
    /// `fidius:<iface>@0.1.0`
    pub fn package(&self) -> String {
        format!("fidius:{}@{PACKAGE_VERSION}", self.iface)
    }

    /// The export name hosts look up: `fidius:<iface>/<iface>@0.1.0`.
    pub fn export_name(&self) -> String {
        export_name(&self.iface)
    }

    /// The world name: `<iface>-plugin`.
    pub fn world_name(&self) -> String {
        format!("{}-plugin", self.iface)
    }

    /// Whether any method pulls a client stream (the world then imports `fidius:stream-pull`).
    pub fn uses_stream_pull(&self) -> bool {
        self.funcs.iter().any(|f| f.stream_in.is_some())
    }

    /// The world as WIT source.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let i = escape(&self.iface);
        let _ = writeln!(s, "package fidius:{i}@{PACKAGE_VERSION};\n");
        let _ = writeln!(s, "interface {i} {{");
        s.push_str(
            "    record plugin-error {\n        code: string,\n        message: string,\n        details: option<string>,\n    }\n",
        );
        for t in &self.types {
            render_type(&mut s, t);
        }
        for f in &self.funcs {
            if let FuncResult::Stream(item) = &f.result {
                let _ = writeln!(
                    s,
                    "    resource {}-stream {{\n        next: func() -> result<option<{}>, plugin-error>;\n    }}",
                    f.wit,
                    item.render()
                );
            }
        }
        for f in &self.funcs {
            let params = f
                .params
                .iter()
                .map(|p| format!("{}: {}", escape(&p.wit), p.ty.render()))
                .collect::<Vec<_>>()
                .join(", ");
            let ret = match &f.result {
                FuncResult::None => String::new(),
                FuncResult::Plain(t) => format!(" -> {}", t.render()),
                FuncResult::Result(Some(t)) => format!(" -> result<{}, plugin-error>", t.render()),
                FuncResult::Result(None) => " -> result<_, plugin-error>".into(),
                FuncResult::Stream(_) => format!(" -> {}-stream", f.wit),
            };
            let _ = writeln!(s, "    {}: func({params}){ret};", escape(&f.wit));
        }
        s.push_str("    fidius-interface-hash: func() -> u64;\n");
        s.push_str("    fidius-configure: func(config: list<u8>);\n");
        s.push_str("}\n\n");
        let _ = writeln!(s, "world {}-plugin {{", self.iface);
        if self.uses_stream_pull() {
            s.push_str("    import fidius:stream-pull/pull@0.1.0;\n");
        }
        let _ = writeln!(s, "    export {i};");
        s.push_str("}\n");
        if self.uses_stream_pull() {
            s.push_str(
                "\npackage fidius:stream-pull@0.1.0 {\n    interface pull {\n        next: func() -> option<list<u8>>;\n    }\n}\n",
            );
        }
        s
    }
}

/// `fidius:<iface>/<iface>@0.1.0` for a kebab interface name.
pub fn export_name(iface: &str) -> String {
    format!("fidius:{iface}/{iface}@{PACKAGE_VERSION}")
}

fn render_fields(s: &mut String, name: &str, fields: &[FieldDef]) {
    let _ = writeln!(s, "    record {} {{", escape(name));
    for f in fields {
        let _ = writeln!(s, "        {}: {},", escape(&f.wit), f.ty.render());
    }
    s.push_str("    }\n");
}

fn render_type(s: &mut String, t: &UserType) {
    match &t.shape {
        UserShape::Record(fields) => render_fields(s, &t.wit, fields),
        UserShape::Newtype(_) => {}
        UserShape::Variant(cases) => {
            for c in cases {
                if let CasePayload::Record(name, fields) = &c.payload {
                    render_fields(s, name, fields);
                }
            }
            let _ = writeln!(s, "    variant {} {{", escape(&t.wit));
            for c in cases {
                let payload = match &c.payload {
                    CasePayload::None => String::new(),
                    CasePayload::Single(ty) => format!("({})", ty.render()),
                    CasePayload::Tuple(ts) => format!(
                        "(tuple<{}>)",
                        ts.iter()
                            .map(WitType::render)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    CasePayload::Record(name, _) => format!("({name})"),
                };
                let _ = writeln!(s, "        {}{payload},", escape(&c.wit));
            }
            s.push_str("    }\n");
        }
    }
}

/// Builds worlds, collecting every error with its span.
struct Builder<'a> {
    source: Option<&'a CrateSource>,
    types: Vec<UserType>,
    in_progress: Vec<String>,
    errors: Vec<syn::Error>,
}

fn segment_args(seg: &syn::PathSegment) -> Vec<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(ab) => ab
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Builder<'_> {
    fn err(&mut self, span: Span, msg: String) {
        self.errors.push(syn::Error::new(span, msg));
    }

    fn unsupported(&mut self, ty: &Type, why: &str) -> Option<WitType> {
        let shown = quote!(#ty).to_string();
        self.err(
            ty.span(),
            format!("`{shown}` cannot be expressed in WIT{why}; supported: {SUPPORTED}"),
        );
        None
    }

    fn map(&mut self, ty: &Type) -> Option<WitType> {
        match ty {
            Type::Paren(p) => self.map(&p.elem),
            Type::Group(g) => self.map(&g.elem),
            Type::Reference(r) => match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => Some(WitType::String),
                Type::Slice(s) => Some(WitType::List(Box::new(self.map(&s.elem)?))),
                other => self.map(other),
            },
            Type::Tuple(t) if t.elems.is_empty() => self.unsupported(ty, " as a value (`()`)"),
            Type::Tuple(t) => {
                let mut out = Vec::new();
                for e in &t.elems {
                    out.push(self.map(e)?);
                }
                Some(WitType::Tuple(out))
            }
            Type::Path(p) if p.qself.is_none() => {
                let seg = p.path.segments.last()?;
                let name = seg.ident.to_string();
                let args = segment_args(seg);
                let one = |b: &mut Self| -> Option<WitType> {
                    match args.as_slice() {
                        [t] => b.map(t),
                        _ => b.unsupported(ty, " (expected one type argument)"),
                    }
                };
                match (name.as_str(), args.len()) {
                    ("bool", 0) => Some(WitType::Bool),
                    ("i8", 0) => Some(WitType::S8),
                    ("i16", 0) => Some(WitType::S16),
                    ("i32", 0) => Some(WitType::S32),
                    ("i64" | "isize", 0) => Some(WitType::S64),
                    ("u8", 0) => Some(WitType::U8),
                    ("u16", 0) => Some(WitType::U16),
                    ("u32", 0) => Some(WitType::U32),
                    ("u64" | "usize", 0) => Some(WitType::U64),
                    ("f32", 0) => Some(WitType::F32),
                    ("f64", 0) => Some(WitType::F64),
                    ("char", 0) => Some(WitType::Char),
                    ("String", 0) => Some(WitType::String),
                    ("PluginError", 0) => Some(WitType::PluginError),
                    ("u128" | "i128", 0) => self.unsupported(
                        ty,
                        " (WIT has no 128-bit integers; use u64/i64 or a string)",
                    ),
                    ("Vec", _) => Some(WitType::List(Box::new(one(self)?))),
                    ("Option", _) => Some(WitType::Option(Box::new(one(self)?))),
                    ("Box", _) => Some(WitType::Boxed(Box::new(one(self)?))),
                    ("HashMap" | "BTreeMap", 2) => {
                        let k = self.map(args[0])?;
                        let v = self.map(args[1])?;
                        Some(WitType::Map(Box::new(k), Box::new(v)))
                    }
                    ("Result", _) => self
                        .unsupported(ty, " here (only a method's return type may be a `Result`)"),
                    ("Stream", _) => self.unsupported(
                        ty,
                        " here (a `Stream<T>` may only be a method's return type or one argument)",
                    ),
                    (_, 0) => self.user_type(ty, &seg.ident),
                    _ => self.unsupported(ty, " (generic user types are not supported)"),
                }
            }
            _ => self.unsupported(ty, ""),
        }
    }

    fn user_type(&mut self, ty: &Type, ident: &syn::Ident) -> Option<WitType> {
        let name = ident.to_string();
        let wit = kebab(&name);
        if self.types.iter().any(|t| t.rust == name) {
            return Some(WitType::Named(wit));
        }
        if self.in_progress.contains(&name) {
            return self.unsupported(ty, " (recursive types have no WIT form)");
        }
        let Some(source) = self.source else {
            return self.unsupported(
                ty,
                " (the crate's source could not be read to find its definition)",
            );
        };
        let defs = source.find_type(&name);
        let def = match defs.as_slice() {
            [d] => (*d).clone(),
            [] => {
                return self.unsupported(
                    ty,
                    " (no struct or enum of that name in this crate's source)",
                )
            }
            _ => return self.unsupported(
                ty,
                " (several types of that name in this crate; WIT type names share one namespace)",
            ),
        };
        if !is_valid_wit_ident(&wit) {
            self.err(
                ident.span(),
                format!(
                    "type `{name}` maps to `{wit}`, which is not a valid WIT identifier; rename it"
                ),
            );
            return None;
        }
        self.in_progress.push(name.clone());
        let shape = match &def.item {
            TypeItem::Struct(s) => {
                if !s.generics.params.is_empty() {
                    self.in_progress.pop();
                    return self.unsupported(ty, " (generic user types are not supported)");
                }
                match &s.fields {
                    Fields::Named(named) => self.fields(named).map(UserShape::Record),
                    Fields::Unnamed(u) if u.unnamed.len() == 1 => {
                        self.map(&u.unnamed[0].ty).map(UserShape::Newtype)
                    }
                    _ => {
                        self.in_progress.pop();
                        return self.unsupported(
                            ty,
                            " (only structs with named fields or one unnamed field map to WIT)",
                        );
                    }
                }
            }
            TypeItem::Enum(e) => {
                if !e.generics.params.is_empty() {
                    self.in_progress.pop();
                    return self.unsupported(ty, " (generic user types are not supported)");
                }
                let mut cases = Vec::new();
                let mut ok = true;
                for v in &e.variants {
                    let cwit = kebab(&v.ident.to_string());
                    let payload = match &v.fields {
                        Fields::Unit => Some(CasePayload::None),
                        Fields::Unnamed(u) if u.unnamed.len() == 1 => {
                            self.map(&u.unnamed[0].ty).map(CasePayload::Single)
                        }
                        Fields::Unnamed(u) => u
                            .unnamed
                            .iter()
                            .map(|f| self.map(&f.ty))
                            .collect::<Option<Vec<_>>>()
                            .map(CasePayload::Tuple),
                        Fields::Named(n) => self
                            .fields(n)
                            .map(|fs| CasePayload::Record(format!("{wit}-{cwit}"), fs)),
                    };
                    match payload {
                        Some(payload) => cases.push(CaseDef {
                            rust: v.ident.clone(),
                            wit: cwit,
                            payload,
                        }),
                        None => ok = false,
                    }
                }
                ok.then_some(UserShape::Variant(cases))
            }
        };
        self.in_progress.pop();
        let shape = shape?;
        self.types.push(UserType {
            rust: def.item.ident().clone(),
            module: def.module.clone(),
            wit: wit.clone(),
            shape,
        });
        Some(WitType::Named(wit))
    }

    fn fields(&mut self, named: &syn::FieldsNamed) -> Option<Vec<FieldDef>> {
        let mut out = Vec::new();
        let mut ok = true;
        for f in &named.named {
            let ident = f.ident.clone()?;
            match self.map(&f.ty) {
                Some(ty) => out.push(FieldDef {
                    wit: kebab(&ident.to_string()),
                    rust: ident,
                    ty,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn func(&mut self, m: &Method) -> Option<FuncDef> {
        let mut params = Vec::new();
        let mut stream_in = None;
        let mut ok = true;
        for (i, a) in m.args.iter().enumerate() {
            if let Some((pos, item)) = &m.stream_arg {
                if *pos == i {
                    match self.map(item) {
                        Some(t) => stream_in = Some((i, t)),
                        None => ok = false,
                    }
                    continue;
                }
            }
            match self.map(&a.ty) {
                Some(ty) => params.push(ParamDef {
                    wit: kebab(&a.ident.to_string()),
                    ty,
                    rust_ty: a.ty.clone(),
                }),
                None => ok = false,
            }
        }
        let result = if let Some(item) = &m.stream_out {
            self.map(item).map(FuncResult::Stream)
        } else {
            match &m.ret {
                Ret::Unit => Some(FuncResult::None),
                Ret::Plain(t) if is_unit(t) => Some(FuncResult::None),
                Ret::Plain(t) => self.map(t).map(FuncResult::Plain),
                Ret::Result { ok } if is_unit(ok) => Some(FuncResult::Result(None)),
                Ret::Result { ok } => self.map(ok).map(|t| FuncResult::Result(Some(t))),
            }
        };
        let result = result?;
        ok.then(|| FuncDef {
            index: m.index,
            rust: m.ident.clone(),
            wit: kebab(&m.ident.to_string()),
            params,
            result,
            kind: m.kind,
            stream_in,
        })
    }
}

fn is_unit(t: &Type) -> bool {
    matches!(t, Type::Tuple(tt) if tt.elems.is_empty())
}

/// Builds the world of `iface`, resolving user types in `source` (`None`:
/// only built-in types are allowed). Every problem is reported, each with
/// the span of the type or name at fault.
pub fn build_world(
    iface: &Interface,
    source: Option<&CrateSource>,
) -> Result<World, Vec<syn::Error>> {
    let mut b = Builder {
        source,
        types: Vec::new(),
        in_progress: Vec::new(),
        errors: Vec::new(),
    };
    let iname = kebab(&iface.ident.to_string());
    if !is_valid_wit_ident(&iname) {
        b.err(
            iface.ident.span(),
            format!(
                "interface `{}` maps to `{iname}`, not a valid WIT identifier; rename it",
                iface.ident
            ),
        );
    }
    let mut funcs = Vec::new();
    for m in &iface.methods {
        if let Some(f) = b.func(m) {
            funcs.push(f);
        }
    }
    // One namespace per interface: functions, types, synthetic records and stream resources.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    names.insert(
        "plugin-error".into(),
        "the built-in `plugin-error` record".into(),
    );
    names.insert(
        "fidius-interface-hash".into(),
        "the built-in `fidius-interface-hash` function".into(),
    );
    names.insert(
        "fidius-configure".into(),
        "the built-in `fidius-configure` function".into(),
    );
    let mut claim = |b: &mut Builder, wit: &str, what: String, span: Span| {
        if !is_valid_wit_ident(wit) {
            b.err(
                span,
                format!("{what} maps to `{wit}`, not a valid WIT identifier; rename it"),
            );
        }
        if let Some(prev) = names.get(wit) {
            b.err(
                span,
                format!("{what} and {prev} both map to the WIT name `{wit}`; rename one of them"),
            );
        } else {
            names.insert(wit.to_owned(), what);
        }
    };
    let types = b.types.clone();
    for t in &types {
        if !matches!(t.shape, UserShape::Newtype(_)) {
            claim(&mut b, &t.wit, format!("type `{}`", t.rust), t.rust.span());
        }
        if let UserShape::Variant(cases) = &t.shape {
            for c in cases {
                if let CasePayload::Record(n, _) = &c.payload {
                    claim(
                        &mut b,
                        n,
                        format!("the record of case `{}::{}`", t.rust, c.rust),
                        c.rust.span(),
                    );
                }
            }
        }
    }
    for f in &funcs {
        claim(
            &mut b,
            &f.wit,
            format!("method `{}`", f.rust),
            f.rust.span(),
        );
        if matches!(f.result, FuncResult::Stream(_)) {
            claim(
                &mut b,
                &format!("{}-stream", f.wit),
                format!("the stream resource of `{}`", f.rust),
                f.rust.span(),
            );
        }
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    Ok(World {
        trait_name: iface.ident.to_string(),
        iface: iname,
        types: b.types,
        funcs,
        hash: iface.hash,
    })
}

/// Generates conversions between wit-bindgen's types and the user's.
///
/// `bindings` is the path of the module holding wit-bindgen's types for the
/// interface; `user_root` is the path prefix of the user's crate (`crate`
/// or `$crate`).
pub struct Conversions<'a> {
    /// The world.
    pub world: &'a World,
    /// Path of wit-bindgen's interface module.
    pub bindings: TokenStream,
    /// Path of the user's crate root.
    pub user_root: TokenStream,
    /// Path of the fidius crate (for `PluginError`).
    pub krate: TokenStream,
}

impl Conversions<'_> {
    fn user_path(&self, t: &UserType) -> TokenStream {
        let root = &self.user_root;
        let module = t.module.iter().map(|m| format_ident!("{}", m));
        let ident = &t.rust;
        quote!(#root #(:: #module)* :: #ident)
    }

    fn binding_path(&self, wit: &str) -> TokenStream {
        let b = &self.bindings;
        let ident = format_ident!("{}", bindgen_camel(wit));
        quote!(#b :: #ident)
    }

    fn find(&self, wit: &str) -> &UserType {
        self.world
            .types
            .iter()
            .find(|t| t.wit == wit)
            .expect("a named type of this world")
    }

    /// Expression converting `expr` (a wit-bindgen value of type `ty`) into the user's type.
    pub fn to_user(&self, expr: TokenStream, ty: &WitType) -> TokenStream {
        if !ty.needs_conversion() {
            return expr;
        }
        match ty {
            WitType::List(t) => {
                let inner = self.to_user(quote!(__x), t);
                quote!(#expr.into_iter().map(|__x| #inner).collect())
            }
            WitType::Option(t) => {
                let inner = self.to_user(quote!(__x), t);
                quote!(#expr.map(|__x| #inner))
            }
            WitType::Tuple(ts) => {
                let binds: Vec<_> = (0..ts.len()).map(|i| format_ident!("__t{}", i)).collect();
                let convs = ts
                    .iter()
                    .zip(&binds)
                    .map(|(t, b)| self.to_user(quote!(#b), t));
                quote!({ let (#(#binds,)*) = #expr; (#(#convs,)*) })
            }
            WitType::Map(k, v) => {
                let ck = self.to_user(quote!(__k), k);
                let cv = self.to_user(quote!(__v), v);
                quote!(#expr.into_iter().map(|(__k, __v)| (#ck, #cv)).collect())
            }
            WitType::Boxed(t) => {
                let inner = self.to_user(expr, t);
                quote!(::std::boxed::Box::new(#inner))
            }
            WitType::PluginError => {
                let k = &self.krate;
                quote!({ let __e = #expr; #k::PluginError { code: __e.code, message: __e.message, details: __e.details } })
            }
            WitType::Named(n) => {
                let f = format_ident!("__fidius_to_user_{}", bindgen_snake(n));
                quote!(#f(#expr))
            }
            _ => expr,
        }
    }

    /// Expression converting `expr` (a user value of type `ty`) into wit-bindgen's type.
    pub fn to_binding(&self, expr: TokenStream, ty: &WitType) -> TokenStream {
        if !ty.needs_conversion() {
            return expr;
        }
        match ty {
            WitType::List(t) => {
                let inner = self.to_binding(quote!(__x), t);
                quote!(#expr.into_iter().map(|__x| #inner).collect::<::std::vec::Vec<_>>())
            }
            WitType::Option(t) => {
                let inner = self.to_binding(quote!(__x), t);
                quote!(#expr.map(|__x| #inner))
            }
            WitType::Tuple(ts) => {
                let binds: Vec<_> = (0..ts.len()).map(|i| format_ident!("__t{}", i)).collect();
                let convs = ts
                    .iter()
                    .zip(&binds)
                    .map(|(t, b)| self.to_binding(quote!(#b), t));
                quote!({ let (#(#binds,)*) = #expr; (#(#convs,)*) })
            }
            WitType::Map(k, v) => {
                let ck = self.to_binding(quote!(__k), k);
                let cv = self.to_binding(quote!(__v), v);
                quote!(#expr.into_iter().map(|(__k, __v)| (#ck, #cv)).collect::<::std::vec::Vec<_>>())
            }
            WitType::Boxed(t) => self.to_binding(quote!((*#expr)), t),
            WitType::PluginError => {
                let p = self.binding_path("plugin-error");
                quote!({ let __e = #expr; #p { code: __e.code, message: __e.message, details: __e.details } })
            }
            WitType::Named(n) => {
                let f = format_ident!("__fidius_to_binding_{}", bindgen_snake(n));
                quote!(#f(#expr))
            }
            _ => expr,
        }
    }

    fn record_fields(
        &self,
        fields: &[FieldDef],
        to_user: bool,
        src: &TokenStream,
    ) -> Vec<TokenStream> {
        fields
            .iter()
            .map(|f| {
                let r = &f.rust;
                let b = format_ident!("{}", bindgen_snake(&f.wit));
                if to_user {
                    let v = self.to_user(quote!(#src.#b), &f.ty);
                    quote!(#r: #v)
                } else {
                    let v = self.to_binding(quote!(#src.#r), &f.ty);
                    quote!(#b: #v)
                }
            })
            .collect()
    }

    /// The conversion functions of every user type (`__fidius_to_user_<t>`,
    /// `__fidius_to_binding_<t>`).
    pub fn functions(&self) -> TokenStream {
        let mut out = TokenStream::new();
        for t in &self.world.types {
            let user = self.user_path(t);
            let snake = bindgen_snake(&t.wit);
            let to_user = format_ident!("__fidius_to_user_{}", snake);
            let to_binding = format_ident!("__fidius_to_binding_{}", snake);
            let (binding_ty, into_user, into_binding) = match &t.shape {
                UserShape::Newtype(inner) => {
                    let bt = binding_rust_type(self, inner);
                    let u = self.to_user(quote!(__v), inner);
                    let b = self.to_binding(quote!(__v.0), inner);
                    (bt, quote!(#user(#u)), b)
                }
                UserShape::Record(fields) => {
                    let bp = self.binding_path(&t.wit);
                    let uf = self.record_fields(fields, true, &quote!(__v));
                    let bf = self.record_fields(fields, false, &quote!(__v));
                    (
                        bp.clone(),
                        quote!(#user { #(#uf,)* }),
                        quote!(#bp { #(#bf,)* }),
                    )
                }
                UserShape::Variant(cases) => {
                    let bp = self.binding_path(&t.wit);
                    let mut to_u = Vec::new();
                    let mut to_b = Vec::new();
                    for c in cases {
                        let r = &c.rust;
                        let bc = format_ident!("{}", bindgen_camel(&c.wit));
                        match &c.payload {
                            CasePayload::None => {
                                to_u.push(quote!(#bp::#bc => #user::#r));
                                to_b.push(quote!(#user::#r => #bp::#bc));
                            }
                            CasePayload::Single(ty) => {
                                let u = self.to_user(quote!(__p), ty);
                                let b = self.to_binding(quote!(__p), ty);
                                to_u.push(quote!(#bp::#bc(__p) => #user::#r(#u)));
                                to_b.push(quote!(#user::#r(__p) => #bp::#bc(#b)));
                            }
                            CasePayload::Tuple(ts) => {
                                let binds: Vec<_> =
                                    (0..ts.len()).map(|i| format_ident!("__t{}", i)).collect();
                                let us = ts
                                    .iter()
                                    .zip(&binds)
                                    .map(|(t, b)| self.to_user(quote!(#b), t));
                                let bs: Vec<_> = ts
                                    .iter()
                                    .zip(&binds)
                                    .map(|(t, b)| self.to_binding(quote!(#b), t))
                                    .collect();
                                to_u.push(quote!(#bp::#bc((#(#binds,)*)) => #user::#r(#(#us),*)));
                                to_b.push(quote!(#user::#r(#(#binds),*) => #bp::#bc((#(#bs,)*))));
                            }
                            CasePayload::Record(name, fields) => {
                                let rp = self.binding_path(name);
                                let uf = self.record_fields(fields, true, &quote!(__p));
                                let names: Vec<_> = fields.iter().map(|f| &f.rust).collect();
                                let bf = fields.iter().map(|f| {
                                    let r = &f.rust;
                                    let b = format_ident!("{}", bindgen_snake(&f.wit));
                                    let v = self.to_binding(quote!(#r), &f.ty);
                                    quote!(#b: #v)
                                });
                                to_u.push(quote!(#bp::#bc(__p) => #user::#r { #(#uf,)* }));
                                to_b.push(
                                    quote!(#user::#r { #(#names,)* } => #bp::#bc(#rp { #(#bf,)* })),
                                );
                            }
                        }
                    }
                    (
                        bp,
                        quote!(match __v { #(#to_u,)* }),
                        quote!(match __v { #(#to_b,)* }),
                    )
                }
            };
            out.extend(quote! {
                #[allow(unused_variables, clippy::all)]
                fn #to_user(__v: #binding_ty) -> #user { #into_user }
                #[allow(unused_variables, clippy::all)]
                fn #to_binding(__v: #user) -> #binding_ty { #into_binding }
            });
        }
        out
    }
}

impl Conversions<'_> {
    /// The wit-bindgen Rust type of a WIT type (as exported functions take and return it).
    pub fn binding_type(&self, ty: &WitType) -> TokenStream {
        binding_rust_type(self, ty)
    }
}

fn binding_rust_type(c: &Conversions<'_>, ty: &WitType) -> TokenStream {
    match ty {
        WitType::Bool => quote!(bool),
        WitType::S8 => quote!(i8),
        WitType::S16 => quote!(i16),
        WitType::S32 => quote!(i32),
        WitType::S64 => quote!(i64),
        WitType::U8 => quote!(u8),
        WitType::U16 => quote!(u16),
        WitType::U32 => quote!(u32),
        WitType::U64 => quote!(u64),
        WitType::F32 => quote!(f32),
        WitType::F64 => quote!(f64),
        WitType::Char => quote!(char),
        WitType::String => quote!(::std::string::String),
        WitType::List(t) => {
            let t = binding_rust_type(c, t);
            quote!(::std::vec::Vec<#t>)
        }
        WitType::Option(t) => {
            let t = binding_rust_type(c, t);
            quote!(::core::option::Option<#t>)
        }
        WitType::Tuple(ts) => {
            let ts = ts.iter().map(|t| binding_rust_type(c, t));
            quote!((#(#ts,)*))
        }
        WitType::Map(k, v) => {
            let k = binding_rust_type(c, k);
            let v = binding_rust_type(c, v);
            quote!(::std::vec::Vec<(#k, #v)>)
        }
        WitType::Boxed(t) => binding_rust_type(c, t),
        WitType::PluginError => c.binding_path("plugin-error"),
        WitType::Named(n) => {
            let t = c.find(n);
            match &t.shape {
                UserShape::Newtype(inner) => binding_rust_type(c, inner),
                _ => c.binding_path(n),
            }
        }
    }
}

/// Whether the method's client-facing WIT uses only what the guest glue of
/// this release can serve (unary and raw methods).
pub fn is_unary(f: &FuncDef) -> bool {
    matches!(f.kind, MethodKind::Unary | MethodKind::Raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::InterfaceArgs;

    fn world_of(src: &str, trait_src: &str) -> Result<World, Vec<syn::Error>> {
        let file: syn::File = syn::parse_str(src).unwrap();
        let mut source = CrateSource::default();
        for item in &file.items {
            match item {
                syn::Item::Struct(s) => source.types.push(crate::source::TypeDef {
                    module: vec![],
                    item: TypeItem::Struct(s.clone()),
                }),
                syn::Item::Enum(e) => source.types.push(crate::source::TypeDef {
                    module: vec![],
                    item: TypeItem::Enum(e.clone()),
                }),
                _ => {}
            }
        }
        let args = InterfaceArgs::parse(quote!(version = 1, buffer = PluginAllocated)).unwrap();
        let iface = Interface::parse(args, syn::parse_str(trait_src).unwrap()).unwrap();
        build_world(&iface, Some(&source))
    }

    #[test]
    fn primitives_and_results() {
        let w = world_of(
            "",
            "pub trait Calc { fn add(&self, a: i64, b: i64) -> i64; fn ping(&self); fn try_it(&self, s: String) -> Result<u32, PluginError>; fn unit(&self) -> Result<(), PluginError>; }",
        )
        .unwrap();
        let text = w.render();
        assert!(text.contains("package fidius:calc@0.1.0;"), "{text}");
        assert!(text.contains("add: func(a: s64, b: s64) -> s64;"), "{text}");
        assert!(text.contains("ping: func();"), "{text}");
        assert!(
            text.contains("try-it: func(s: string) -> result<u32, plugin-error>;"),
            "{text}"
        );
        assert!(
            text.contains("unit: func() -> result<_, plugin-error>;"),
            "{text}"
        );
        assert!(
            text.contains("world calc-plugin {\n    export calc;\n}"),
            "{text}"
        );
        assert_eq!(w.export_name(), "fidius:calc/calc@0.1.0");
    }

    #[test]
    fn records_variants_maps_and_keywords() {
        let w = world_of(
            "pub struct Req { pub r#type: String, pub tags: HashMap<String, (i32, u64)>, pub shape: Shape }\n\
             pub enum Shape { Circle(f64), Square { side: f64 }, Empty, Pair(u8, u8) }",
            "pub trait Draw { fn draw(&self, r#type: Req) -> Option<Vec<Shape>>; }",
        )
        .unwrap();
        let text = w.render();
        assert!(text.contains("record req {\n        %type: string,\n        tags: list<tuple<string, tuple<s32, u64>>>,\n        shape: shape,\n    }"), "{text}");
        assert!(
            text.contains("record shape-square {\n        side: f64,\n    }"),
            "{text}"
        );
        assert!(text.contains("variant shape {\n        circle(f64),\n        square(shape-square),\n        empty,\n        pair(tuple<u8, u8>),\n    }"), "{text}");
        assert!(
            text.contains("draw: func(%type: req) -> option<list<shape>>;"),
            "{text}"
        );
        // Dependencies first.
        let shape_at = text.find("variant shape").unwrap();
        let req_at = text.find("record req").unwrap();
        assert!(shape_at < req_at, "{text}");
    }

    #[test]
    fn a_method_and_a_type_with_one_name_is_a_clear_error() {
        let errs = world_of(
            "pub struct Config { pub x: u8 }",
            "pub trait Svc { fn config(&self, c: Config) -> u8; }",
        )
        .unwrap_err();
        let msg = errs[0].to_string();
        assert!(msg.contains("`config`") && msg.contains("rename"), "{msg}");
    }

    #[test]
    fn unsupported_types_name_the_type_and_list_what_is_supported() {
        let errs = world_of(
            "",
            "pub trait Svc { fn f(&self, a: u128, b: Unknown) -> [u8; 4]; }",
        )
        .unwrap_err();
        assert_eq!(
            errs.len(),
            3,
            "{:?}",
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
        assert!(errs[0].to_string().contains("`u128`"));
        assert!(errs[1].to_string().contains("`Unknown`"));
        assert!(errs[0].to_string().contains("supported: bool"));
    }

    #[test]
    fn recursive_types_are_refused() {
        let errs = world_of(
            "pub struct Node { pub next: Option<Box<Node>> }",
            "pub trait T { fn f(&self, n: Node); }",
        )
        .unwrap_err();
        assert!(errs[0].to_string().contains("recursive"));
    }

    #[test]
    fn streams_render_resources_and_imports() {
        let w = world_of(
            "",
            "pub trait Ticker { fn tick(&self, n: u32) -> Stream<u64>; fn sum(&self, xs: Stream<u64>) -> u64; }",
        )
        .unwrap();
        let text = w.render();
        assert!(text.contains("resource tick-stream {\n        next: func() -> result<option<u64>, plugin-error>;\n    }"), "{text}");
        assert!(
            text.contains("tick: func(n: u32) -> tick-stream;"),
            "{text}"
        );
        assert!(text.contains("sum: func() -> u64;"), "{text}");
        assert!(
            text.contains("import fidius:stream-pull/pull@0.1.0;"),
            "{text}"
        );
    }
}
