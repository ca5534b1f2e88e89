//! Syntactic type helpers: recognising `Result`, `Stream`, byte buffers and
//! references, and choosing the owned type a shim decodes an argument into.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{GenericArgument, PathArguments, Type};

/// The generic type arguments of the last path segment named `name`.
fn last_segment_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(tp) = ty else { return None };
    if tp.qself.is_some() {
        return None;
    }
    let seg = tp.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    match &seg.arguments {
        PathArguments::AngleBracketed(ab) => Some(
            ab.args
                .iter()
                .filter_map(|a| match a {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
                .collect(),
        ),
        _ => Some(Vec::new()),
    }
}

/// `Result<T, E>` → `(T, E)`.
pub fn result_parts(ty: &Type) -> Option<(&Type, &Type)> {
    match last_segment_args(ty, "Result")?.as_slice() {
        [ok, err] => Some((ok, err)),
        _ => None,
    }
}

/// `Stream<T>` (any path ending in `Stream` with one type argument) → `T`.
pub fn stream_item(ty: &Type) -> Option<&Type> {
    match last_segment_args(ty, "Stream")?.as_slice() {
        [item] => Some(item),
        _ => None,
    }
}

/// Is `ty` exactly `Vec<u8>`?
pub fn is_vec_u8(ty: &Type) -> bool {
    matches!(last_segment_args(ty, "Vec").as_deref(), Some([t]) if is_u8(t))
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

/// Is `ty` `&[u8]` (any lifetime)?
pub fn is_byte_slice_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_none()
        && matches!(&*r.elem, Type::Slice(s) if is_u8(&s.elem)))
}

/// Is `ty` `String`?
pub fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("String"))
}

/// How one argument crosses the wire.
pub struct ArgWire {
    /// Owned type the shim decodes.
    pub decode_ty: TokenStream,
    /// Converts the decoded binding into what the method takes.
    pub to_call: TokenStream,
    /// The host client's parameter type.
    pub client_ty: TokenStream,
    /// Expression encoding the client parameter.
    pub encode: TokenStream,
}

/// Wire treatment of an argument of type `ty` bound to `v`.
pub fn arg_wire(ty: &Type, krate: &syn::Path, v: &syn::Ident) -> ArgWire {
    if is_vec_u8(ty) {
        return ArgWire {
            decode_ty: quote!(#krate::__private::ByteBuf),
            to_call: quote!(#v.0),
            client_ty: quote!(&[u8]),
            encode: quote!(#krate::__private::Bytes(#v)),
        };
    }
    if is_byte_slice_ref(ty) {
        return ArgWire {
            decode_ty: quote!(#krate::__private::ByteBuf),
            to_call: quote!(&#v.0[..]),
            client_ty: quote!(&[u8]),
            encode: quote!(#krate::__private::Bytes(#v)),
        };
    }
    if is_string(ty) {
        return ArgWire {
            decode_ty: quote!(::std::string::String),
            to_call: quote!(#v),
            client_ty: quote!(&str),
            encode: quote!(#v),
        };
    }
    if let Type::Reference(r) = ty {
        let elem = &*r.elem;
        let (decode_ty, client_ty) = match elem {
            Type::Path(p) if p.path.is_ident("str") => {
                (quote!(::std::string::String), quote!(&str))
            }
            Type::Slice(s) => {
                let inner = &s.elem;
                (quote!(::std::vec::Vec<#inner>), quote!(&[#inner]))
            }
            other => (quote!(#other), quote!(&#other)),
        };
        return ArgWire {
            decode_ty,
            to_call: quote!(&#v),
            client_ty,
            encode: quote!(#v),
        };
    }
    ArgWire {
        decode_ty: quote!(#ty),
        to_call: quote!(#v),
        client_ty: quote!(&#ty),
        encode: quote!(#v),
    }
}

/// How a success value crosses the wire.
pub struct RetWire {
    /// Expression turning the owned value `v` into a `Serialize` value (shim side).
    pub encode: TokenStream,
    /// Type the host decodes.
    pub decode_ty: TokenStream,
    /// Converts the decoded `v` into the client's return type.
    pub from_decoded: TokenStream,
}

/// Wire treatment of a success value of type `ty`.
pub fn ret_wire(ty: &Type, krate: &syn::Path) -> RetWire {
    if is_vec_u8(ty) {
        RetWire {
            encode: quote!(#krate::__private::ByteBuf(v)),
            decode_ty: quote!(#krate::__private::ByteBuf),
            from_decoded: quote!(v.0),
        }
    } else {
        RetWire {
            encode: quote!(v),
            decode_ty: quote!(#ty),
            from_decoded: quote!(v),
        }
    }
}
