//! The interface IR: a `#[plugin_interface]` trait parsed and validated once,
//! from which every generator works.

use crate::attrs::{Buffer, InterfaceArgs};
use crate::types;
use fidius_core::hash::signature_string;
use fidius_core::kind::{MethodKind, RESERVED_META_PREFIX};
use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ItemTrait, LitStr, Pat, ReturnType, TraitItem, Type};

/// Maximum number of `#[optional]` methods (one capability bit each).
pub const MAX_OPTIONAL: usize = 64;

/// One `("key", "value")` metadata pair.
pub struct Meta {
    /// The key.
    pub key: LitStr,
    /// The value.
    pub value: LitStr,
}

/// One method argument (after `&self`).
pub struct Arg {
    /// The parameter name.
    pub ident: Ident,
    /// The type as written.
    pub ty: Type,
}

/// A method's return shape.
pub enum Ret {
    /// No return type (`()` on the wire).
    Unit,
    /// A plain value.
    Plain(Type),
    /// `Result<T, E>`: `T` on success, `E` (a `PluginError`) as the plugin error.
    Result {
        /// The success type.
        ok: Type,
    },
}

/// One trait method.
pub struct Method {
    /// The method name.
    pub ident: Ident,
    /// 0-based vtable index (declaration order).
    pub index: usize,
    /// Arguments after `&self`.
    pub args: Vec<Arg>,
    /// Return shape.
    pub ret: Ret,
    /// The return type exactly as written (hashed as spelled).
    pub ret_ty: Option<Type>,
    /// `#[wire(raw)]`.
    pub raw: bool,
    /// `async fn`.
    pub is_async: bool,
    /// Call kind.
    pub kind: MethodKind,
    /// Bit index among optional methods.
    pub optional_bit: Option<u32>,
    /// Client stream argument: its position among the arguments and its item type.
    pub stream_arg: Option<(usize, Type)>,
    /// Server stream output item type.
    pub stream_out: Option<Type>,
    /// `#[method_meta]` pairs.
    pub meta: Vec<Meta>,
    /// Span of the signature.
    pub span: Span,
}

/// A parsed `#[plugin_interface]` trait.
pub struct Interface {
    /// The trait (helper attributes removed).
    pub item: ItemTrait,
    /// The trait name.
    pub ident: Ident,
    /// `version = N`.
    pub version: u32,
    /// Buffer strategy.
    pub buffer: Buffer,
    /// Crate path of fidius in generated code.
    pub krate: syn::Path,
    /// `#[trait_meta]` pairs.
    pub trait_meta: Vec<Meta>,
    /// Methods, in declaration order.
    pub methods: Vec<Method>,
    /// The interface hash (reference §2.4).
    pub hash: u64,
}

fn last_ident(attr: &Attribute) -> Option<String> {
    attr.path().segments.last().map(|s| s.ident.to_string())
}

fn parse_meta(attr: &Attribute, what: &str, seen: &mut Vec<String>) -> syn::Result<Meta> {
    let (key, value) = attr
        .parse_args_with(|input: syn::parse::ParseStream| {
            let key: LitStr = input.parse()?;
            input.parse::<syn::Token![,]>()?;
            let value: LitStr = input.parse()?;
            if !input.is_empty() {
                return Err(input.error("expected exactly two string literals"));
            }
            Ok((key, value))
        })
        .map_err(|_| {
            syn::Error::new(
                attr.span(),
                format!("expected #[{what}(\"key\", \"value\")] with two string literals"),
            )
        })?;
    let k = key.value();
    if k.is_empty() {
        return Err(syn::Error::new(
            key.span(),
            format!("#[{what}] key must not be empty"),
        ));
    }
    if k.trim() != k {
        return Err(syn::Error::new(
            key.span(),
            format!("#[{what}] key `{k}` has leading or trailing whitespace; remove it"),
        ));
    }
    if k.starts_with(RESERVED_META_PREFIX) {
        return Err(syn::Error::new(
            key.span(),
            format!("the `fidius.*` key namespace is reserved for framework use; got `{k}` (choose another prefix)"),
        ));
    }
    if k.contains('\0') || value.value().contains('\0') {
        return Err(syn::Error::new(
            attr.span(),
            format!("#[{what}] strings must not contain NUL"),
        ));
    }
    if seen.contains(&k) {
        return Err(syn::Error::new(
            key.span(),
            format!("duplicate #[{what}] key `{k}`; each key may appear once"),
        ));
    }
    seen.push(k);
    Ok(Meta { key, value })
}

