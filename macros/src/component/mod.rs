//! `#[component]`: parse the impl block, then emit the glue.

mod emit;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: parse::Args = syn::parse2(args)?;
    let item: syn::ItemImpl = syn::parse2(item)?;
    let spec = parse::Spec::from_impl(args, item)?;
    Ok(emit::emit(&spec))
}
