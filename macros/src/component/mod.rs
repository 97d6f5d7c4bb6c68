//! `#[component]`: parse the impl block, then emit the glue.
//!
//! A mistake does not take the impl block away: it is emitted with the
//! errors, and with the glue of as much of the component as is valid, so
//! the user sees the mistakes and not their consequences (methods that no
//! longer exist, "not an evoflow component" wherever the type is used).

mod emit;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    // The definition as written identifies the component's code: a rebuilt
    // library whose component changed but kept its version is told apart.
    let code = crate::fingerprint::tokens(&[&args, &item]);
    let args: parse::Args = match syn::parse2(args) {
        Ok(args) => args,
        Err(e) => parse::Args {
            errors: vec![e],
            ..Default::default()
        },
    };
    let impl_block: syn::ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => {
            let e = e.into_compile_error();
            return quote!(#e #item);
        }
    };
    let parsed = parse::parse(args, impl_block);
    let failed = !parsed.errors.is_empty();
    let errors = parsed
        .errors
        .into_iter()
        .map(syn::Error::into_compile_error);
    let item = parsed.item;
    let glue = parsed
        .spec
        .map(|spec| emit::emit(&spec, code, &crate::root(), failed));
    quote!(#( #errors )* #item #glue)
}
