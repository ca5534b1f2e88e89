//! Generator for the host-side typed `<Trait>Client` (compiled only when the
//! interface crate's `host` feature is on).

use crate::interface::module_ident;
use fidius_interface::ir::{Interface, Ret};
use fidius_interface::types;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn emit(iface: &Interface) -> TokenStream {
    let krate = &iface.krate;
    let ident = &iface.ident;
    let vis = &iface.item.vis;
    let module = module_ident(iface);
    let client = format_ident!("{}Client", ident);
    let hash_c = format_ident!("{}_INTERFACE_HASH", ident);
    let version_c = format_ident!("{}_INTERFACE_VERSION", ident);
    let wasm_c = format_ident!("{}_WASM_DESCRIPTOR", ident);
    let py_c = format_ident!("{}_PYTHON_DESCRIPTOR", ident);
    // Interfaces with optional methods evolve by design: their versions may
    // differ (capability bits gate each optional call); others must match.
    let version_check = iface
        .methods
        .iter()
        .all(|m| m.optional_bit.is_none())
        .then(|| quote!(handle.check_interface_version(Self::INTERFACE_VERSION)?;));
    let strategy = match iface.buffer {
        fidius_interface::attrs::Buffer::PluginAllocated => {
            quote!(#krate::BufferStrategyKind::PluginAllocated)
        }
        fidius_interface::attrs::Buffer::Arena => quote!(#krate::BufferStrategyKind::Arena),
    };
    let methods = iface.methods.iter().map(|m| {
        let name = &m.ident;
        let index_c = format_ident!("METHOD_{}", m.ident.to_string().to_uppercase());
        let cap_check = m.optional_bit.map(|bit| {
            quote! {
                if !self.handle.has_capability(#bit) {
                    return ::core::result::Result::Err(#krate::CallError::NotImplemented { bit: #bit });
                }
            }
        });
        let doc = format!("Calls `{ident}::{name}` on the plugin.");
        if m.stream_arg.is_some() || m.stream_out.is_some() {
            return emit_streaming(iface, m, &module, &index_c, cap_check, &doc);
        }
        if m.raw {
            let arg = &m.args[0].ident;
            return quote! {
                #[doc = #doc]
                pub fn #name(&self, #arg: &[u8]) -> ::core::result::Result<::std::vec::Vec<u8>, #krate::CallError> {
                    #cap_check
                    self.handle.call_method_raw(#module::#index_c, #arg)
                }
            };
        }
        let params: Vec<TokenStream> = m
            .args
            .iter()
            .map(|a| {
                let w = types::arg_wire(&a.ty, krate, &a.ident);
                let id = &a.ident;
                let ty = w.client_ty;
                quote!(#id: #ty)
            })
            .collect();
        let encodes = m.args.iter().map(|a| types::arg_wire(&a.ty, krate, &a.ident).encode);
        let (ret_ty, decode_ty, from_decoded) = match &m.ret {
            Ret::Unit => (quote!(()), quote!(()), quote!(v)),
            Ret::Plain(t) | Ret::Result { ok: t, .. } => {
                let w = types::ret_wire(t, krate);
                (quote!(#t), w.decode_ty, w.from_decoded)
            }
        };
        let call = quote!(self.handle.call_method::<_, #decode_ty>(#module::#index_c, &(#(#encodes,)*)));
        let body = if from_decoded.to_string() == "v" {
            call
        } else {
            quote!(#call.map(|v| #from_decoded))
        };
        quote! {
            #[doc = #doc]
            #[inline]
            pub fn #name(&self, #(#params),*) -> ::core::result::Result<#ret_ty, #krate::CallError> {
                #cap_check
                #body
            }
        }
    });
    let doc = format!(
        "Typed host-side client of [`{ident}`]: one method per trait method, each returning `Result<_, CallError>`."
    );
    quote! {
        #[cfg(feature = "host")]
        #[doc = #doc]
        #[derive(Debug)]
        #vis struct #client {
            handle: #krate::PluginHandle,
        }

        #[cfg(feature = "host")]
        #[allow(clippy::all)]
        impl #client {
            /// Interface hash this client was generated for.
            pub const INTERFACE_HASH: u64 = #module::#hash_c;
            /// Interface version this client was generated for.
            pub const INTERFACE_VERSION: u32 = #module::#version_c;
            /// Buffer strategy of the interface.
            pub const BUFFER_STRATEGY: #krate::BufferStrategyKind = #strategy;
            /// What a host needs to load a plugin of this interface on any backend.
            pub const INTERFACE: #krate::ClientInterface = #krate::ClientInterface {
                hash: #module::#hash_c,
                buffer: #strategy,
                wasm: &#module::#wasm_c,
                python: &#module::#py_c,
            };

            /// Wraps a handle (not checked: see [`Self::try_from_handle`]).
            pub fn from_handle(handle: #krate::PluginHandle) -> Self {
                Self { handle }
            }

            /// Wraps a handle after checking its interface hash and buffer strategy
            /// (and, for an interface without optional methods, a cdylib's
            /// interface version: `LoadError::InterfaceVersionMismatch`).
            pub fn try_from_handle(handle: #krate::PluginHandle) -> ::core::result::Result<Self, #krate::LoadError> {
                handle.check_interface(Self::INTERFACE_HASH, Self::BUFFER_STRATEGY)?;
                #version_check
                ::core::result::Result::Ok(Self { handle })
            }

            /// The underlying handle.
            pub fn handle(&self) -> &#krate::PluginHandle {
                &self.handle
            }

            /// Unwraps the handle.
            pub fn into_handle(self) -> #krate::PluginHandle {
                self.handle
            }

            /// A client for plugin `plugin_name` linked into this process,
            /// checked against this interface's hash and buffer strategy.
            pub fn in_process(plugin_name: &str) -> ::core::result::Result<Self, #krate::LoadError> {
                let desc = #krate::PluginHandle::find_in_process_descriptor(plugin_name)?;
                #krate::PluginHandle::check_descriptor(desc, Self::INTERFACE_HASH, Self::BUFFER_STRATEGY)?;
                let handle = #krate::PluginHandle::from_descriptor(desc)?;
                Self::try_from_handle(handle)
            }

            /// A configured instance of in-process plugin `plugin_name` (the config
            /// crosses the boundary once, as bincode), checked against this interface.
            pub fn configure_in_process<C: #krate::__private::Serialize + ?Sized>(
                plugin_name: &str,
                config: &C,
            ) -> ::core::result::Result<Self, #krate::LoadError> {
                let desc = #krate::PluginHandle::find_in_process_descriptor(plugin_name)?;
                #krate::PluginHandle::check_descriptor(desc, Self::INTERFACE_HASH, Self::BUFFER_STRATEGY)?;
                Self::try_from_handle(#krate::PluginHandle::configure_in_process(desc, config)?)
            }

            /// Loads plugin `plugin_name` through `host` and makes a configured
            /// instance of it, checked against this interface.
            pub fn load_configured<C: #krate::__private::Serialize + ?Sized>(
                host: &#krate::PluginHost,
                plugin_name: &str,
                config: &C,
            ) -> ::core::result::Result<Self, #krate::LoadError> {
                let config = #krate::ConfigRef(config);
                Self::try_from_handle(host.load_plugin_handle(
                    plugin_name,
                    &Self::INTERFACE,
                    ::core::option::Option::Some(&config),
                )?)
            }

            /// Loads plugin `plugin_name` through `host` (with its signature and
            /// ABI policy) and checks it against this interface.
            pub fn load(host: &#krate::PluginHost, plugin_name: &str) -> ::core::result::Result<Self, #krate::LoadError> {
                Self::try_from_handle(host.load_plugin_handle(plugin_name, &Self::INTERFACE, ::core::option::Option::None)?)
            }

            #(#methods)*
        }
    }
}

