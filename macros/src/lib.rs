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

/// Makes the type of an `impl` block a dataflow component.
///
/// See the `evoflow` crate documentation for the full syntax.
#[proc_macro_attribute]
pub fn component(args: TokenStream, item: TokenStream) -> TokenStream {
    component::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares, checks, schedules and builds a dataflow graph.
///
/// See the `evoflow` crate documentation for the full syntax.
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    graph::expand(input.into())
        .unwrap_or_else(|e| {
            // Keep the expansion a `Graph` expression so the only errors the
            // user sees are ours, not follow-ups about the placeholder's type.
            let errors = e.into_compile_error();
            quote::quote!({ #errors ::evoflow::__private::invalid_graph() })
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
