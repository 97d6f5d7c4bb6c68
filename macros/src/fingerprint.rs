//! Stable hashes of source code, computed at compile time: they let a
//! running program tell which parts of a rebuilt library changed.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use std::hash::Hasher;

/// FNV-1a of the tokens' text: whitespace, comments and doc comments do
/// not count (they change no behaviour), every other token does.
pub(crate) fn tokens(streams: &[&TokenStream]) -> u64 {
    texts(&streams.iter().map(|s| code_text(s)).collect::<Vec<_>>())
}

/// The text of `stream` without its doc attributes (`///`, `//!`, and
/// `#[doc = ..]`, at any depth), for hashing what the code does.
pub(crate) fn code_text(stream: &TokenStream) -> String {
    without_docs(stream.clone()).to_string()
}

fn without_docs(stream: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut tokens = stream.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                let inner =
                    matches!(tokens.peek(), Some(TokenTree::Punct(b)) if b.as_char() == '!');
                let bang = if inner { tokens.next() } else { None };
                match tokens.peek() {
                    Some(TokenTree::Group(g))
                        if g.delimiter() == Delimiter::Bracket && is_doc(g.stream()) =>
                    {
                        tokens.next();
                    }
                    _ => out.extend([Some(TokenTree::Punct(p)), bang].into_iter().flatten()),
                }
            }
            TokenTree::Group(g) => {
                let mut inner = proc_macro2::Group::new(g.delimiter(), without_docs(g.stream()));
                inner.set_span(g.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

fn is_doc(attr: TokenStream) -> bool {
    matches!(attr.into_iter().next(), Some(TokenTree::Ident(i)) if i == "doc")
}

/// FNV-1a of texts, each followed by a separator.
pub(crate) fn texts(parts: &[String]) -> u64 {
    let mut h = fnv::FnvHasher::default();
    for p in parts {
        h.write(p.as_bytes());
        h.write_u8(0);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::tokens;
    use quote::quote;

    /// Doc comments (outer and inner) do not change the hash; code does.
    #[test]
    fn doc_comments_do_not_count() {
        let plain = quote! { impl A { fn f(&self) -> u32 { 1 } } };
        let documented = quote! {
            /// Says what `A` is.
            impl A {
                //! Inner docs.
                #[doc = "More."]
                fn f(&self) -> u32 { 1 }
            }
        };
        let changed = quote! { impl A { fn f(&self) -> u32 { 2 } } };
        let attribute = quote! { impl A { #[inline] fn f(&self) -> u32 { 1 } } };
        assert_eq!(tokens(&[&plain]), tokens(&[&documented]));
        assert_ne!(tokens(&[&plain]), tokens(&[&changed]));
        assert_ne!(tokens(&[&plain]), tokens(&[&attribute]));
    }
}
