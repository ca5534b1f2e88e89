//! Procedural macros of fidius: `#[plugin_interface]` turns a trait into an
//! ABI contract (vtable, hash, shims, typed host client) and `#[plugin_impl]`
//! registers an implementation of it as a plugin.
//!
//! A trait is parsed once into an IR (`ir.rs`); generators for the interface
//! (`interface.rs`), the host client (`client.rs`) and the impl (`impl_gen.rs`)
//! work from that IR.

#![warn(missing_docs)]

use proc_macro::TokenStream;

mod client;
mod host_iface;
mod impl_gen;
mod interface;
mod wasm;

/// Declares a plugin interface.
///
/// `#[plugin_interface(version = N, buffer = PluginAllocated | Arena [, crate = "path"])]`
/// on a `Send + Sync` trait generates the companion module `__fidius_<Trait>`
/// (vtable type, interface hash, capability bits, method indices, shims) and,
/// with the interface crate's `host` feature, a typed `<Trait>Client`.
#[proc_macro_attribute]
pub fn plugin_interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    interface::expand(attr.into(), item.into()).into()
}

/// Registers an impl block as a plugin.
///
/// `#[plugin_impl(Trait [, buffer = …] [, crate = "path"] [, config = C])]`
/// on `impl Trait for Type { … }`.
#[proc_macro_attribute]
pub fn plugin_impl(attr: TokenStream, item: TokenStream) -> TokenStream {
    impl_gen::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a host interface: a trait the host implements and plugins call.
///
/// `#[host_interface(version = N [, crate = "path"])]` on a `Send + Sync`
/// trait generates `<Trait>Client` (plugin side: `bound()`, one method per
/// function) and `<Trait>Binding` (host side: `bind`, `bind_plugin`,
/// `bind_in_process`), gated by a version and signature-hash check at bind time.
#[proc_macro_attribute]
pub fn host_interface(attr: TokenStream, item: TokenStream) -> TokenStream {
    host_iface::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

macro_rules! inert_helper {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[proc_macro_attribute]
        pub fn $name(_attr: TokenStream, item: TokenStream) -> TokenStream {
            let mut out: TokenStream = syn::Error::new(
                proc_macro2::Span::call_site(),
                concat!(
                    "#[",
                    stringify!($name),
                    "] only has meaning inside a #[plugin_interface] trait; ",
                    "place it on a method (or, for trait_meta, after #[plugin_interface])"
                ),
            )
            .into_compile_error()
            .into();
            out.extend(item);
            out
        }
    };
}

inert_helper!(
    method_meta,
    "Method metadata `#[method_meta(\"key\", \"value\")]` (inside `#[plugin_interface]`)."
);
inert_helper!(
    trait_meta,
    "Trait metadata `#[trait_meta(\"key\", \"value\")]` (after `#[plugin_interface]`)."
);
inert_helper!(
    optional,
    "Marks an optional method `#[optional(since = N)]` (inside `#[plugin_interface]`)."
);
inert_helper!(
    wire,
    "Raw wire mode `#[wire(raw)]` (inside `#[plugin_interface]`)."
);

/// Marks a user type that crosses a WASM boundary (fidius 0.5 source
/// compatibility). The WIT of a type is found from its definition in the
/// interface crate's source, so the derive itself generates nothing.
#[proc_macro_derive(WitType, attributes(wit))]
pub fn derive_wit_type(_item: TokenStream) -> TokenStream {
    TokenStream::new()
}
