//! WASM generators: the `<Trait>_WASM_DESCRIPTOR` / `<Trait>_PYTHON_DESCRIPTOR`
//! constants, and the export macro that makes an impl a component.
//!
//! `#[plugin_interface]` emits (on wasm targets only) a hidden
//! `#[macro_export] macro_rules!` named exactly like the trait: macros live
//! in their own namespace, so importing the trait imports it too, and
//! `#[plugin_impl(Trait)]` can invoke it as `Trait!`;
//! the expansion runs wit-bindgen on the interface's WIT world (inline) and
//! implements the generated `Guest` trait by forwarding to the impl, with
//! conversions between wit-bindgen's types and the user's.

use fidius_interface::ir::Interface;
use fidius_interface::names::{bindgen_camel, bindgen_snake};
use fidius_interface::source;
use fidius_interface::wit::{self, Conversions, FuncResult, World};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The `<Trait>_WASM_DESCRIPTOR` and `<Trait>_PYTHON_DESCRIPTOR` constants
/// (inside the companion module).
pub fn emit_descriptors(iface: &Interface) -> TokenStream {
    let krate = &iface.krate;
    let ident = &iface.ident;
    let wasm_c = format_ident!("{}_WASM_DESCRIPTOR", ident);
    let py_c = format_ident!("{}_PYTHON_DESCRIPTOR", ident);
    let name = ident.to_string();
    let kebab = fidius_interface::names::kebab(&name);
    let export = wit::export_name(&kebab);
    let hash = iface.hash;
    let wasm_methods = iface.methods.iter().map(|m| {
        let n = fidius_interface::names::kebab(&m.ident.to_string());
        let raw = m.raw;
        let streaming = m.stream_out.is_some();
        quote!(#krate::wasm_descriptor::WasmMethodDesc { name: #n, wire_raw: #raw, streaming: #streaming })
    });
    let py_methods = iface.methods.iter().map(|m| {
        let n = m.ident.to_string();
        let raw = m.raw;
        quote!(#krate::python_descriptor::PythonMethodDesc { name: #n, wire_raw: #raw })
    });
    let positions: Vec<TokenStream> = iface
        .methods
        .iter()
        .map(|m| match &m.stream_arg {
            Some((i, _)) => {
                let i = u8::try_from(*i).unwrap_or(u8::MAX);
                quote!(::core::option::Option::Some(#i))
            }
            None => quote!(::core::option::Option::None),
        })
        .collect();
    // Registered for every interface, so a host can tell "no method takes a
    // stream" from "this interface is unknown here".
    let stream_args = quote! {
        #[cfg(not(target_family = "wasm"))]
        #krate::inventory::submit! {
            #krate::python_descriptor::PythonStreamArgs {
                interface_name: #name,
                interface_hash: #hash,
                positions: &[#(#positions),*],
            }
        }
    };
    quote! {
        #stream_args
        /// How a host calls a WASM component plugin of this interface.
        pub const #wasm_c: #krate::wasm_descriptor::WasmInterfaceDescriptor =
            #krate::wasm_descriptor::WasmInterfaceDescriptor {
                interface_name: #name,
                interface_export: #export,
                interface_hash: #hash,
                methods: &[#(#wasm_methods),*],
            };
        /// How a host calls a Python plugin of this interface.
        pub const #py_c: #krate::python_descriptor::PythonInterfaceDescriptor =
            #krate::python_descriptor::PythonInterfaceDescriptor {
                interface_name: #name,
                interface_hash: #hash,
                methods: &[#(#py_methods),*],
            };
    }
}

/// The world of `iface`, reading the crate's source only when a signature
/// names a type that is not built in.
pub fn world_of(iface: &Interface) -> Result<World, Vec<syn::Error>> {
    match wit::build_world(iface, None) {
        Ok(w) => Ok(w),
        Err(first) => {
            let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
                return Err(first);
            };
            let Some(root) = source::crate_root(std::path::Path::new(&dir)) else {
                return Err(first);
            };
            match source::scan_crate(&root) {
                Ok(src) => wit::build_world(iface, Some(&src)),
                Err(_) => Err(first),
            }
        }
    }
}

/// Replaces a leading `crate` in the fidius path by `$crate` (for use inside
/// the exported macro) and renders it as a string for wit-bindgen's `runtime_path`.
fn krate_paths(krate: &syn::Path) -> (TokenStream, String) {
    let first = krate.segments.first().map(|s| s.ident.to_string());
    if first.as_deref() == Some("crate") {
        let rest = krate.segments.iter().skip(1).map(|s| &s.ident);
        (quote!($crate #(:: #rest)*), String::new())
    } else {
        let s = quote!(#krate).to_string().replace(' ', "");
        (quote!(#krate), format!("{s}::__wasm::wit_bindgen::rt"))
    }
}

/// The hidden export macro named like the trait.
pub fn emit_export_macro(iface: &Interface) -> TokenStream {
    let ident = &iface.ident;
    let body = match world_of(iface) {
        Ok(world) => glue(iface, &world),
        Err(errors) => {
            let msgs = errors.iter().map(|e| {
                let m = format!("fidius: `{ident}` cannot be served by a WASM component: {e}");
                quote!(::core::compile_error!(#m);)
            });
            quote!(#(#msgs)*)
        }
    };
    // Only on wasm targets: a macro-expanded `macro_export` may not be named
    // by path inside its own crate, and native builds never need it.
    quote! {
        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #ident {
            (mod $m:ident; impl $ty:ty; trait $tr:path;) => {
                #body
            };
        }
    }
}

fn glue(iface: &Interface, world: &World) -> TokenStream {
    let (krate, runtime_path) = krate_paths(&iface.krate);
    if runtime_path.is_empty() {
        let m = format!(
            "fidius: `{}` uses a crate-relative fidius path; WASM guests need an absolute one such as `crate = \"fidius\"`",
            iface.ident
        );
        return quote!(::core::compile_error!(#m););
    }
    let wit_text = world.render();
    let world_name = world.world_name();
    let snake = bindgen_snake(&world.iface);
    let snake_ident = format_ident!("{}", snake);
    let bindings = quote!(self::exports::fidius::#snake_ident::#snake_ident);
    let conv = Conversions {
        world,
        bindings: bindings.clone(),
        user_root: quote!($crate),
        krate: krate.clone(),
    };
    let functions = conv.functions();
    let hash = world.hash;
    let methods = world.funcs.iter().map(|f| {
        let name = format_ident!("{}", bindgen_snake(&f.wit));
        let rust = &f.rust;
        let params: Vec<_> = f
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = format_ident!("__p{}", i);
                let ty = conv.binding_type(&p.ty);
                quote!(#id: #ty)
            })
            .collect();
        let method = iface.methods.iter().find(|m| m.index == f.index);
        let mut args: Vec<TokenStream> = f
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = format_ident!("__p{}", i);
                let v = conv.to_user(quote!(#id), &p.ty);
                if matches!(p.rust_ty, syn::Type::Reference(_)) {
                    quote!(&#v)
                } else {
                    v
                }
            })
            .collect();
        // A client stream is no WIT parameter: its items come through the
        // `fidius:stream-pull` import, at the position the trait declares.
        if let Some((pos, item)) = method.and_then(|m| m.stream_arg.as_ref()) {
            let pull = quote!(#krate::__wasm::host_stream::<#item>());
            args.insert((*pos).min(args.len()), pull);
        }
        let is_async = method.is_some_and(|m| m.is_async);
        let mut call = quote!(<__FidiusImpl as $tr>::#rust(__fidius_instance(), #(#args),*));
        if is_async {
            call = quote!(#krate::__private::block_on(#call));
        }
        let (ret, body) = match &f.result {
            FuncResult::None => (quote!(), quote!({ let _ = #call; })),
            FuncResult::Plain(t) => {
                let bt = conv.binding_type(t);
                let v = conv.to_binding(quote!(__r), t);
                (quote!(-> #bt), quote!({ let __r = #call; #v }))
            }
            FuncResult::Result(ok) => {
                let pe = conv.binding_type(&wit::WitType::PluginError);
                let (okt, okv) = match ok {
                    Some(t) => (conv.binding_type(t), conv.to_binding(quote!(__v), t)),
                    None => (quote!(()), quote!(__v)),
                };
                let err = conv.to_binding(quote!(__e), &wit::WitType::PluginError);
                (
                    quote!(-> ::core::result::Result<#okt, #pe>),
                    quote!({
                        match #call {
                            ::core::result::Result::Ok(__v) => ::core::result::Result::Ok(#okv),
                            ::core::result::Result::Err(__e) => ::core::result::Result::Err(#err),
                        }
                    }),
                )
            }
            FuncResult::Stream(_) => {
                let camel = format_ident!("{}", bindgen_camel(&format!("{}-stream", f.wit)));
                let holder = format_ident!("__FidiusStream_{}", rust);
                (
                    quote!(-> #bindings::#camel),
                    quote!({
                        let __r = #call;
                        #bindings::#camel::new(#holder(::core::cell::RefCell::new(__r)))
                    }),
                )
            }
        };
        quote! {
            #[allow(unused_braces)]
            fn #name(#(#params),*) #ret #body
        }
    });
    let mut holders = Vec::new();
    let mut assoc = Vec::new();
    for f in &world.funcs {
        let FuncResult::Stream(item) = &f.result else {
            continue;
        };
        let Some(m) = iface.methods.iter().find(|m| m.index == f.index) else {
            continue;
        };
        let Some(rust_item) = &m.stream_out else {
            continue;
        };
        let camel = format_ident!("{}", bindgen_camel(&format!("{}-stream", f.wit)));
        let guest_trait = format_ident!("Guest{}", camel);
        let holder = format_ident!("__FidiusStream_{}", f.rust);
        let bt = conv.binding_type(item);
        let pe = conv.binding_type(&wit::WitType::PluginError);
        let okv = conv.to_binding(quote!(__v), item);
        let err = conv.to_binding(quote!(__e), &wit::WitType::PluginError);
        holders.push(quote! {
            /// The `<m>-stream` resource of a server-streaming method: the
            /// plugin's stream, advanced one item per `next` (dropping the
            /// resource drops the stream, so its cleanup runs).
            pub struct #holder(::core::cell::RefCell<#krate::Stream<#rust_item>>);

            impl #bindings::#guest_trait for #holder {
                fn next(&self) -> ::core::result::Result<::core::option::Option<#bt>, #pe> {
                    let __step = self.0.borrow_mut().next_result();
                    match __step {
                        ::core::option::Option::None => ::core::result::Result::Ok(::core::option::Option::None),
                        ::core::option::Option::Some(::core::result::Result::Ok(__v)) => {
                            ::core::result::Result::Ok(::core::option::Option::Some(#okv))
                        }
                        ::core::option::Option::Some(::core::result::Result::Err(__e)) => {
                            ::core::result::Result::Err(#err)
                        }
                    }
                }
            }
        });
        assoc.push(quote!(type #camel = #holder;));
    }
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, non_camel_case_types, dead_code, unused_imports, unused_braces, clippy::all)]
        mod $m {
            use super::*;

            #krate::__wasm::wit_bindgen::generate!({
                inline: #wit_text,
                world: #world_name,
                runtime_path: #runtime_path,
                generate_all,
            });

            type __FidiusImpl = $ty;

            static __FIDIUS_INSTANCE: ::std::sync::OnceLock<__FidiusImpl> = ::std::sync::OnceLock::new();

            fn __fidius_instance() -> &'static __FidiusImpl {
                __FIDIUS_INSTANCE.get_or_init(|| {
                    match <__FidiusImpl as #krate::__private::PluginConstruct>::__fidius_construct(&[]) {
                        ::core::result::Result::Ok(v) => v,
                        ::core::result::Result::Err(e) => ::core::panic!(
                            "fidius: plugin method called before configure() ({})", e
                        ),
                    }
                })
            }

            #functions

            #(#holders)*

            pub struct __FidiusGlue;

            impl #bindings::Guest for __FidiusGlue {
                #(#assoc)*
                #(#methods)*

                fn fidius_interface_hash() -> u64 {
                    #hash
                }

                fn fidius_configure(config: ::std::vec::Vec<u8>) {
                    let value = match <__FidiusImpl as #krate::__private::PluginConstruct>::__fidius_construct(&config) {
                        ::core::result::Result::Ok(v) => v,
                        ::core::result::Result::Err(e) => ::core::panic!("fidius: configure failed: {}", e),
                    };
                    if __FIDIUS_INSTANCE.set(value).is_err() {
                        ::core::panic!("fidius: configure() called after the instance was created");
                    }
                }
            }

            export!(__FidiusGlue with_types_in self);
        }
    }
}
