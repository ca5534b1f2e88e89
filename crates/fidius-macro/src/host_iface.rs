//! Generator for `#[host_interface]`: a trait the *host* implements and
//! plugins call back into. Emits the companion module (hash, indices, the
//! plugin-side bind cell and import, the host-side dispatch and table
//! builder), a plugin-side `<Trait>Client` and a host-side `<Trait>Binding`.

use fidius_interface::attrs::default_crate;
use fidius_interface::ir::type_string;
use fidius_interface::types;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemTrait, LitInt, LitStr, Pat, ReturnType, TraitItem, Type, TypeParamBound};

struct HostMethod {
    ident: syn::Ident,
    args: Vec<(syn::Ident, Type)>,
    /// Success type (None = unit), and whether the method returns `Result<_, PluginError>`.
    ok: Option<Type>,
    fallible: bool,
    ret_string: String,
}

fn has_bound(item: &ItemTrait, name: &str) -> bool {
    item.supertraits.iter().any(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == name),
        _ => false,
    })
}

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut version = None;
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("version") {
            version = Some(meta.value()?.parse::<LitInt>()?.base10_parse::<u32>()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse()?;
            krate = Some(lit.parse_with(syn::Path::parse_mod_style)?);
            Ok(())
        } else {
            Err(meta.error("unknown attribute, expected `version` or `crate`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let version = version.ok_or_else(|| {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            "missing `version`: write #[host_interface(version = 1)]",
        )
    })?;
    let krate = krate.unwrap_or_else(default_crate);
    let item: ItemTrait = syn::parse2(item)
        .map_err(|e| syn::Error::new(e.span(), "#[host_interface] must be placed on a trait"))?;
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "host interfaces cannot be generic",
        ));
    }
    if !has_bound(&item, "Send") || !has_bound(&item, "Sync") {
        return Err(syn::Error::new(
            item.ident.span(),
            "host interfaces are called from any plugin thread: declare `pub trait T: Send + Sync`",
        ));
    }
    let mut methods = Vec::new();
    for ti in &item.items {
        let TraitItem::Fn(f) = ti else {
            return Err(syn::Error::new(
                ti.span(),
                "host interfaces may only contain methods",
            ));
        };
        if let Some(a) = f.attrs.iter().find(|a| {
            a.path().segments.last().is_some_and(|s| {
                matches!(
                    s.ident.to_string().as_str(),
                    "optional" | "wire" | "method_meta"
                )
            })
        }) {
            return Err(syn::Error::new(
                a.span(),
                "#[optional], #[wire] and #[method_meta] are not supported on host interfaces",
            ));
        }
        let sig = &f.sig;
        if sig.asyncness.is_some() {
            return Err(syn::Error::new(sig.span(), "host functions are synchronous: remove `async` (bridge with a runtime handle's block_on in the host)"));
        }
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new(
                sig.generics.span(),
                "host functions cannot be generic",
            ));
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            _ => {
                return Err(syn::Error::new(
                    sig.span(),
                    "host functions must take `&self`",
                ))
            }
        }
        let mut args = Vec::new();
        for (i, input) in inputs.enumerate() {
            let FnArg::Typed(pt) = input else {
                unreachable!()
            };
            if matches!(&*pt.ty, Type::Reference(_)) {
                return Err(syn::Error::new(
                    pt.ty.span(),
                    "host function arguments must be owned (e.g. `String`, not `&str`)",
                ));
            }
            if types::stream_item(&pt.ty).is_some() {
                return Err(syn::Error::new(
                    pt.ty.span(),
                    "host functions cannot take streams",
                ));
            }
            let id = match &*pt.pat {
                Pat::Ident(p) => p.ident.clone(),
                _ => format_ident!("arg{}", i),
            };
            args.push((id, (*pt.ty).clone()));
        }
        let (ok, fallible, ret_string) = match &sig.output {
            ReturnType::Default => (None, false, String::new()),
            ReturnType::Type(_, ty) => {
                if types::stream_item(ty).is_some() {
                    return Err(syn::Error::new(
                        ty.span(),
                        "host functions cannot return streams",
                    ));
                }
                match types::result_parts(ty) {
                    Some((okt, err)) => {
                        let is_pe = matches!(err, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "PluginError"));
                        if !is_pe {
                            return Err(syn::Error::new(
                                err.span(),
                                "fallible host functions return `Result<T, PluginError>`",
                            ));
                        }
                        (Some(okt.clone()), true, type_string(ty))
                    }
                    None => (Some((**ty).clone()), false, type_string(ty)),
                }
            }
        };
        methods.push(HostMethod {
            ident: sig.ident.clone(),
            args,
            ok,
            fallible,
            ret_string,
        });
    }
    if methods.is_empty() {
        return Err(syn::Error::new(
            item.ident.span(),
            "a host interface needs at least one method",
        ));
    }
    let sigs: Vec<String> = methods
        .iter()
        .map(|m| {
            let args: Vec<String> = m.args.iter().map(|(_, t)| type_string(t)).collect();
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            fidius_core::hash::signature_string(
                &m.ident.to_string(),
                &refs,
                &m.ret_string,
                false,
                false,
                false,
            )
        })
        .collect();
    let refs: Vec<&str> = sigs.iter().map(String::as_str).collect();
    let hash = fidius_core::hash::interface_hash(&refs);
    Ok(emit(&item, &krate, version, hash, &methods))
}

