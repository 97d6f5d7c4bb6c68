//! Emits a graph over several machines: a `Program` whose build closure
//! makes the part on the machine it is given — that machine's instances
//! on its own schedule, the arcs among them, and each arc the placement
//! cuts as one end of a stream to the other machine. A cut arc's packet
//! type must be a serde type: the bound is checked at the arc's arrow.

use super::check::{Arc, Graph, Machine};
use super::emit::{add, arc_checks, builder, connect, connected, construct, local};
use evoflow_graph::Place;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::collections::HashMap;

pub(crate) fn emit(g: &Graph, machines: &[Machine], root: &TokenStream) -> TokenStream {
    let p = quote!(#root::__private);
    let (b, machine, links) = (builder(), local("machine", 0), local("links", 0));
    let supervision = g.on_panic.as_ref().map(|p| {
        let policy = p.tokens(root);
        quote!(#b.supervision(#policy);)
    });
    let (name, capacity) = (&g.name, g.capacity);
    let arms = machines.iter().enumerate().map(|(mi, m)| {
        let on = |i: usize| g.instances[i].machine == mi;
        let mine: Vec<usize> = (0..g.instances.len()).filter(|&i| on(i)).collect();
        let index: HashMap<usize, usize> = mine.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let cost: Vec<u64> = mine.iter().map(|&i| g.instances[i].cost).collect();
        let place: Vec<Place> = mine.iter().map(|&i| g.instances[i].place).collect();
        let arcs: Vec<(usize, usize)> = g
            .arcs
            .iter()
            .filter(|a| on(a.from) && on(a.to))
            .map(|a| (index[&a.from], index[&a.to]))
            .collect();
        let topo: Vec<usize> = g
            .topo
            .iter()
            .filter_map(|i| index.get(i).copied())
            .collect();
        let own = place.iter().filter(|p| **p == Place::Own).count();
        let sections = evoflow_graph::sections(m.workers, &cost, &place, &arcs, &topo)
            .expect("graph! checked the worker counts and the pins");
        let add: Vec<TokenStream> = sections
            .iter()
            .enumerate()
            .flat_map(|(section, members)| members.iter().map(move |&k| (section, k)))
            .map(|(section, k)| add(g, root, mine[k], &quote!(#section)))
            .collect();
        let construct = mine.iter().map(|&i| construct(g, i));
        let within = g
            .arcs
            .iter()
            .filter(|a| on(a.from) && on(a.to))
            .map(|a| connect(g, root, a));
        let cut = g
            .arcs
            .iter()
            .enumerate()
            .filter(|(_, a)| on(a.from) != on(a.to))
            .map(|(k, a)| cut(g, root, machines, k as u64, a, on(a.from), &links));
        let through = through(g, mi).into_iter().map(|(u, v)| {
            let (u, v) = (local("i", u), local("i", v));
            quote!(#b.path_through_machines(#u, #v);)
        });
        let (m_name, total) = (m.name.to_string(), m.workers + own);
        quote! {
            #m_name => {
                #( #construct )*
                let mut #b = #p::rt::GraphBuilder::new(#name, #total);
                #b.default_capacity(#capacity);
                #supervision
                #( #add )*
                #( #within )*
                #( #cut )*
                #( #through )*
                ::core::result::Result::Ok(#b.build()?)
            }
        }
    });
    let list = machines.iter().map(|m| {
        let (n, w) = (m.name.to_string(), m.workers);
        quote!((#n, #w))
    });
    let connected = connected(g, root);
    quote! {{
        #( #connected )*
        #p::machines::Program::new(
            #name,
            &[#( #list ),*],
            move |#machine: &str, #links: &mut #p::machines::Links<'_>|
                -> ::core::result::Result<#p::rt::Graph, #p::machines::MachineError>
            {
                match #machine {
                    #( #arms )*
                    other => ::core::unreachable!("`run_on` refuses machine {:?}", other),
                }
            },
        )
    }}
}

/// Pairs `(u, v)` of machine `m`'s instances such that a path leaves `m`
/// at `u` and comes back at `v`: an update on `m` that changes instances
/// on both sides of such a path is refused at run time (its markers would
/// have to cross machines).
fn through(g: &Graph, m: usize) -> Vec<(usize, usize)> {
    let on = |i: usize| g.instances[i].machine == m;
    let mut pairs = Vec::new();
    for out in g.arcs.iter().filter(|a| on(a.from) && !on(a.to)) {
        let mut seen = vec![false; g.instances.len()];
        let mut todo = vec![out.to];
        seen[out.to] = true;
        while let Some(i) = todo.pop() {
            for a in g.arcs.iter().filter(|a| a.from == i) {
                if !seen[a.to] {
                    seen[a.to] = true;
                    todo.push(a.to);
                }
            }
        }
        for back in g
            .arcs
            .iter()
            .filter(|a| on(a.to) && !on(a.from) && seen[a.from])
        {
            if !pairs.contains(&(out.from, back.to)) {
                pairs.push((out.from, back.to));
            }
        }
    }
    pairs
}

/// One end of arc `k`, which crosses machines: the sending end if this
/// machine has its producer, else the receiving end.
fn cut(
    g: &Graph,
    root: &TokenStream,
    machines: &[Machine],
    k: u64,
    a: &Arc,
    sending: bool,
    links: &syn::Ident,
) -> TokenStream {
    let p = quote!(#root::__private);
    let b = builder();
    let d = &a.decl;
    let label = format!("{}.{} -> {}.{}", d.from, d.out, d.to, d.inp);
    let (from_end, to_end) = (
        format!("{}.{}", d.from, d.out),
        format!("{}.{}", d.to, d.inp),
    );
    let other = if sending { a.to } else { a.from };
    let peer = machines[g.instances[other].machine].name.to_string();
    let (fv, tv, cap, link) = (
        local("i", a.from),
        local("i", a.to),
        a.capacity,
        local("link", k as usize),
    );
    let arrow = d.arrow.spans[0];
    let p_at = crate::respan(&p, arrow);
    arc_checks(g, a, root, |same, packet, out, inp| {
        let end = if sending {
            quote_spanned!(arrow=>
                let #link = #links.sender::<#packet>(#k, #label, #peer, #cap)?;
                #b.connect_to_machine::<#packet>(#fv, #out, #to_end, #link)?;
            )
        } else {
            quote_spanned!(arrow=>
                let #link = #links.receiver::<#packet>(#k, #label, #peer, #cap)?;
                #b.connect_from_machine::<#packet>(#tv, #inp, #from_end, #link)?;
            )
        };
        quote_spanned!(arrow=>
            #p_at::assert_same_packet::<#same>();
            let _ = (#out, #inp);
            #end
        )
    })
}
