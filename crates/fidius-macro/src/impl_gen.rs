//! Generator for `#[plugin_impl]`: re-emits the impl, teaches fidius how to
//! construct the type, and registers its descriptor in the library registry.
//!
//! Everything about the interface (vtable order, shims, hash, raw methods)
//! is reached through the trait itself, so a plugin crate needs to import
//! only the trait.

use crate::interface::c_lit;
use fidius_interface::attrs::{Buffer, ImplArgs};
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{ImplItem, ItemImpl, Type};

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: ImplArgs = syn::parse2(attr)?;
    let mut imp: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[plugin_impl] must be placed on `impl Trait for Type { … }`",
        )
    })?;
    let Some((_, trait_path, _)) = imp.trait_.clone() else {
        return Err(syn::Error::new_spanned(
            &imp.self_ty,
            "#[plugin_impl] needs a trait impl: write `impl MyTrait for MyType { … }`",
        ));
    };
    let written = args.trait_path.segments.last().map(|s| s.ident.to_string());
    let actual = trait_path.segments.last().map(|s| s.ident.to_string());
    if written != actual {
        return Err(syn::Error::new_spanned(
            &args.trait_path,
            format!(
                "#[plugin_impl({})] is on an impl of `{}`; name the implemented trait",
                written.unwrap_or_default(),
                actual.unwrap_or_default()
            ),
        ));
    }
    if !imp.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &imp.generics,
            "#[plugin_impl] types cannot be generic; implement the trait for a concrete type",
        ));
    }
    let self_ty = (*imp.self_ty).clone();
    let plugin_name = match &self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
    .ok_or_else(|| {
        syn::Error::new_spanned(
            &self_ty,
            "#[plugin_impl] needs a named type such as `MyPlugin`",
        )
    })?;

    // Strip interface-only helper attributes the author may have repeated.
    let mut implemented = Vec::new();
    for item in imp.items.iter_mut() {
        if let ImplItem::Fn(f) = item {
            f.attrs.retain(|a| {
                let last = a.path().segments.last().map(|s| s.ident.to_string());
                !matches!(last.as_deref(), Some("wire" | "optional" | "method_meta"))
            });
            implemented.push(f.sig.ident.to_string());
        }
    }

    let krate = &args.krate;
    // The interface's hook takes its strategy's marker type: naming another
    // strategy here is a type error that points at this attribute.
    let buffer_marker = match args.buffer {
        None => quote!(::core::default::Default::default()),
        Some(Buffer::PluginAllocated) => quote!(#krate::__private::BufferPluginAllocated),
        Some(Buffer::Arena) => quote!(#krate::__private::BufferArena),
    };
    let name_lit = c_lit(&plugin_name);
    let construct_body = match &args.config {
        None => quote! {
            let _ = cfg;
            #[allow(unused_imports)]
            use #krate::__private::{ViaDefault as _, ViaZst as _};
            ::core::result::Result::Ok((&&#krate::__private::MakeInstance::<#self_ty>::new()).make())
        },
        Some(cfg_ty) => quote! {
            let cfg: #cfg_ty = #krate::wire::deserialize(cfg).map_err(|e| {
                ::std::format!(
                    "the config did not decode as `{}`: {}",
                    ::core::any::type_name::<#cfg_ty>(),
                    e
                )
            })?;
            ::core::result::Result::Ok(<#self_ty>::configure(cfg))
        },
    };
    let trait_tokens = trait_path.to_token_stream();
    let wasm_mod = quote::format_ident!("__fidius_wasm_{}", plugin_name);
    Ok(quote! {
        #imp

        impl #krate::__private::PluginConstruct for #self_ty {
            fn __fidius_construct(cfg: &[u8]) -> ::core::result::Result<Self, ::std::string::String> {
                #construct_body
            }
        }

        // On wasm32 the interface's export macro (named like the trait) makes
        // this impl the component's export.
        #[cfg(target_family = "wasm")]
        #trait_tokens! { mod #wasm_mod; impl #self_ty; trait #trait_tokens; }

        #[cfg(not(target_family = "wasm"))]
        const _: () = {
            fn __fidius_descriptor() -> #krate::descriptor::PluginDescriptor {
                <#self_ty as #trait_tokens>::__fidius_descriptor(
                    #name_lit,
                    &[#(#implemented),*],
                    #buffer_marker,
                )
            }
            #krate::inventory::submit! {
                #krate::registry::DescriptorEntry::new(__fidius_descriptor)
            }
        };
    })
}