/// A client method of a streaming method: server streams return an
/// `ItemStream`; a client stream argument becomes an `IntoIterator` of items.
fn emit_streaming(
    iface: &Interface,
    m: &fidius_interface::ir::Method,
    module: &syn::Ident,
    index_c: &syn::Ident,
    cap_check: Option<TokenStream>,
    doc: &str,
) -> TokenStream {
    let krate = &iface.krate;
    let name = &m.ident;
    let stream_pos = m.stream_arg.as_ref().map(|(i, _)| *i);
    let mut params = Vec::new();
    let mut encodes = Vec::new();
    for (i, a) in m.args.iter().enumerate() {
        let id = &a.ident;
        if Some(i) == stream_pos {
            let item = &m.stream_arg.as_ref().expect("stream arg").1;
            params.push(quote!(#id: impl ::core::iter::IntoIterator<Item = #item, IntoIter: ::core::marker::Send + 'static>));
        } else {
            let w = types::arg_wire(&a.ty, krate, id);
            let ty = w.client_ty;
            params.push(quote!(#id: #ty));
            encodes.push(w.encode);
        }
    }
    let stream_items: Option<TokenStream> = stream_pos.map(|i| {
        let id = &m.args[i].ident;
        let item = &m.stream_arg.as_ref().expect("stream arg").1;
        if types::is_vec_u8(item) {
            // Byte items travel as one block each (same bytes on the wire).
            quote!(::core::iter::IntoIterator::into_iter(#id).map(#krate::__private::ByteBuf as fn(::std::vec::Vec<u8>) -> #krate::__private::ByteBuf))
        } else {
            quote!(#id)
        }
    });
    let out_decoder = match &m.stream_out {
        Some(out) if types::is_vec_u8(out) => quote!(#krate::host_stream::decode_bytes),
        Some(out) => quote!(#krate::host_stream::decode_wire::<#out>),
        None => quote!(),
    };
    let body = match (&m.stream_out, stream_items) {
        (Some(out), None) => quote! {
            self.handle.call_server_stream_via::<_, #out>(#module::#index_c, &(#(#encodes,)*), #out_decoder)
        },
        (Some(out), Some(items)) => quote! {
            self.handle.call_bidi_stream_via::<_, _, #out>(#module::#index_c, #items, &(#(#encodes,)*), #out_decoder)
        },
        (None, Some(items)) => {
            let (decode_ty, from_decoded) = match &m.ret {
                Ret::Unit => (quote!(()), quote!(v)),
                Ret::Plain(t) | Ret::Result { ok: t, .. } => {
                    let w = types::ret_wire(t, krate);
                    (w.decode_ty, w.from_decoded)
                }
            };
            quote! {
                self.handle
                    .call_client_stream::<_, _, #decode_ty>(#module::#index_c, #items, &(#(#encodes,)*))
                    .map(|v| #from_decoded)
            }
        }
        (None, None) => unreachable!("not a streaming method"),
    };
    let ret_ty = match (&m.stream_out, &m.ret) {
        (Some(out), _) => quote!(#krate::ItemStream<#out>),
        (None, Ret::Unit) => quote!(()),
        (None, Ret::Plain(t) | Ret::Result { ok: t, .. }) => quote!(#t),
    };
    quote! {
        #[doc = #doc]
        #[allow(clippy::map_identity)]
        pub fn #name(&self, #(#params),*) -> ::core::result::Result<#ret_ty, #krate::CallError> {
            #cap_check
            #body
        }
    }
}