fn emit(
    item: &ItemTrait,
    krate: &syn::Path,
    version: u32,
    hash: u64,
    methods: &[HostMethod],
) -> TokenStream {
    let ident = &item.ident;
    let vis = &item.vis;
    let module = format_ident!("__fidius_host_{}", ident);
    let hash_c = format_ident!("{}_HOST_INTERFACE_HASH", ident);
    let version_c = format_ident!("{}_HOST_INTERFACE_VERSION", ident);
    let count_c = format_ident!("{}_HOST_FN_COUNT", ident);
    let client = format_ident!("{}Client", ident);
    let binding = format_ident!("{}Binding", ident);
    let count = methods.len() as u32;
    let name_lit = crate::interface::c_lit(&ident.to_string());
    let name_str = ident.to_string();
    let p = quote!(#krate::__private);
    let hf = quote!(#krate::host_ffi);
    let indices = methods.iter().enumerate().map(|(i, m)| {
        let c = format_ident!("HOST_FN_{}", m.ident.to_string().to_uppercase());
        let i = i as u32;
        quote!(#[doc = "Dispatch index."] pub const #c: u32 = #i;)
    });
    let arms = methods.iter().enumerate().map(|(i, m)| {
        let i = i as u32;
        let name = &m.ident;
        let binds: Vec<syn::Ident> = (0..m.args.len()).map(|k| format_ident!("__a{}", k)).collect();
        let wires: Vec<types::ArgWire> = m.args.iter().zip(&binds).map(|((_, t), b)| types::arg_wire(t, krate, b)).collect();
        let dtys = wires.iter().map(|w| &w.decode_ty);
        let calls = wires.iter().map(|w| &w.to_call);
        let output = match (&m.ok, m.fallible) {
            (Some(t), true) => {
                let enc = types::ret_wire(t, krate).encode;
                quote! {
                    match __r {
                        ::core::result::Result::Ok(v) => ::core::result::Result::Ok(#p::Reply::Ok(#p::Encode(#enc))),
                        ::core::result::Result::Err(e) => ::core::result::Result::Ok(#p::Reply::Err(#p::Encode(e))),
                    }
                }
            }
            (Some(t), false) => {
                let enc = types::ret_wire(t, krate).encode;
                quote!({ let v = __r; ::core::result::Result::Ok(#p::Reply::<_, #p::NoError>::Ok(#p::Encode(#enc))) })
            }
            (None, _) => quote!({ let () = __r; ::core::result::Result::Ok(#p::Reply::<_, #p::NoError>::Ok(#p::Encode(()))) }),
        };
        quote! {
            #i => unsafe {
                // SAFETY: the plugin upholds the dispatch contract for these pointers.
                #p::run_plugin_allocated(in_ptr, in_len, out_ptr, out_len, |__input: &[u8]| {
                    let (#(#binds,)*): (#(#dtys,)*) = match #krate::wire::deserialize(__input) {
                        ::core::result::Result::Ok(v) => v,
                        ::core::result::Result::Err(_) => return ::core::result::Result::Err(#krate::status::STATUS_SERIALIZATION_ERROR),
                    };
                    let __r = __imp.#name(#(#calls),*);
                    #output
                })
            },
        }
    });
    let client_methods = methods.iter().enumerate().map(|(i, m)| {
        let i = i as u32;
        let name = &m.ident;
        let params = m.args.iter().map(|(id, t)| {
            let ty = types::arg_wire(t, krate, id).client_ty;
            quote!(#id: #ty)
        });
        let encodes = m.args.iter().map(|(id, t)| types::arg_wire(t, krate, id).encode);
        let (ret_ty, decode_ty, from) = match &m.ok {
            None => (quote!(()), quote!(()), quote!(v)),
            Some(t) => {
                let w = types::ret_wire(t, krate);
                (quote!(#t), w.decode_ty, w.from_decoded)
            }
        };
        let doc = format!("Calls the host's `{ident}::{name}`.");
        quote! {
            #[doc = #doc]
            pub fn #name(&self, #(#params),*) -> ::core::result::Result<#ret_ty, #hf::HostCallError> {
                let args = #krate::wire::serialize(&(#(#encodes,)*))
                    .map_err(|e| #hf::HostCallError::Serialization(e.to_string()))?;
                // SAFETY: the table was bound through this library's
                // `__fidius_host_bind`, which checked it, and lives for ever.
                #[cfg(not(target_family = "wasm"))]
                let v: #decode_ty = unsafe { #hf::call_host(self.table, #i, &args) }?;
                // On a WASM guest the call goes through the `fidius:host-call`
                // import; the host checks name, version and hash every time.
                #[cfg(target_family = "wasm")]
                let v: #decode_ty = #krate::__wasm::call_decoded(
                    #name_str, #module::#version_c, #module::#hash_c, #i, &args,
                )?;
                ::core::result::Result::Ok(#from)
            }
        }
    });
    let mod_doc = format!("ABI companion of host interface [`{ident}`](super::{ident}).");
    let client_doc = format!(
        "Plugin-side client of host interface [`{ident}`]: calls the functions the host bound."
    );
    let binding_doc =
        format!("Host-side binding of [`{ident}`]: hands an implementation to plugins.");
    quote! {
        #item

        #[doc = #mod_doc]
        #[allow(non_snake_case, non_upper_case_globals, dead_code, clippy::all)]
        #vis mod #module {
            use super::*;

            /// Host interface hash (all methods).
            pub const #hash_c: u64 = #hash;
            /// Host interface version.
            pub const #version_c: u32 = #version;
            /// Number of host functions.
            pub const #count_c: u32 = #count;
            /// The interface name.
            pub const __FIDIUS_HOST_IFACE_NAME: &::core::ffi::CStr = #name_lit;
            #(#indices)*

            #[cfg(not(target_family = "wasm"))]
            /// This library's binding of the interface (bound once).
            pub static __FIDIUS_HOST_TABLE: #hf::HostTableCell = #hf::HostTableCell::new();

            #[cfg(not(target_family = "wasm"))]
            /// Binds a host's table after checking it (exported as this library's import).
            ///
            /// # Safety
            /// `table` must be null or a valid host function table that lives forever.
            pub unsafe extern "C" fn __fidius_host_bind(table: *const #hf::HostFunctionTable) -> i32 {
                // SAFETY: forwarded caller contract.
                unsafe { #hf::bind_checked(&__FIDIUS_HOST_TABLE, table, #hash_c, #version_c, #count_c) }
            }

            #[cfg(not(target_family = "wasm"))]
            const _: () = {
                fn __build() -> #hf::HostImportDescriptor {
                    #hf::HostImportDescriptor {
                        descriptor_size: ::core::mem::size_of::<#hf::HostImportDescriptor>() as u32,
                        abi_version: #krate::descriptor::ABI_VERSION,
                        interface_name: __FIDIUS_HOST_IFACE_NAME.as_ptr(),
                        interface_hash: #hash_c,
                        interface_version: #version_c,
                        bind: __fidius_host_bind,
                    }
                }
                #krate::inventory::submit! { #hf::HostImportEntry::new(__build) }
            };

            #[cfg(not(target_family = "wasm"))]
            /// Host side: runs host function `index` on the implementation in `ctx`.
            ///
            /// # Safety
            /// `ctx` must come from `__fidius_build_host_table`; pointers follow the dispatch contract.
            pub unsafe extern "C" fn __fidius_host_dispatch(
                ctx: *mut #p::c_void,
                index: u32,
                in_ptr: *const u8,
                in_len: u32,
                out_ptr: *mut *mut u8,
                out_len: *mut u32,
            ) -> i32 {
                let _depth = #hf::CallbackDepthGuard::enter();
                if ctx.is_null() {
                    return #krate::status::STATUS_SERIALIZATION_ERROR;
                }
                // SAFETY: `ctx` is the leaked `Box<Arc<dyn Trait>>` of the table builder.
                let __imp: &::std::sync::Arc<dyn super::#ident> =
                    unsafe { &*(ctx as *const ::std::sync::Arc<dyn super::#ident>) };
                match index {
                    #(#arms)*
                    _ => #krate::status::STATUS_INVALID_INDEX,
                }
            }

            #[cfg(not(target_family = "wasm"))]
            /// Host side: a table over `imp` (leaked: tables live for the process).
            pub fn __fidius_build_host_table(
                imp: ::std::sync::Arc<dyn super::#ident>,
            ) -> *const #hf::HostFunctionTable {
                let ctx = ::std::boxed::Box::into_raw(::std::boxed::Box::new(imp)) as *mut #p::c_void;
                ::std::boxed::Box::leak(::std::boxed::Box::new(#hf::HostFunctionTable {
                    table_size: ::core::mem::size_of::<#hf::HostFunctionTable>() as u32,
                    abi_version: #krate::descriptor::ABI_VERSION,
                    interface_name: __FIDIUS_HOST_IFACE_NAME.as_ptr(),
                    interface_hash: #hash_c,
                    interface_version: #version_c,
                    fn_count: #count_c,
                    ctx,
                    dispatch: __fidius_host_dispatch,
                    free_buffer: #p::free_buffer,
                }))
            }

            #[cfg(not(target_family = "wasm"))]
            /// Host side: frees a table of `__fidius_build_host_table` with its context.
            ///
            /// # Safety
            /// `table` must come from `__fidius_build_host_table`, be held by no
            /// plugin, and be freed only once.
            pub unsafe fn __fidius_free_host_table(table: *const #hf::HostFunctionTable) {
                if table.is_null() {
                    return;
                }
                // SAFETY: per the contract, the builder's leaked box, owned by nobody else.
                let table = unsafe { ::std::boxed::Box::from_raw(table as *mut #hf::HostFunctionTable) };
                if !table.ctx.is_null() {
                    // SAFETY: the builder's context is a leaked `Box<Arc<dyn Trait>>`.
                    drop(unsafe {
                        ::std::boxed::Box::from_raw(table.ctx as *mut ::std::sync::Arc<dyn super::#ident>)
                    });
                }
            }
        }

        #[doc = #client_doc]
        #[derive(Debug, Clone, Copy)]
        #vis struct #client {
            #[cfg(not(target_family = "wasm"))]
            table: &'static #hf::HostFunctionTable,
            #[cfg(target_family = "wasm")]
            _probed: (),
        }

        #[allow(clippy::all)]
        impl #client {
            /// The client, if the host bound the interface in this library
            /// (on a WASM guest: if the host bound it with this version and
            /// hash, asked through the `fidius:host-call` import).
            #[cfg(target_family = "wasm")]
            pub fn bound() -> ::core::result::Result<Self, #hf::HostCallError> {
                #krate::__wasm::probe(#name_str, #module::#version_c, #module::#hash_c)
                    .map(|()| Self { _probed: () })
            }

            /// Whether the host bound the interface (with this version and hash).
            #[cfg(target_family = "wasm")]
            pub fn is_bound() -> bool {
                Self::bound().is_ok()
            }

            /// The client, if the host bound the interface in this library.
            #[cfg(not(target_family = "wasm"))]
            pub fn bound() -> ::core::result::Result<Self, #hf::HostCallError> {
                match #module::__FIDIUS_HOST_TABLE.get() {
                    ::core::option::Option::Some(table) => ::core::result::Result::Ok(Self { table }),
                    ::core::option::Option::None => ::core::result::Result::Err(#hf::HostCallError::NotBound {
                        interface: ::std::string::String::from(#name_str),
                    }),
                }
            }

            /// Whether the host bound the interface in this library.
            #[cfg(not(target_family = "wasm"))]
            pub fn is_bound() -> bool {
                #module::__FIDIUS_HOST_TABLE.get().is_some()
            }

            #(#client_methods)*
        }

        #[doc = #binding_doc]
        #[derive(Debug, Clone, Copy)]
        #vis struct #binding;

        #[cfg(not(target_family = "wasm"))]
        #[allow(clippy::all)]
        impl #binding {
            /// Interface hash.
            pub const INTERFACE_HASH: u64 = #module::#hash_c;
            /// Interface version.
            pub const INTERFACE_VERSION: u32 = #module::#version_c;
            /// Interface name.
            pub const INTERFACE_NAME: &'static str = #name_str;

            /// A function table over `imp` (leaked: it lives for the process).
            pub fn table(imp: ::std::sync::Arc<dyn #ident>) -> *const #hf::HostFunctionTable {
                #module::__fidius_build_host_table(imp)
            }

            /// A function table over `imp` that is freed again (with `imp`'s
            /// reference) if the plugin refuses it.
            pub fn owned_table(imp: ::std::sync::Arc<dyn #ident>) -> #hf::HostTable {
                #hf::HostTable {
                    table: #module::__fidius_build_host_table(imp),
                    free: ::core::option::Option::Some(#module::__fidius_free_host_table),
                }
            }

            /// Binds `imp` for plugins linked into this process.
            pub fn bind_in_process(imp: ::std::sync::Arc<dyn #ident>) -> ::core::result::Result<(), #hf::HostBindError> {
                let table = Self::owned_table(imp);
                // SAFETY: a valid table, kept for ever once bound.
                let code = unsafe { #module::__fidius_host_bind(table.table) };
                if code != #hf::BIND_OK {
                    // SAFETY: refused, so nobody holds it.
                    unsafe { table.release() };
                }
                #hf::bind_status_to_result(#name_str, code)
            }

            /// Binds `imp` in a loaded library (checks the library's import:
            /// ABI, version, hash). `Ok(false)` if the library does not import it.
            #[cfg(feature = "host")]
            pub fn bind(
                library: &#krate::LoadedLibrary,
                imp: ::std::sync::Arc<dyn #ident>,
            ) -> ::core::result::Result<bool, #krate::LoadError> {
                // SAFETY: `owned_table` frees exactly what it built.
                unsafe {
                    #krate::host_import::bind_host_interface_owned(
                        &library.library, #name_str, Self::INTERFACE_HASH, Self::INTERFACE_VERSION, || Self::owned_table(imp),
                    )
                }
            }

            /// Binds `imp` for a loaded plugin, whichever backend runs it (a
            /// cdylib's library, or the child of a process-isolated plugin,
            /// whose calls come back to `imp`). `Ok(false)` if the plugin
            /// does not import the interface.
            #[cfg(feature = "host")]
            pub fn bind_handle(
                handle: &#krate::PluginHandle,
                imp: ::std::sync::Arc<dyn #ident>,
            ) -> ::core::result::Result<bool, #krate::LoadError> {
                // SAFETY: `owned_table` builds a valid table and frees exactly that.
                unsafe {
                    handle.bind_host_interface_owned(
                        #name_str, Self::INTERFACE_HASH, Self::INTERFACE_VERSION, || Self::owned_table(imp),
                    )
                }
            }

            /// fidius 0.5 API: binds `imp` for a WASM component plugin (the
            /// guest's calls through `fidius:host-call` reach `imp`); the
            /// same as [`Self::bind_handle`] for any backend.
            #[cfg(feature = "host")]
            pub fn bind_wasm(
                handle: &#krate::PluginHandle,
                imp: ::std::sync::Arc<dyn #ident>,
            ) -> ::core::result::Result<(), #krate::LoadError> {
                Self::bind_handle(handle, imp).map(|_| ())
            }

            /// [`Self::bind`] for the library of a loaded plugin.
            #[cfg(feature = "host")]
            pub fn bind_plugin(
                plugin: &#krate::LoadedPlugin,
                imp: ::std::sync::Arc<dyn #ident>,
            ) -> ::core::result::Result<bool, #krate::LoadError> {
                // SAFETY: `owned_table` frees exactly what it built.
                unsafe {
                    #krate::host_import::bind_host_interface_owned(
                        &plugin.library, #name_str, Self::INTERFACE_HASH, Self::INTERFACE_VERSION, || Self::owned_table(imp),
                    )
                }
            }
        }
    }
}
