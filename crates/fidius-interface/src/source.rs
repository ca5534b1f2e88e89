//! Reading a crate's source: the struct and enum definitions (with their
//! module paths) that a WIT world needs, and the `#[plugin_interface]` traits.
//!
//! Used by the interface macro (for the crate being compiled, found through
//! `CARGO_MANIFEST_DIR`), by `fidius-build` and by `fidius wit`.

use std::path::{Path, PathBuf};
use syn::{Item, ItemEnum, ItemStruct, ItemTrait};

/// A type definition found in the source, with the module it lives in.
#[derive(Clone)]
pub struct TypeDef {
    /// Module path from the crate root (empty at the root).
    pub module: Vec<String>,
    /// The definition.
    pub item: TypeItem,
}

/// A struct or an enum.
#[derive(Clone)]
pub enum TypeItem {
    /// A struct.
    Struct(ItemStruct),
    /// An enum.
    Enum(ItemEnum),
}

impl TypeItem {
    /// The type's name.
    pub fn ident(&self) -> &syn::Ident {
        match self {
            TypeItem::Struct(s) => &s.ident,
            TypeItem::Enum(e) => &e.ident,
        }
    }
}

/// A trait found in the source, with its module path.
#[derive(Clone)]
pub struct TraitDef {
    /// Module path from the crate root.
    pub module: Vec<String>,
    /// The trait as written (attributes included).
    pub item: ItemTrait,
}

/// Everything [`scan_crate`] found.
#[derive(Clone, Default)]
pub struct CrateSource {
    /// Structs and enums, in source order.
    pub types: Vec<TypeDef>,
    /// Traits, in source order.
    pub traits: Vec<TraitDef>,
}

impl CrateSource {
    /// The definitions named `name` (last path segment).
    pub fn find_type(&self, name: &str) -> Vec<&TypeDef> {
        self.types
            .iter()
            .filter(|t| t.item.ident() == name)
            .collect()
    }

    /// Traits carrying a `#[plugin_interface]` attribute (any path ending in it).
    pub fn interface_traits(&self) -> Vec<&TraitDef> {
        self.traits
            .iter()
            .filter(|t| {
                t.item.attrs.iter().any(|a| {
                    a.path()
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "plugin_interface")
                })
            })
            .collect()
    }
}

/// The crate root file of the crate in `manifest_dir` (`src/lib.rs`, else `src/main.rs`).
pub fn crate_root(manifest_dir: &Path) -> Option<PathBuf> {
    ["src/lib.rs", "src/main.rs"]
        .iter()
        .map(|p| manifest_dir.join(p))
        .find(|p| p.is_file())
}

/// Parses the crate whose root file is `root`, following `mod x;` into
/// `x.rs` / `x/mod.rs` (and `#[path = "…"]`). Unreadable module files are
/// skipped; a root that does not parse is an error.
pub fn scan_crate(root: &Path) -> Result<CrateSource, String> {
    let text = std::fs::read_to_string(root)
        .map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    let file =
        syn::parse_file(&text).map_err(|e| format!("cannot parse {}: {e}", root.display()))?;
    let mut out = CrateSource::default();
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    walk(&file.items, &dir, &[], &mut out, 0);
    Ok(out)
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| {
        if !a.path().is_ident("path") {
            return None;
        }
        match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        }
    })
}