/// Canonical type string for the hash: the compiler's own token printer
/// (as fidius 0.5 hashed). Outside a proc macro (`fidius python-stub`, say)
/// the same text comes from [`crate::tokens::compiler_style`], which spaces
/// tokens as rustc does, so every tool computes the macro's hash.
pub fn type_string(ty: &Type) -> String {
    let tokens = ty.to_token_stream();
    if proc_macro::is_available() {
        tokens.to_string()
    } else {
        crate::tokens::compiler_style(tokens)
    }
}

impl Interface {
    /// Parses and validates a trait; every problem is reported (combined).
    pub fn parse(args: InterfaceArgs, mut item: ItemTrait) -> syn::Result<Self> {
        if !item.generics.params.is_empty() {
            return Err(syn::Error::new(
                item.generics.span(),
                "plugin interfaces cannot be generic; use concrete types in the trait",
            ));
        }
        // Trait-level metadata.
        let mut trait_meta = Vec::new();
        let mut seen = Vec::new();
        let mut kept = Vec::new();
        for attr in std::mem::take(&mut item.attrs) {
            if last_ident(&attr).as_deref() == Some("trait_meta") {
                trait_meta.push(parse_meta(&attr, "trait_meta", &mut seen)?);
            } else {
                kept.push(attr);
            }
        }
        item.attrs = kept;

        let mut methods = Vec::new();
        let mut optional_count = 0usize;
        let mut errors: Option<syn::Error> = None;
        let mut push_err = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        let mut index = 0usize;
        for trait_item in item.items.iter_mut() {
            let TraitItem::Fn(f) = trait_item else {
                push_err(syn::Error::new(
                    trait_item.span(),
                    "plugin interfaces may only contain methods (no associated types or consts)",
                ));
                continue;
            };
            match Self::parse_method(f, index, &mut optional_count, args.buffer) {
                Ok(m) => methods.push(m),
                Err(e) => push_err(e),
            }
            index += 1;
        }
        if optional_count > MAX_OPTIONAL {
            push_err(syn::Error::new(
                item.ident.span(),
                format!(
                    "at most {MAX_OPTIONAL} #[optional] methods per interface (one capability bit each); found {optional_count} — split the interface"
                ),
            ));
        }
        if let Some(e) = errors {
            return Err(e);
        }
        let sigs: Vec<String> = methods
            .iter()
            .filter(|m| m.optional_bit.is_none())
            .map(Method::signature)
            .collect();
        let refs: Vec<&str> = sigs.iter().map(String::as_str).collect();
        let hash = fidius_core::hash::interface_hash(&refs);
        Ok(Interface {
            ident: item.ident.clone(),
            item,
            version: args.version,
            buffer: args.buffer,
            krate: args.krate,
            trait_meta,
            methods,
            hash,
        })
    }

