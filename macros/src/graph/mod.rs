//! `graph!`: parse the declaration, check what can be checked from the
//! tokens alone, compute the static schedule, then emit the builder code
//! with spanned compile-time assertions for what only rustc can check
//! (port names and packet types).

mod check;
mod emit;
mod parse;
mod schedule;
mod supervise;

use proc_macro2::TokenStream;

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let decl: parse::GraphDecl = syn::parse2(input)?;
    let graph = check::check(decl)?;
    let schedule = schedule::schedule(&graph);
    Ok(emit::emit(&graph, &schedule))
}
