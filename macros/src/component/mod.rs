//! `#[component]`: parse the impl block, then emit the glue.

mod emit;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // The definition as written identifies the component's code: a rebuilt
    // library whose component changed but kept its version is told apart.
    let code = crate::fingerprint::tokens(&[&args, &item]);
    let args: parse::Args = syn::parse2(args)?;
    let item: syn::ItemImpl = syn::parse2(item)?;
    let spec = parse::Spec::from_impl(args, item)?;
    Ok(emit::emit(&spec, code, &crate::root()))
}