    fn parse_method(
        f: &mut syn::TraitItemFn,
        index: usize,
        optional_count: &mut usize,
        buffer: Buffer,
    ) -> syn::Result<Method> {
        let sig = &f.sig;
        let mut optional = false;
        let mut raw = false;
        let mut meta = Vec::new();
        let mut seen = Vec::new();
        let mut kept = Vec::new();
        for attr in std::mem::take(&mut f.attrs) {
            match last_ident(&attr).as_deref() {
                Some("optional") => {
                    if let syn::Meta::List(_) = &attr.meta {
                        attr.parse_nested_meta(|m| {
                            if m.path.is_ident("since") {
                                let _: syn::LitInt = m.value()?.parse()?;
                                Ok(())
                            } else {
                                Err(m.error("expected `since = N`"))
                            }
                        })?;
                    }
                    optional = true;
                }
                Some("method_meta") => meta.push(parse_meta(&attr, "method_meta", &mut seen)?),
                Some("wire") => {
                    let ok = attr
                        .parse_args::<Ident>()
                        .map(|i| i == "raw")
                        .unwrap_or(false);
                    if !ok {
                        return Err(syn::Error::new(
                            attr.span(),
                            "expected `raw` — only `#[wire(raw)]` is supported",
                        ));
                    }
                    raw = true;
                }
                _ => kept.push(attr),
            }
        }
        f.attrs = kept;

        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new(
                sig.generics.span(),
                "plugin methods cannot be generic; use concrete types",
            ));
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            Some(FnArg::Receiver(r)) if r.mutability.is_some() => {
                return Err(syn::Error::new(
                    r.span(),
                    "fidius plugins are stateless: methods must take `&self`, not `&mut self` (use interior mutability such as a Mutex for state)",
                ))
            }
            Some(other) => {
                return Err(syn::Error::new(
                    other.span(),
                    "plugin methods must take `&self` as their first parameter",
                ))
            }
            None => {
                return Err(syn::Error::new(
                    sig.ident.span(),
                    "plugin methods must take `&self` as their first parameter",
                ))
            }
        }
        let mut args = Vec::new();
        let mut stream_arg: Option<(usize, Type)> = None;
        for (i, input) in inputs.enumerate() {
            let FnArg::Typed(pt) = input else {
                unreachable!("receiver only comes first")
            };
            let ident = match &*pt.pat {
                Pat::Ident(pi) => pi.ident.clone(),
                _ => quote::format_ident!("__fidius_arg{}", i),
            };
            if let Some(item) = types::stream_item(&pt.ty) {
                if stream_arg.is_some() {
                    return Err(syn::Error::new(
                        pt.ty.span(),
                        "a method may take at most one `Stream<T>` argument; combine the inputs into one item type",
                    ));
                }
                stream_arg = Some((i, item.clone()));
            }
            args.push(Arg {
                ident,
                ty: (*pt.ty).clone(),
            });
        }
        let stream_args = usize::from(stream_arg.is_some());
        let ret = match &sig.output {
            ReturnType::Default => Ret::Unit,
            ReturnType::Type(_, ty) => match types::result_parts(ty) {
                Some((ok, _err)) => Ret::Result { ok: ok.clone() },
                None => Ret::Plain((**ty).clone()),
            },
        };
        let server_stream = match &sig.output {
            ReturnType::Type(_, ty) => types::stream_item(ty).is_some(),
            ReturnType::Default => false,
        };
        let kind = match (server_stream, stream_args > 0) {
            (true, true) => MethodKind::BidiStream,
            (true, false) => MethodKind::ServerStream,
            (false, true) => MethodKind::ClientStream,
            (false, false) if raw => MethodKind::Raw,
            (false, false) => MethodKind::Unary,
        };
        let is_async = sig.asyncness.is_some();
        if raw {
            if is_async {
                return Err(syn::Error::new(
                    sig.span(),
                    "#[wire(raw)] is not supported on `async fn`; make the method synchronous",
                ));
            }
            let arg_ok = args.len() == 1 && types::is_vec_u8(&args[0].ty);
            let ret_ok = match &ret {
                Ret::Plain(t) => types::is_vec_u8(t),
                Ret::Result { ok, .. } => types::is_vec_u8(ok),
                Ret::Unit => false,
            };
            if !arg_ok || !ret_ok {
                return Err(syn::Error::new(
                    sig.span(),
                    "#[wire(raw)] methods must look like `fn m(&self, input: Vec<u8>) -> Vec<u8>` (or `-> Result<Vec<u8>, PluginError>`)",
                ));
            }
        }
        let streaming = !matches!(kind, MethodKind::Unary | MethodKind::Raw);
        if streaming && buffer == Buffer::Arena {
            return Err(syn::Error::new(
                sig.span(),
                "streaming methods (`fidius::Stream<T>`) require the PluginAllocated buffer strategy; use `buffer = PluginAllocated` on the interface",
            ));
        }
        let stream_out = match &ret {
            Ret::Plain(t) => types::stream_item(t).cloned(),
            _ => None,
        };
        let optional_bit = if optional {
            *optional_count += 1;
            Some((*optional_count - 1) as u32)
        } else {
            None
        };
        Ok(Method {
            ident: sig.ident.clone(),
            index,
            args,
            ret,
            ret_ty: match &sig.output {
                ReturnType::Default => None,
                ReturnType::Type(_, t) => Some((**t).clone()),
            },
            raw,
            is_async,
            kind,
            optional_bit,
            stream_arg,
            stream_out,
            meta,
            span: sig.span(),
        })
    }
}

impl Method {
    /// The canonical signature string (reference §2.4).
    pub fn signature(&self) -> String {
        let mut stream_arg = false;
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match types::stream_item(&a.ty) {
                Some(item) if !stream_arg => {
                    stream_arg = true;
                    type_string(item)
                }
                _ => type_string(&a.ty),
            })
            .collect();
        let (ret, server_stream) = match &self.ret_ty {
            None => (String::new(), false),
            Some(t) => match types::stream_item(t) {
                Some(item) => (type_string(item), true),
                None => (type_string(t), false),
            },
        };
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        signature_string(
            &self.ident.to_string(),
            &arg_refs,
            &ret,
            self.raw,
            server_stream,
            stream_arg,
        )
    }
}
