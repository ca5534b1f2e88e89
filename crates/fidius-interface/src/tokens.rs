//! Token streams printed the way rustc prints them inside a proc macro, for
//! code that runs outside one (the interface hash hashes that text).
//!
//! rustc puts a space between two tokens unless the first is a joint
//! punctuation (`:` of `::`, `-` of `->`) or one of a few pairs applies:
//! a non-punctuation token before `,` `;` `.`, `.` before a non-punctuation,
//! `$` before an identifier, `#` before `[`, and an identifier (other than
//! most keywords) before `(`. Delimiters hug their contents.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Keywords that keep a space before `(` (rustc's reserved identifiers,
/// except `fn`, `Self` and `pub`, which do not).
const SPACED_KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "for", "if", "impl", "in", "let", "loop", "macro", "match",
    "mod", "move", "mut", "override", "priv", "ref", "return", "self", "static", "struct", "super",
    "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where",
    "while", "yield", "abstract", "become", "gen",
];

fn is_punct(tt: &TokenTree) -> bool {
    matches!(tt, TokenTree::Punct(_))
}

fn space_between(a: &TokenTree, b: &TokenTree) -> bool {
    if let TokenTree::Punct(p) = a {
        if p.spacing() == Spacing::Joint {
            return false;
        }
    }
    match (a, b) {
        (TokenTree::Punct(p), b) if p.as_char() == '.' && !is_punct(b) => false,
        (TokenTree::Punct(p), TokenTree::Ident(_)) if p.as_char() == '$' => false,
        (a, TokenTree::Punct(p)) if matches!(p.as_char(), ',' | ';' | '.') && !is_punct(a) => false,
        (TokenTree::Ident(i), TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            let s = i.to_string();
            !s.starts_with("r#") && SPACED_KEYWORDS.contains(&s.as_str())
        }
        (TokenTree::Punct(p), TokenTree::Group(g))
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
        {
            false
        }
        _ => true,
    }
}

fn write(tokens: TokenStream, out: &mut String) {
    let mut prev: Option<TokenTree> = None;
    for tt in tokens {
        if let Some(p) = &prev {
            if space_between(p, &tt) {
                out.push(' ');
            }
        }
        match &tt {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write(g.stream(), out);
                out.push_str(close);
            }
            other => out.push_str(&other.to_string()),
        }
        prev = Some(tt);
    }
}

/// `tokens` as rustc's proc-macro server prints them.
pub fn compiler_style(tokens: TokenStream) -> String {
    let mut out = String::new();
    write(tokens, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::compiler_style;
    use quote::ToTokens;

    /// What rustc 1.95 printed for these types inside a proc macro.
    #[test]
    fn matches_what_rustc_prints_in_a_proc_macro() {
        for (src, rustc) in [
            ("&str", "& str"),
            ("&[u8]", "& [u8]"),
            ("(usize, usize)", "(usize, usize)"),
            (
                "Result<Vec<u8>, PluginError>",
                "Result < Vec < u8 > , PluginError >",
            ),
            ("fidius::Stream<u64>", "fidius :: Stream < u64 >"),
            ("Vec<u8>", "Vec < u8 >"),
            (
                "HashMap<String, Vec<(u8, i64)>>",
                "HashMap < String, Vec < (u8, i64) > >",
            ),
            ("Option<&'static str>", "Option < & 'static str >"),
            ("[u8; 4]", "[u8; 4]"),
            ("Box<dyn Fn(u8) -> u8>", "Box < dyn Fn(u8) -> u8 >"),
        ] {
            let ty: syn::Type = syn::parse_str(src).unwrap();
            assert_eq!(compiler_style(ty.to_token_stream()), rustc, "{src}");
        }
    }
}
