//! The supervision syntax of `graph!`, for the `on_panic = ...;` setting
//! and the `#[on_panic(...)]` attribute of an instance:
//!
//! ```text
//! stop                                   // a panic stops the graph (default)
//! resume(max = 100, within = 1s)         // keep the state, go on
//! restart(max = 5, within = 10s)         // rebuild from the constructor
//! snapshot(every = 500ms, max = 5)       // rebuild from the last snapshot
//! ```
//!
//! `max` and `within` are optional (5 panics in 10 s); durations are
//! written `10s` or `500ms`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Error, Ident, LitInt, Token};

/// What a panic leads to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Stop,
    Resume,
    Restart,
    /// Snapshot interval in milliseconds.
    Snapshot(u64),
}

/// A parsed supervision.
#[derive(Clone)]
pub(crate) struct Policy {
    pub mode: Mode,
    pub max: Option<u32>,
    /// In milliseconds.
    pub within: Option<u64>,
}

const MODES: &str = "`stop`, `resume(..)`, `restart(..)` or `snapshot(every = 500ms, ..)`";

/// `10s` or `500ms`, in milliseconds.
fn duration(lit: &LitInt) -> syn::Result<u64> {
    let n: u64 = lit
        .base10_digits()
        .parse()
        .map_err(|_| Error::new(lit.span(), "expected a whole number of `s` or `ms`"))?;
    match lit.suffix() {
        "s" => Ok(n * 1000),
        "ms" => Ok(n),
        _ => Err(Error::new(
            lit.span(),
            "a duration needs its unit: write `10s` or `500ms`",
        )),
    }
}

impl Parse for Policy {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mode: Ident = input.parse()?;
        let (mut every, mut max, mut within) = (None, None, None);
        if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            while !content.is_empty() {
                let key: Ident = content.parse()?;
                content.parse::<Token![=]>()?;
                let value: LitInt = content.parse()?;
                let taken = match key.to_string().as_str() {
                    "max" => max.replace(value.base10_parse::<u32>()?).is_some(),
                    "within" => within.replace(duration(&value)?).is_some(),
                    "every" if mode == "snapshot" => every.replace(duration(&value)?).is_some(),
                    _ => {
                        let keys = if mode == "snapshot" {
                            "`every`, `max` or `within`"
                        } else {
                            "`max` or `within`"
                        };
                        return Err(Error::new(
                            key.span(),
                            format!("unknown option `{key}` of `{mode}`; expected {keys}"),
                        ));
                    }
                };
                if taken {
                    return Err(Error::new(key.span(), format!("`{key}` is given twice")));
                }
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
        }
        let mode = match mode.to_string().as_str() {
            "stop" if max.is_none() && within.is_none() => Mode::Stop,
            "stop" => {
                return Err(Error::new(
                    mode.span(),
                    "`stop` takes no limits: the first panic stops the graph",
                ))
            }
            "resume" => Mode::Resume,
            "restart" => Mode::Restart,
            "snapshot" => Mode::Snapshot(every.ok_or_else(|| {
                Error::new(
                    mode.span(),
                    "`snapshot` needs its interval: `snapshot(every = 1s)`",
                )
            })?),
            other => {
                return Err(Error::new(
                    mode.span(),
                    format!("unknown supervision `{other}`; expected {MODES}"),
                ))
            }
        };
        Ok(Policy { mode, max, within })
    }
}

impl Policy {
    /// The `evoflow::Supervision` it stands for.
    pub(crate) fn tokens(&self, root: &TokenStream) -> TokenStream {
        let s = quote!(#root::Supervision);
        let ms = |n: u64| quote!(::std::time::Duration::from_millis(#n));
        let base = match self.mode {
            Mode::Stop => return quote!(#s::STOP),
            Mode::Resume => quote!(#s::resume()),
            Mode::Restart => quote!(#s::restart()),
            Mode::Snapshot(every) => {
                let every = ms(every);
                quote!(#s::snapshot(#every))
            }
        };
        let max = self.max.map(|m| quote!(#m)).unwrap_or(quote!(__b.max));
        let within = self.within.map(ms).unwrap_or(quote!(__b.within));
        quote!({ let __b = #base; __b.limit(#max, #within) })
    }
}
