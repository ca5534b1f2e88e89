//! Generator for `#[plugin_interface]`: the cleaned trait with its hidden
//! descriptor hook, and the `__fidius_<Trait>` companion module (vtable,
//! constants, generic shims, descriptor builder).

use fidius_interface::attrs::{Buffer, InterfaceArgs};
use fidius_interface::ir::{Interface, Method, Ret};
use fidius_interface::types;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::ffi::CString;
use syn::ItemTrait;

/// Expands `#[plugin_interface]`. On errors it reports every one (attribute
/// and per-method problems together) and still emits the trait itself, with
/// the helper attributes removed, so that one mistake does not cascade into
/// "trait not found" errors wherever the trait is used.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let trait_item: ItemTrait = match syn::parse2(item.clone()) {
        Ok(t) => t,
        Err(e) => {
            let err = syn::Error::new(e.span(), "#[plugin_interface] must be placed on a trait")
                .into_compile_error();
            return quote!(#err #item);
        }
    };
    let (args, args_err) = match InterfaceArgs::parse(attr) {
        Ok(a) => (a, None),
        Err(e) => (
            InterfaceArgs {
                version: 0,
                buffer: Buffer::PluginAllocated,
                krate: fidius_interface::attrs::default_crate(),
            },
            Some(e),
        ),
    };
    match (Interface::parse(args, trait_item.clone()), args_err) {
        (Ok(iface), None) => expand_valid(&iface),
        (result, args_err) => {
            let mut errors = args_err;
            if let Err(e) = result {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
            let errors = errors.map(syn::Error::into_compile_error);
            let fallback = strip_helpers(trait_item);
            quote!(#errors #fallback)
        }
    }
}

/// The trait without fidius' helper attributes (the fallback expansion).
fn strip_helpers(mut item: ItemTrait) -> ItemTrait {
    let helper = |a: &syn::Attribute| {
        a.path().segments.last().is_some_and(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "optional" | "method_meta" | "trait_meta" | "wire"
            )
        })
    };
    item.attrs.retain(|a| !helper(a));
    item.attrs
        .push(syn::parse_quote!(#[allow(async_fn_in_trait)]));
    for ti in item.items.iter_mut() {
        if let syn::TraitItem::Fn(f) = ti {
            f.attrs.retain(|a| !helper(a));
        }
    }
    item
}

fn expand_valid(iface: &Interface) -> TokenStream {
    let trait_tokens = emit_trait(iface);
    let module = emit_module(iface);
    let client = crate::client::emit(iface);
    let wasm_export = crate::wasm::emit_export_macro(iface);
    quote! {
        #trait_tokens
        #module
        #client
        #wasm_export
    }
}

/// A `c"..."` literal for `s` (checked NUL-free by the IR).
pub fn c_lit(s: &str) -> Literal {
    Literal::c_string(&CString::new(s).expect("NUL-free string"))
}

pub fn module_ident(iface: &Interface) -> syn::Ident {
    format_ident!("__fidius_{}", iface.ident)
}

fn emit_trait(iface: &Interface) -> TokenStream {
    let mut item = iface.item.clone();
    let krate = &iface.krate;
    let module = module_ident(iface);
    let marker = match iface.buffer {
        Buffer::PluginAllocated => quote!(#krate::__private::BufferPluginAllocated),
        Buffer::Arena => quote!(#krate::__private::BufferArena),
    };
    let hook: syn::TraitItem = syn::parse_quote! {
        #[doc(hidden)]
        fn __fidius_descriptor(
            plugin_name: &'static ::core::ffi::CStr,
            implemented: &[&str],
            buffer: #marker,
        ) -> #krate::descriptor::PluginDescriptor
        where
            Self: Sized + #krate::__private::PluginConstruct,
        {
            let _ = buffer;
            #module::__fidius_build_descriptor::<Self>(plugin_name, implemented)
        }
    };
    item.items.push(hook);
    // Async methods are driven to completion on the calling thread by the
    // shim, so their futures need not be `Send`.
    item.attrs
        .push(syn::parse_quote!(#[allow(async_fn_in_trait)]));
    quote!(#item)
}

fn shim_ident(m: &Method) -> syn::Ident {
    format_ident!("__fidius_shim_{}", m.ident)
}

fn emit_shim(iface: &Interface, m: &Method) -> TokenStream {
    let krate = &iface.krate;
    let trait_ident = &iface.ident;
    let name = &m.ident;
    let shim = shim_ident(m);
    let name_str = name.to_string();
    let ser_err = quote!(#krate::status::STATUS_SERIALIZATION_ERROR);

    // Decode the arguments.
    let (decode, call_args) = if m.raw {
        (
            quote!(let __fidius_raw = #krate::__private::raw_arg(__fidius_input);),
            vec![quote!(__fidius_raw)],
        )
    } else {
        let stream_pos = m.stream_arg.as_ref().map(|(i, _)| *i);
        let binds: Vec<syn::Ident> = (0..m.args.len())
            .filter(|i| Some(*i) != stream_pos)
            .map(|i| format_ident!("__fidius_a{}", i))
            .collect();
        let wires: Vec<types::ArgWire> = m
            .args
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != stream_pos)
            .zip(&binds)
            .map(|((_, a), b)| types::arg_wire(&a.ty, krate, b))
            .collect();
        let decode_tys = wires.iter().map(|w| &w.decode_ty);
        let mut call_args: Vec<TokenStream> = wires.iter().map(|w| w.to_call.clone()).collect();
        if let Some(pos) = stream_pos {
            call_args.insert(pos, quote!(__fidius_stream));
        }
        (
            quote! {
                let (#(#binds,)*): (#(#decode_tys,)*) =
                    match #krate::wire::deserialize(__fidius_input) {
                        ::core::result::Result::Ok(v) => v,
                        ::core::result::Result::Err(_) => return ::core::result::Result::Err(#ser_err),
                    };
            },
            call_args,
        )
    };
    let call = if m.is_async {
        quote!(#krate::__private::block_on(__fidius_this.#name(#(#call_args),*)))
    } else {
        quote!(__fidius_this.#name(#(#call_args),*))
    };
    let p = quote!(#krate::__private);
    let produces_stream = m.stream_out.is_some();
    let output = match (&m.ret, m.raw) {
        _ if m.stream_out.as_ref().is_some_and(types::is_vec_u8) => {
            quote!(::core::result::Result::Ok(#p::stream_output_bytes(__fidius_ret)))
        }
        _ if produces_stream => quote!(::core::result::Result::Ok(#p::stream_output(__fidius_ret))),
        (Ret::Result { .. }, true) => quote! {
            match __fidius_ret {
                ::core::result::Result::Ok(v) => ::core::result::Result::Ok(#p::Reply::Ok(#p::Raw(v))),
                ::core::result::Result::Err(e) => ::core::result::Result::Ok(#p::Reply::Err(#p::Encode(e))),
            }
        },
        (_, true) => {
            quote!(::core::result::Result::Ok(#p::Reply::<_, #p::NoError>::Ok(#p::Raw(__fidius_ret))))
        }
        (Ret::Result { ok: ok_ty, .. }, false) => {
            let enc = types::ret_wire(ok_ty, krate).encode;
            quote! {
                match __fidius_ret {
                    ::core::result::Result::Ok(v) => ::core::result::Result::Ok(#p::Reply::Ok(#p::Encode(#enc))),
                    ::core::result::Result::Err(e) => ::core::result::Result::Ok(#p::Reply::Err(#p::Encode(e))),
                }
            }
        }
        (Ret::Plain(t), false) => {
            let enc = types::ret_wire(t, krate).encode;
            quote!({ let v = __fidius_ret; ::core::result::Result::Ok(#p::Reply::<_, #p::NoError>::Ok(#p::Encode(#enc))) })
        }
        (Ret::Unit, false) => {
            quote!({ let () = __fidius_ret; ::core::result::Result::Ok(#p::Reply::<_, #p::NoError>::Ok(#p::Encode(()))) })
        }
    };
    let body = quote! {
        move |__fidius_input: &[u8]| {
            if __fidius_instance.is_null() {
                ::core::panic!("fidius: method `{}` called with a null plugin instance", #name_str);
            }
            // SAFETY: a non-null instance pointer was produced by this
            // plugin's `construct` for `__FidiusT` and outlives the call.
            let __fidius_this: &__FidiusT = unsafe { &*(__fidius_instance as *const __FidiusT) };
            #decode
            let __fidius_ret = #call;
            #output
        }
    };
    let doc = format!("FFI shim of `{trait_ident}::{name}` for any implementation `__FidiusT`.");
    let c_void = quote!(#krate::__private::c_void);
    if let Some((_, item)) = &m.stream_arg {
        let host_stream = if types::is_vec_u8(item) {
            quote!(#p::host_stream_bytes)
        } else {
            quote!(#p::host_stream::<#item>)
        };
        let runner = if produces_stream {
            quote!(#p::run_stream_init)
        } else {
            quote!(#p::run_plugin_allocated)
        };
        return quote_spanned! {m.span=>
            #[doc = #doc]
            ///
            /// # Safety
            /// Called by a fidius host with the client-stream slot contract; the
            /// input stream handle is owned (and eventually dropped) by the plugin.
            pub unsafe extern "C" fn #shim<__FidiusT: super::#trait_ident + 'static>(
                __fidius_instance: *mut #c_void,
                __fidius_stream_handle: *mut #p::FidiusStreamHandle,
                in_ptr: *const u8,
                in_len: u32,
                out_ptr: *mut *mut u8,
                out_len: *mut u32,
            ) -> i32 {
                // SAFETY: the host hands the input stream over with the call; it is
                // owned from here on and dropped with the stream, whatever happens next.
                let __fidius_stream = unsafe { #host_stream(__fidius_stream_handle) };
                // SAFETY: the host upholds the slot contract for these pointers.
                unsafe { #runner(in_ptr, in_len, out_ptr, out_len, #body) }
            }
        };
    }
    if produces_stream {
        return quote_spanned! {m.span=>
            #[doc = #doc]
            ///
            /// # Safety
            /// Called by a fidius host with the stream-init slot contract.
            pub unsafe extern "C" fn #shim<__FidiusT: super::#trait_ident + 'static>(
                __fidius_instance: *mut #c_void,
                in_ptr: *const u8,
                in_len: u32,
                out_ptr: *mut *mut u8,
                out_len: *mut u32,
            ) -> i32 {
                // SAFETY: the host upholds the slot contract for these pointers.
                unsafe { #p::run_stream_init(in_ptr, in_len, out_ptr, out_len, #body) }
            }
        };
    }
    match iface.buffer {
        Buffer::PluginAllocated => quote_spanned! {m.span=>
            #[doc = #doc]
            ///
            /// # Safety
            /// Called by a fidius host with the PluginAllocated slot contract.
            pub unsafe extern "C" fn #shim<__FidiusT: super::#trait_ident + 'static>(
                __fidius_instance: *mut #c_void,
                in_ptr: *const u8,
                in_len: u32,
                out_ptr: *mut *mut u8,
                out_len: *mut u32,
            ) -> i32 {
                // SAFETY: the host upholds the slot contract for these pointers.
                unsafe { #krate::__private::run_plugin_allocated(in_ptr, in_len, out_ptr, out_len, #body) }
            }
        },
        Buffer::Arena => quote_spanned! {m.span=>
            #[doc = #doc]
            ///
            /// # Safety
            /// Called by a fidius host with the Arena slot contract.
            pub unsafe extern "C" fn #shim<__FidiusT: super::#trait_ident + 'static>(
                __fidius_instance: *mut #c_void,
                in_ptr: *const u8,
                in_len: u32,
                arena_ptr: *mut u8,
                arena_cap: u32,
                out_offset: *mut u32,
                out_len: *mut u32,
            ) -> i32 {
                let slot = #shim::<__FidiusT> as *const () as usize;
                // SAFETY: the host upholds the slot contract for these pointers.
                unsafe {
                    #krate::__private::run_arena(
                        slot, __fidius_instance, in_ptr, in_len, arena_ptr, arena_cap,
                        out_offset, out_len, #body,
                    )
                }
            }
        },
    }
}

fn emit_module(iface: &Interface) -> TokenStream {
    let krate = &iface.krate;
    let ident = &iface.ident;
    let vis = &iface.item.vis;
    let module = module_ident(iface);
    let lower = ident.to_string().to_lowercase();
    let vtable = format_ident!("{}_VTable", ident);
    let new_vtable = format_ident!("new_{}_vtable", lower);
    let hash_c = format_ident!("{}_INTERFACE_HASH", ident);
    let version_c = format_ident!("{}_INTERFACE_VERSION", ident);
    let strategy_c = format_ident!("{}_BUFFER_STRATEGY", ident);
    let optional_c = format_ident!("{}_OPTIONAL_METHODS", ident);
    let names_c = format_ident!("{}_METHOD_NAMES", ident);
    let kinds_c = format_ident!("{}_METHOD_KINDS", ident);
    let iname_c = format_ident!("__FIDIUS_INTERFACE_NAME_{}", ident);
    let hash = iface.hash;
    let version = iface.version;
    let strategy = iface.buffer.code();
    let method_count = iface.methods.len() as u32;
    let fn_ty = match iface.buffer {
        Buffer::PluginAllocated => quote!(#krate::descriptor::PluginAllocatedFn),
        Buffer::Arena => quote!(#krate::descriptor::ArenaFn),
    };

    let slot_ty = |m: &Method| {
        if m.stream_arg.is_some() {
            quote!(#krate::__private::ClientStreamFn)
        } else {
            fn_ty.clone()
        }
    };
    let fields = iface.methods.iter().map(|m| {
        let n = &m.ident;
        let ty = slot_ty(m);
        let doc = format!("Slot of `{}` (index {}, {}).", n, m.index, m.kind);
        if m.optional_bit.is_some() {
            quote!(#[doc = #doc] pub #n: ::core::option::Option<#ty>)
        } else {
            quote!(#[doc = #doc] pub #n: #ty)
        }
    });
    let ctor_params = iface.methods.iter().map(|m| {
        let n = &m.ident;
        let ty = slot_ty(m);
        quote!(#n: #ty)
    });
    let ctor_fields = iface.methods.iter().map(|m| {
        let n = &m.ident;
        if m.optional_bit.is_some() {
            quote!(#n: ::core::option::Option::Some(#n))
        } else {
            quote!(#n)
        }
    });
    let caps = iface.methods.iter().filter_map(|m| {
        let bit = m.optional_bit?;
        let c = format_ident!("{}_CAP_{}", ident, m.ident.to_string().to_uppercase());
        let doc = format!("Capability bit of optional method `{}`.", m.ident);
        Some(quote!(#[doc = #doc] pub const #c: u64 = 1u64 << #bit;))
    });
    let indices = iface.methods.iter().map(|m| {
        let c = format_ident!("METHOD_{}", m.ident.to_string().to_uppercase());
        let i = m.index;
        let doc = format!("Vtable index of `{}`.", m.ident);
        quote!(#[doc = #doc] pub const #c: usize = #i;)
    });
    let optional_names: Vec<String> = iface
        .methods
        .iter()
        .filter(|m| m.optional_bit.is_some())
        .map(|m| m.ident.to_string())
        .collect();
    let method_names: Vec<String> = iface.methods.iter().map(|m| m.ident.to_string()).collect();
    let kind_exprs = iface.methods.iter().map(|m| {
        let k = format_ident!("{}", format!("{:?}", m.kind));
        quote!(#krate::MethodKind::#k)
    });
    let shims = iface.methods.iter().map(|m| emit_shim(iface, m));
    let descriptors = crate::wasm::emit_descriptors(iface);
    let slot_inits = iface.methods.iter().map(|m| {
        let n = &m.ident;
        let shim = shim_ident(m);
        let fn_ty = slot_ty(m);
        if m.optional_bit.is_some() {
            let s = n.to_string();
            quote! {
                #n: if implemented.contains(&#s) {
                    ::core::option::Option::Some(#shim::<__FidiusT> as #fn_ty)
                } else {
                    ::core::option::Option::None
                }
            }
        } else {
            quote!(#n: #shim::<__FidiusT> as #fn_ty)
        }
    });
    let kind_key = crate::interface::c_lit(fidius_core::kind::KIND_META_KEY);
    let method_meta = iface.methods.iter().map(|m| {
        let kind = c_lit(m.kind.as_str());
        let pairs = m.meta.iter().map(|kv| {
            let k = c_lit(&kv.key.value());
            let v = c_lit(&kv.value.value());
            quote!((#k, #v))
        });
        quote!(&[(#kind_key, #kind), #(#pairs),*])
    });
    let trait_meta = iface.trait_meta.iter().map(|kv| {
        let k = c_lit(&kv.key.value());
        let v = c_lit(&kv.value.value());
        quote!((#k, #v))
    });
    let iname = c_lit(&ident.to_string());
    let free_buffer = match iface.buffer {
        Buffer::PluginAllocated => {
            quote!(::core::option::Option::Some(#krate::__private::free_buffer as #krate::descriptor::FreeBufferFn))
        }
        Buffer::Arena => quote!(::core::option::Option::None),
    };
    let mod_doc = format!(
        "ABI companion of [`{ident}`](super::{ident}), generated by `#[plugin_interface]`: vtable layout, interface hash, capability bits, method indices and the generic FFI shims."
    );
    let vt_doc =
        format!("`#[repr(C)]` vtable of `{ident}`: one slot per method, in declaration order.");
    quote! {
        #[doc = #mod_doc]
        #[allow(non_snake_case, non_upper_case_globals, dead_code, clippy::all)]
        #vis mod #module {
            use super::*;

            #[doc = #vt_doc]
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct #vtable {
                #(#fields,)*
            }

            /// Builds the vtable from every method's function pointer, in declaration order.
            pub const fn #new_vtable(#(#ctor_params),*) -> #vtable {
                #vtable { #(#ctor_fields,)* }
            }

            /// Interface hash (FNV-1a over the required methods' signatures).
            pub const #hash_c: u64 = #hash;
            /// Declared interface version.
            pub const #version_c: u32 = #version;
            /// Buffer strategy byte (1 = PluginAllocated, 2 = Arena).
            pub const #strategy_c: u8 = #strategy;
            /// Names of the optional methods, in capability-bit order.
            pub const #optional_c: &[&str] = &[#(#optional_names),*];
            /// Names of all methods, in vtable order.
            pub const #names_c: &[&str] = &[#(#method_names),*];
            /// Call kind of every method, in vtable order.
            pub const #kinds_c: &[#krate::MethodKind] = &[#(#kind_exprs),*];
            /// The interface name as a C string.
            pub const #iname_c: &::core::ffi::CStr = #iname;
            #(#caps)*
            #(#indices)*
            #descriptors

            #(#shims)*

            /// Builds the descriptor of plugin `plugin_name`, implemented by `__FidiusT`
            /// (`implemented` lists the methods its impl block defines).
            pub fn __fidius_build_descriptor<__FidiusT>(
                plugin_name: &'static ::core::ffi::CStr,
                implemented: &[&str],
            ) -> #krate::descriptor::PluginDescriptor
            where
                __FidiusT: super::#ident + #krate::__private::PluginConstruct,
            {
                let vtable: &'static #vtable = ::std::boxed::Box::leak(::std::boxed::Box::new(#vtable {
                    #(#slot_inits,)*
                }));
                let method_metadata = #krate::__private::leak_method_meta(&[#(#method_meta),*]);
                let (trait_metadata, trait_metadata_count) = #krate::__private::leak_meta(&[#(#trait_meta),*]);
                #krate::descriptor::PluginDescriptor {
                    descriptor_size: ::core::mem::size_of::<#krate::descriptor::PluginDescriptor>() as u32,
                    abi_version: #krate::descriptor::ABI_VERSION,
                    interface_name: #iname_c.as_ptr(),
                    interface_hash: #hash_c,
                    interface_version: #version_c,
                    capabilities: #krate::__private::capabilities(#optional_c, implemented),
                    buffer_strategy: #strategy_c,
                    plugin_name: plugin_name.as_ptr(),
                    vtable: vtable as *const #vtable as *const #krate::__private::c_void,
                    free_buffer: #free_buffer,
                    method_count: #method_count,
                    method_metadata,
                    trait_metadata,
                    trait_metadata_count,
                    construct: ::core::option::Option::Some(
                        #krate::__private::construct::<__FidiusT> as #krate::descriptor::ConstructFn,
                    ),
                    destroy: ::core::option::Option::Some(
                        #krate::__private::destroy::<__FidiusT> as #krate::descriptor::DestroyFn,
                    ),
                }
            }
        }
    }
}
