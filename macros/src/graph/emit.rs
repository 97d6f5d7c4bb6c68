//! Emits the graph: constructors, spanned compile-time checks of port names
//! and packet types, then builder calls in schedule order. With a worker
//! count known only at run time, the scheduler's inputs are emitted as
//! constants and the runtime runs the same scheduler on them.
//!
//! Port names are looked up by `const fn`s over each component's metadata;
//! a wrong name panics during const evaluation, which rustc reports at the
//! span of the port token with the message naming the ports that exist.
//! Packet types are compared through `InputAt`/`OutputAt` (implemented by a
//! component's `Inputs` and `Outputs`), whose mismatch is
//! reported at the arc's arrow.

use super::check::{Graph, Workers};
use evoflow_graph::Place;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// `match __private::<lookup> { Ok(i) => i, Err(e) => panic!(e) }`, every
/// token spanned at the user's port name so the const panic is reported there.
fn port_index(root: &TokenStream, span: Span, lookup: TokenStream) -> TokenStream {
    let root = crate::respan(root, span);
    quote_spanned! {span=>
        match #root::__private::#lookup {
            ::core::result::Result::Ok(i) => i,
            ::core::result::Result::Err(e) => ::core::panic!("{}", e.as_str()),
        }
    }
}

/// The compile-time checks of one arc: its ports exist and carry one
/// packet type. Each port index is a constant named as the user's port, so
/// a failed lookup is reported as "evaluation of `main::odds` failed" at
/// that port. `then` gets the two packet types (`Out, In`, for a call that
/// requires them to be the same), the name of the output's packet type
/// and the two index constants.
pub(super) fn arc_checks(
    g: &Graph,
    arc: &super::check::Arc,
    root: &TokenStream,
    then: impl FnOnce(&TokenStream, &syn::Ident, &TokenStream, &TokenStream) -> TokenStream,
) -> TokenStream {
    let p = quote!(#root::__private);
    let (f, t) = (&g.instances[arc.from], &g.instances[arc.to]);
    let component = |ty: &syn::Type| quote_spanned!(ty.span()=> <#ty as #p::rt::Component>);
    let (fc, tc) = (component(&f.decl.ty), component(&t.decl.ty));
    let (fname, tname) = (f.decl.name.to_string(), t.decl.name.to_string());
    let (out, inp) = (&arc.decl.out, &arc.decl.inp);
    let (out_name, inp_name) = (out.to_string(), inp.to_string());
    let out_idx = port_index(
        root,
        out.span(),
        quote!(output_index(&#fc::META, #fname, #out_name)),
    );
    let in_idx = port_index(
        root,
        inp.span(),
        quote!(input_index(&#tc::META, #tname, #inp_name)),
    );
    let arrow = arc.decl.arrow.spans[0];
    let p_at = crate::respan(&p, arrow);
    let (fty, tty) = (&f.decl.ty, &t.decl.ty);
    let out_ty = quote_spanned!(arrow=> <<#fty as #p_at::rt::Component>::Outputs as #p_at::OutputAt<{ #out }>>::Packet);
    let in_ty = quote_spanned!(arrow=> <<#tty as #p_at::rt::Component>::Inputs as #p_at::InputAt<{ #inp }>>::Packet);
    // The input's constant may shadow the output's (`a.data -> b.data`), so
    // what the inner block needs of the output is taken out first.
    let (packet, out_index) = (
        format_ident!("__EvoflowPacket", span = arrow),
        format_ident!("__evoflow_out", span = Span::mixed_site()),
    );
    // Spanned at the arrow, where rustc reports a packet type mismatch.
    let types = quote_spanned!(arrow=> #packet, #in_ty);
    let then = then(&types, &packet, &quote!(#out_index), &quote!(#inp));
    quote! {{
        #[allow(non_upper_case_globals)]
        const #out: usize = #out_idx;
        type #packet = #out_ty;
        let #out_index = #out;
        {
            #[allow(non_upper_case_globals)]
            const #inp: usize = #in_idx;
            #then
        }
    }}
}

/// What `graph!` emits when it reported errors: the checks of the arcs it
/// could read, so that one compile shows the port and type mistakes too.
pub(crate) fn emit_checks(g: &Graph, root: &TokenStream) -> TokenStream {
    let p = quote!(#root::__private);
    let arcs = g
        .arcs
        .iter()
        .map(|arc| {
            let arrow = arc.decl.arrow.spans[0];
            let p_at = crate::respan(&p, arrow);
            arc_checks(g, arc, root, |same, _, out, inp| {
                quote_spanned!(arrow=> #p_at::assert_same_packet::<#same>(); let _ = (#out, #inp);)
            })
        });
    quote!(#( #arcs )*)
}

pub(super) fn local(prefix: &str, i: usize) -> syn::Ident {
    format_ident!("__evoflow_{}{}", prefix, i, span = Span::mixed_site())
}

pub(super) fn builder() -> syn::Ident {
    local("builder", 0)
}

/// Makes instance `i`'s component (or, restarted from its constructor, a
/// closure that makes it: `Fn`, so it cannot move what it uses).
pub(super) fn construct(g: &Graph, i: usize) -> TokenStream {
    let inst = &g.instances[i];
    let (var, ty) = (local("c", i), &inst.decl.ty);
    let init = match &inst.decl.init {
        Some(e) => quote!(#e),
        None => quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default()),
    };
    if g.restarts(i) {
        let span = inst.decl.init.as_ref().map_or(ty.span(), |e| e.span());
        quote_spanned!(span=> let #var = move || -> #ty { #init };)
    } else {
        quote!(let #var: #ty = #init;)
    }
}

/// Adds instance `i` to the builder on `section`, with its supervision.
pub(super) fn add(g: &Graph, root: &TokenStream, i: usize, section: &TokenStream) -> TokenStream {
    let p = quote!(#root::__private);
    let b = builder();
    let inst = &g.instances[i];
    let (iv, cv, ty, name) = (
        local("i", i),
        local("c", i),
        &inst.decl.ty,
        inst.decl.name.to_string(),
    );
    let c = quote_spanned!(ty.span()=> <#ty as #p::rt::Component>);
    let add = if g.restarts(i) {
        quote!(let #iv = #c::__add_built_by(#cv, &mut #b, #name, #section);)
    } else {
        quote!(let #iv = #c::__add_to(#cv, &mut #b, #name, #section);)
    };
    let supervise = inst.decl.on_panic.as_ref().map(|p| {
        let policy = p.tokens(root);
        quote!(#b.supervise(#iv, #policy);)
    });
    let dedicate = (inst.place == Place::Own).then(|| quote!(#b.dedicate(#section);));
    quote!(#add #supervise #dedicate)
}

/// Connects arc `a` within one machine, with its compile-time checks.
pub(super) fn connect(g: &Graph, root: &TokenStream, a: &super::check::Arc) -> TokenStream {
    let p = quote!(#root::__private);
    let b = builder();
    let (fv, tv, cap) = (local("i", a.from), local("i", a.to), a.capacity);
    let arrow = a.decl.arrow.spans[0];
    let p_at = crate::respan(&p, arrow);
    arc_checks(g, a, root, |same, _, out, inp| {
        quote_spanned!(arrow=>
            #p_at::assert_same_packet::<#same>();
            #p_at::connect::<#same>(&mut #b, #fv, #out, #tv, #inp, #cap);
        )
    })
}

/// The constant checks that every port of every instance is connected.
pub(super) fn connected(g: &Graph, root: &TokenStream) -> Vec<TokenStream> {
    let p = quote!(#root::__private);
    let (mut ins, mut outs) = (
        vec![Vec::new(); g.instances.len()],
        vec![Vec::new(); g.instances.len()],
    );
    for a in &g.arcs {
        ins[a.to].push(a.decl.inp.to_string());
        outs[a.from].push(a.decl.out.to_string());
    }
    g.instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let (ins, outs) = (&ins[i], &outs[i]);
            let ty = &inst.decl.ty;
            let c = quote_spanned!(ty.span()=> <#ty as #p::rt::Component>);
            let name = inst.decl.name.to_string();
            let span = inst.decl.name.span();
            let p = crate::respan(&p, span);
            quote_spanned! {span=>
                const _: () = if let ::core::option::Option::Some(e) =
                    #p::check_connected(&#c::META, #name, &[#(#ins),*], &[#(#outs),*])
                {
                    ::core::panic!("{}", e.as_str())
                };
            }
        })
        .collect()
}

pub(crate) fn emit(g: &Graph, root: &TokenStream) -> TokenStream {
    if let Some(machines) = &g.machines {
        return super::machines::emit(g, machines, root);
    }
    let p = quote!(#root::__private);
    let construct = (0..g.instances.len()).map(|i| construct(g, i));
    let b = builder();
    let connects = g.arcs.iter().map(|a| connect(g, root, a));
    let connected = connected(g, root);

    // Each instance with the section it runs on, in an order that adds
    // every section's instances in their run order.
    let super::check::Placement { cost, place, arcs } = g.placement();
    // Each `#[blocking]` instance adds a section (a thread) of its own.
    let own = place.iter().filter(|p| **p == Place::Own).count();
    type Add = Vec<(usize, TokenStream)>;
    let (workers, place, order): (TokenStream, TokenStream, Add) = match &g.workers {
        Workers::Fixed(n) => {
            let sections = evoflow_graph::sections(*n, &cost, &place, &arcs, &g.topo)
                .expect("graph! checked the worker count and the pins");
            let add = sections
                .iter()
                .enumerate()
                .flat_map(|(section, members)| members.iter().map(move |&i| (i, quote!(#section))))
                .collect();
            let total = n + own;
            (quote!(#total), TokenStream::new(), add)
        }
        Workers::RunTime(e) => {
            let (w, at) = (local("workers", 0), local("section", 0));
            let names = g.instances.iter().map(|i| i.decl.name.to_string());
            let place = place.iter().map(|w| match w {
                Place::Free => quote!(#p::Place::Free),
                Place::Worker(k) => quote!(#p::Place::Worker(#k)),
                Place::Own => quote!(#p::Place::Own),
            });
            let arcs = arcs.iter().map(|(f, t)| quote!((#f, #t)));
            let (name, topo) = (&g.name, &g.topo);
            let ty = quote_spanned!(e.span()=> usize);
            let place = quote! {
                let #w: #ty = #e;
                let #at = #p::sections_at_run_time(
                    #name,
                    #w,
                    &[#(#names),*],
                    &[#(#cost),*],
                    &[#(#place),*],
                    &[#(#arcs),*],
                    &[#(#topo),*],
                );
            };
            // Topological order is the run order of every section.
            let add = g.topo.iter().map(|&i| (i, quote!(#at[#i]))).collect();
            (quote!(#w + #own), place, add)
        }
    };
    let add = order
        .into_iter()
        .map(|(i, section)| add(g, root, i, &section));
    let supervision = g.on_panic.as_ref().map(|p| {
        let policy = p.tokens(root);
        quote!(#b.supervision(#policy);)
    });
    let (name, capacity) = (&g.name, g.capacity);
    quote! {{
        #place
        #( #construct )*
        #( #connected )*
        let mut #b = #p::rt::GraphBuilder::new(#name, #workers);
        #b.default_capacity(#capacity);
        #supervision
        #( #add )*
        #( #connects )*
        #b.build().unwrap_or_else(|e| ::core::panic!("evoflow: graph! accepted a graph the runtime refuses: {}", e))
    }}
}