/// `dir` is where child module files of the current module live.
fn walk(items: &[Item], dir: &Path, module: &[String], out: &mut CrateSource, depth: usize) {
    if depth > 32 {
        return;
    }
    for item in items {
        match item {
            Item::Struct(s) => out.types.push(TypeDef {
                module: module.to_vec(),
                item: TypeItem::Struct(s.clone()),
            }),
            Item::Enum(e) => out.types.push(TypeDef {
                module: module.to_vec(),
                item: TypeItem::Enum(e.clone()),
            }),
            Item::Trait(t) => out.traits.push(TraitDef {
                module: module.to_vec(),
                item: t.clone(),
            }),
            Item::Mod(m) => {
                let name = m.ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                let mut child = module.to_vec();
                child.push(name.clone());
                if let Some((_, inner)) = &m.content {
                    walk(inner, &dir.join(&name), &child, out, depth + 1);
                    continue;
                }
                let candidates = match path_attr(&m.attrs) {
                    Some(p) => vec![dir.join(p)],
                    None => vec![
                        dir.join(format!("{name}.rs")),
                        dir.join(&name).join("mod.rs"),
                    ],
                };
                let Some(file) = candidates.into_iter().find(|p| p.is_file()) else {
                    continue;
                };
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                let Ok(parsed) = syn::parse_file(&text) else {
                    continue;
                };
                let child_dir = if file.file_name().is_some_and(|n| n == "mod.rs") {
                    file.parent().unwrap_or(dir).to_path_buf()
                } else {
                    dir.join(&name)
                };
                walk(&parsed.items, &child_dir, &child, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// Parses the `#[plugin_interface]` trait `trait_name` (or the only one) of
/// the crate in `manifest_dir` and builds its WIT world, with user types
/// resolved from the same source.
pub fn world_from_crate(
    manifest_dir: &Path,
    trait_name: Option<&str>,
) -> Result<crate::wit::World, String> {
    let root = crate_root(manifest_dir)
        .ok_or_else(|| format!("no src/lib.rs or src/main.rs in {}", manifest_dir.display()))?;
    let (iface, src) = interface_from_source(&root, trait_name)?;
    crate::wit::build_world(&iface, Some(&src)).map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Parses the `#[plugin_interface]` trait `trait_name` (or the only one)
/// found from the source file `root` (a crate root, or any `.rs` file; its
/// `mod` declarations are followed), with everything else the source holds.
pub fn interface_from_source(
    root: &Path,
    trait_name: Option<&str>,
) -> Result<(crate::ir::Interface, CrateSource), String> {
    let src = scan_crate(root)?;
    let traits = src.interface_traits();
    let chosen = match trait_name {
        Some(n) => traits.iter().find(|t| t.item.ident == n).ok_or_else(|| {
            format!(
                "no #[plugin_interface] trait named `{n}` in {}",
                root.display()
            )
        })?,
        None => match traits.as_slice() {
            [one] => one,
            [] => {
                return Err(format!(
                    "no #[plugin_interface] trait in {}",
                    root.display()
                ))
            }
            many => {
                return Err(format!(
                    "several #[plugin_interface] traits in {} ({}); name one",
                    root.display(),
                    many.iter()
                        .map(|t| t.item.ident.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        },
    };
    let mut item = chosen.item.clone();
    let attr_pos = item
        .attrs
        .iter()
        .position(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "plugin_interface")
        })
        .ok_or("the trait lost its attribute")?;
    let attr = item.attrs.remove(attr_pos);
    let tokens = match &attr.meta {
        syn::Meta::List(l) => l.tokens.clone(),
        _ => proc_macro2::TokenStream::new(),
    };
    let args = crate::attrs::InterfaceArgs::parse(tokens).map_err(|e| e.to_string())?;
    let iface = crate::ir::Interface::parse(args, item).map_err(|e| e.to_string())?;
    Ok((iface, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_inline_and_file_modules() {
        let dir = std::env::temp_dir().join(format!("fidius-source-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/a")).unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "pub struct Top { pub x: u8 }\nmod a;\nmod inner { pub enum E { A } }\n#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]\npub trait T { fn f(&self); }",
        )
        .unwrap();
        std::fs::write(dir.join("src/a.rs"), "pub struct InA { pub y: u8 }\nmod b;").unwrap();
        std::fs::write(dir.join("src/a/b.rs"), "pub struct InB;").unwrap();
        let src = scan_crate(&crate_root(&dir).unwrap()).unwrap();
        let names: Vec<(String, Vec<String>)> = src
            .types
            .iter()
            .map(|t| (t.item.ident().to_string(), t.module.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("Top".into(), vec![]),
                ("InA".into(), vec!["a".to_string()]),
                ("InB".into(), vec!["a".to_string(), "b".to_string()]),
                ("E".into(), vec!["inner".to_string()]),
            ]
        );
        assert_eq!(src.interface_traits().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
