//! Identifier conversions between Rust and WIT: kebab-case names, WIT
//! keyword escaping, and the names wit-bindgen gives generated Rust items.

/// WIT keywords: an identifier spelled like one is written `%name`.
pub const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "error-context",
    "export",
    "f32",
    "f64",
    "flags",
    "float32",
    "float64",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// Rust keywords that wit-bindgen suffixes with `_` when it makes them identifiers.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

pub use fidius_core::wasm_descriptor::kebab;

/// `name` as it must be written in WIT source (`%`-escaped if a keyword).
pub fn escape(name: &str) -> String {
    if WIT_KEYWORDS.contains(&name) {
        format!("%{name}")
    } else {
        name.to_owned()
    }
}

/// Whether `name` is a valid WIT identifier (kebab words that start with a
/// letter, each all-lowercase or all-uppercase).
pub fn is_valid_wit_ident(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|w| {
            let mut cs = w.chars();
            matches!(cs.next(), Some(c) if c.is_ascii_alphabetic())
                && (w
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
}

/// The Rust field/function name wit-bindgen generates for a WIT name:
/// `type-name` → `type_name`, `type` → `type_`.
pub fn bindgen_snake(wit: &str) -> String {
    let s = wit.replace('-', "_");
    if RUST_KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// The Rust type/case name wit-bindgen generates for a WIT name:
/// `apply-input` → `ApplyInput`.
pub fn bindgen_camel(wit: &str) -> String {
    fidius_core::wasm_descriptor::upper_camel(wit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_matches_fidius_05() {
        assert_eq!(kebab("BytePipe"), "byte-pipe");
        assert_eq!(kebab("add_direct"), "add-direct");
        assert_eq!(kebab("r#type"), "type");
        assert_eq!(kebab("Calculator"), "calculator");
        assert_eq!(kebab("HTTPServer"), "h-t-t-p-server");
        assert_eq!(kebab("ImageFilter"), "image-filter");
    }

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(escape("type"), "%type");
        assert_eq!(escape("stream"), "%stream");
        assert_eq!(escape("error-context"), "%error-context");
        assert_eq!(escape("pixels"), "pixels");
        assert_eq!(WIT_KEYWORDS.len(), 44);
    }

    #[test]
    fn bindgen_names() {
        assert_eq!(bindgen_snake("type"), "type_");
        assert_eq!(bindgen_snake("type-name"), "type_name");
        assert_eq!(bindgen_camel("apply-input"), "ApplyInput");
        assert_eq!(bindgen_camel("h-t-t-p-config"), "HTTPConfig");
    }

    #[test]
    fn wit_ident_validity() {
        assert!(is_valid_wit_ident("byte-pipe"));
        assert!(is_valid_wit_ident("v2"));
        assert!(!is_valid_wit_ident("v-2"));
        assert!(!is_valid_wit_ident(""));
    }
}
