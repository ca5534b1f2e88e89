//! Parsing of the macros' own arguments: `#[plugin_interface(...)]` and
//! `#[plugin_impl(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Path, Token, Type};

/// The buffer strategy named in an attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Buffer {
    /// `buffer = PluginAllocated`.
    PluginAllocated,
    /// `buffer = Arena`.
    Arena,
}

impl Buffer {
    /// The descriptor byte (1 or 2).
    pub fn code(self) -> u8 {
        match self {
            Buffer::PluginAllocated => 1,
            Buffer::Arena => 2,
        }
    }

    fn parse_ident(id: &Ident) -> syn::Result<Self> {
        match id.to_string().as_str() {
            "PluginAllocated" => Ok(Buffer::PluginAllocated),
            "Arena" => Ok(Buffer::Arena),
            "CallerAllocated" => Err(syn::Error::new(
                id.span(),
                "`CallerAllocated` buffer strategy was removed in fidius 0.1.0; use `PluginAllocated` or `Arena`",
            )),
            _ => Err(syn::Error::new(
                id.span(),
                "expected PluginAllocated or Arena (e.g. `buffer = PluginAllocated`)",
            )),
        }
    }
}

/// Parsed `#[plugin_interface(version = N, buffer = B, crate = "path")]`.
pub struct InterfaceArgs {
    /// `version = N`.
    pub version: u32,
    /// `buffer = …`.
    pub buffer: Buffer,
    /// `crate = "path"` (default `::fidius`).
    pub krate: Path,
}

fn parse_crate_path(lit: &LitStr) -> syn::Result<Path> {
    lit.parse_with(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected a crate path such as `crate = \"fidius\"`",
        )
    })
}

/// The default crate path, `::fidius`.
pub fn default_crate() -> Path {
    syn::parse_quote!(::fidius)
}

impl InterfaceArgs {
    /// Parses the attribute arguments.
    pub fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut version = None;
        let mut buffer = None;
        let mut krate = None;
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("version") {
                let lit: LitInt = meta.value()?.parse()?;
                version = Some(lit.base10_parse::<u32>()?);
                Ok(())
            } else if meta.path.is_ident("buffer") {
                let id: Ident = meta.value()?.parse()?;
                buffer = Some(Buffer::parse_ident(&id)?);
                Ok(())
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                krate = Some(parse_crate_path(&lit)?);
                Ok(())
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "?".into());
                Err(meta.error(format!(
                    "unknown attribute `{name}`, expected `version`, `buffer`, or `crate`"
                )))
            }
        });
        syn::parse::Parser::parse2(parser, attr)?;
        let version = version.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `version` attribute: write #[plugin_interface(version = 1, buffer = PluginAllocated)]",
            )
        })?;
        let buffer = buffer.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `buffer` attribute: add `buffer = PluginAllocated` (or `buffer = Arena`)",
            )
        })?;
        Ok(Self {
            version,
            buffer,
            krate: krate.unwrap_or_else(default_crate),
        })
    }
}

/// Parsed `#[plugin_impl(Trait, buffer = B, crate = "path", config = C)]`.
pub struct ImplArgs {
    /// The implemented trait as written.
    pub trait_path: Path,
    /// `buffer = …`, when given.
    pub buffer: Option<Buffer>,
    /// `crate = "path"`.
    pub krate: Path,
    /// `config = C`, when given.
    pub config: Option<Type>,
}

impl Parse for ImplArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error("expected the interface trait: #[plugin_impl(MyTrait)]"));
        }
        let trait_path: Path = input.parse()?;
        let mut buffer = None;
        let mut krate = None;
        let mut config = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "buffer" => buffer = Some(Buffer::parse_ident(&input.parse()?)?),
                "crate" => krate = Some(parse_crate_path(&input.parse()?)?),
                "config" => config = Some(input.parse()?),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown plugin_impl attribute `{other}`, expected `buffer`, `crate`, or `config`"
                        ),
                    ))
                }
            }
        }
        Ok(Self {
            trait_path,
            buffer,
            krate: krate.unwrap_or_else(default_crate),
            config,
        })
    }
}
