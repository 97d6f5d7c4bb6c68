#![warn(missing_docs)]
//! Procedural macros of evoflow. Use them through the `evoflow` crate.
//!
//! * `#[component]` turns an `impl` block into a dataflow component: its
//!   `#[input]` methods are input ports, the outputs are declared in the
//!   attribute, and the generated glue lets the runtime drive it and lets
//!   `graph!` check every port at compile time.
//! * `graph!` wires instances into a graph, checks it, computes the static
//!   multi-core schedule and builds the runnable graph.
//! * `library!` exports a graph from a component library, for a running
//!   program to load and live-update itself with (`evoflow::reload`).

mod component;
mod fingerprint;
mod graph;
mod library;

use proc_macro::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};

/// The path to the `evoflow` crate as the calling crate names it, so a
/// renamed dependency (`ef = { package = "evoflow" }`) works. Within
/// evoflow's own package (its tests, examples and doctests, which link the
/// library as any user does) and when the manifest cannot be read, it is
/// `::evoflow`.
fn root() -> proc_macro2::TokenStream {
    match crate_name("evoflow") {
        Ok(FoundCrate::Name(name)) => {
            let name = proc_macro2::Ident::new(&name, proc_macro2::Span::call_site());
            quote::quote!(::#name)
        }
        Ok(FoundCrate::Itself) | Err(_) => quote::quote!(::evoflow),
    }
}

/// `root` with every token at `span`, for paths in code whose errors
/// rustc reports at the span of the whole path.
fn respan(root: &proc_macro2::TokenStream, span: proc_macro2::Span) -> proc_macro2::TokenStream {
    root.clone()
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}

/// Makes the type of an `impl` block a dataflow component.
///
/// See the `evoflow` crate documentation for the full syntax.
#[proc_macro_attribute]
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    component::expand(args.into(), item.into()).into()
}

/// Declares, checks, schedules and builds a dataflow graph.
///
/// See the `evoflow` crate documentation for the full syntax.
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    graph::expand(input.into())
        .unwrap_or_else(|(e, checks)| {
            // Keep the expansion a `Graph` expression so the only errors the
            // user sees are ours, not follow-ups about the placeholder's type.
            let (errors, root) = (e.into_compile_error(), root());
            quote::quote!({ #errors #checks #root::__private::invalid_graph() })
        })
        .into()
}

/// Exports the entry points of a component library: `library!(path::to::graph_fn)`
/// where `graph_fn() -> Graph` builds the program's graph.
///
/// See `evoflow::reload` for the layout of a reloadable program.
#[proc_macro]
pub fn library(input: TokenStream) -> TokenStream {
    library::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
