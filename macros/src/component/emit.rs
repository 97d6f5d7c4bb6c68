//! Emits the glue of a component: its ports structs, the `Component` impl
//! (metadata and dispatch) and one `InputAt`/`OutputAt` impl per port on the
//! ports structs, which is how `graph!` finds a port's packet type by name at
//! compile time. The `Component` impl is the only one for the user's type,
//! so two `#[component]` blocks for one type make one error, the conflicting
//! `Component` impls, shown at both blocks (plus one at each emit through
//! `Outputs<Self>` in them: with two impls, the type's outputs are
//! ambiguous).
//!
//! All of it but the user's impl block goes into an anonymous `const _`
//! block: the generated names are visible nowhere else, so they cannot
//! collide with the user's items nor with the glue of another component
//! (several concrete impls of one generic type are several components).

use super::parse::Spec;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

/// The glue of `spec`. `failed`: errors were reported, so the glue only has
/// to keep rustc from adding errors of its own.
pub(crate) fn emit(spec: &Spec, code: u64, root: &TokenStream, failed: bool) -> TokenStream {
    let Spec {
        self_ty,
        type_name: _,
        name,
        version,
        state,
        inputs,
        outputs,
        source,
        on_end,
        migrations,
        handover,
        takeover,
        recovers,
        downgrades,
        stray_emits,
    } = spec;
    let name_str = name;
    let p = quote!(#root::__private);
    let rt = quote!(#p::rt);

    // Seen only inside the `const _` block, where only generated code and
    // the user's types appear: no user writes these names.
    let outputs_ty = format_ident!("__EvoflowOutputs");
    let inputs_ty = format_ident!("__EvoflowInputs");
    // The ports structs are generic over their packet types, which only the
    // `Component` impl names. The structs are `pub` (a public component's
    // `Inputs` must be), and a private packet type named in an impl on a
    // public type would be an error (E0446); named in the `Component` impl
    // it needs, as before, to be as visible as the component.
    let params =
        |n: usize| -> Vec<syn::Ident> { (0..n).map(|i| format_ident!("__P{}", i)).collect() };

    let (outputs_decl, outputs_path) = if outputs.is_empty() && stray_emits.is_empty() {
        (quote!(), quote!(#p::NoOutputs))
    } else {
        let names: Vec<_> = outputs.iter().map(|o| &o.name).collect();
        let tys = params(outputs.len());
        let idx = 0..outputs.len();
        let len = outputs.len();
        let docs = names
            .iter()
            .map(|n| format!("Emits a packet on output `{n}`."));
        let doc = format!("Output ports of `{name_str}`; handlers emit through its methods.");
        // Only when errors were reported: what a handler emits on a port
        // that does not exist compiles, so the error is ours alone.
        let stray = failed.then(|| quote!(#( pub fn #stray_emits<T>(&mut self, _: T) {} )*));
        let decl = quote! {
            #[doc = #doc]
            pub struct #outputs_ty<#( #tys ),*> { #( #names: #p::OutPort<#tys>, )* }

            impl<#( #tys: ::core::marker::Send + 'static ),*> #outputs_ty<#( #tys ),*> {
                #(
                    #[doc = #docs]
                    #[inline]
                    pub fn #names(&mut self, packet: #tys) { self.#names.send(packet) }
                )*
                #stray
            }

            impl<#( #tys: ::core::marker::Send + 'static ),*> #p::OutputSet for #outputs_ty<#( #tys ),*> {
                const LEN: usize = #len;
                #[allow(unused_mut, unused_variables)]
                fn from_ends(ends: ::std::vec::Vec<#p::End>) -> Self {
                    let mut ends = ends.into_iter();
                    #outputs_ty { #( #names: #p::OutPort::from_end(ends.next().expect("one arc end per output")), )* }
                }
                fn into_ends(self) -> ::std::vec::Vec<#p::End> {
                    ::std::vec![ #( self.#names.into_end() ),* ]
                }
                fn port(&mut self, port: usize) -> &mut dyn #p::ErasedOutPort {
                    match port {
                        #( #idx => &mut self.#names, )*
                        _ => ::core::unreachable!("no output port {}", port),
                    }
                }
            }
        };
        let packets = outputs.iter().map(|o| &o.ty);
        (decl, quote!(#outputs_ty<#( #packets ),*>))
    };

    let (inputs_decl, inputs_path) = if inputs.is_empty() {
        (quote!(), quote!(#p::NoInputs))
    } else {
        let names: Vec<_> = inputs.iter().map(|i| &i.name).collect();
        let tys = params(inputs.len());
        let idx = 0..inputs.len();
        let idx2 = 0..inputs.len();
        let len = inputs.len();
        let decl = quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            pub struct #inputs_ty<#( #tys ),*> { #( #names: #p::InPort<#tys>, )* }

            impl<#( #tys: ::core::marker::Send + 'static ),*> #p::InputSet for #inputs_ty<#( #tys ),*> {
                const LEN: usize = #len;
                fn from_ends(ends: ::std::vec::Vec<::std::vec::Vec<#p::End>>) -> Self {
                    let mut ends = ends.into_iter();
                    #inputs_ty { #( #names: #p::InPort::from_ends(ends.next().expect("arc ends per input")), )* }
                }
                fn into_ends(self) -> ::std::vec::Vec<::std::vec::Vec<#p::End>> {
                    ::std::vec![ #( self.#names.into_ends() ),* ]
                }
                fn port(&self, port: usize) -> &dyn #p::ErasedInPort {
                    match port {
                        #( #idx => &self.#names, )*
                        _ => ::core::unreachable!("no input port {}", port),
                    }
                }
                fn port_mut(&mut self, port: usize) -> &mut dyn #p::ErasedInPort {
                    match port {
                        #( #idx2 => &mut self.#names, )*
                        _ => ::core::unreachable!("no input port {}", port),
                    }
                }
            }
        };
        let packets = inputs.iter().map(|i| &i.ty);
        (decl, quote!(#inputs_ty<#( #packets ),*>))
    };

    let port_meta = |name: &syn::Ident, ty: &syn::Type| {
        let n = name.to_string();
        quote!(#rt::PortMeta::of::<#ty>(#n))
    };
    let in_meta = inputs.iter().map(|i| port_meta(&i.name, &i.ty));
    let out_meta = outputs.iter().map(|o| port_meta(&o.name, &o.ty));

    let drain_arms = inputs.iter().enumerate().map(|(i, input)| {
        let name = &input.name;
        let ty = &input.ty;
        if input.takes_outputs {
            // The outputs are moved into a local (see `with_local`) only
            // for a drain with something to hand over: an instance's
            // idle visits copy nothing.
            quote!(#i => if inputs.#name.may_have_items(arc) {
                #p::with_local(outputs, |outputs| {
                    (&#p::DrainProbe::<#ty>::NEW).drain(&mut inputs.#name, arc, budget, |p| self.#name(p, outputs))
                })
            } else {
                #p::Drained::default()
            },)
        } else {
            quote!(#i => (&#p::DrainProbe::<#ty>::NEW).drain(&mut inputs.#name, arc, budget, |p| self.#name(p)),)
        }
    });
    let drain = if inputs.is_empty() {
        quote!(let _ = (inputs, outputs, arc, budget); ::core::unreachable!("a source has no input port {}", port))
    } else {
        quote!(
            use #p::{DrainKeeping as _, DrainPlain as _};
            let _ = &outputs;
            match port {
                #( #drain_arms )*
                _ => ::core::unreachable!("no input port {}", port),
            }
        )
    };
    let hook_call = |h: &super::parse::Hook| {
        let name = &h.name;
        if h.takes_outputs {
            quote!(self.#name(outputs))
        } else {
            quote!({ let _ = outputs; self.#name() })
        }
    };
    let generate = source.as_ref().map(|s| {
        let call = hook_call(s);
        let span = s.name.span();
        quote_spanned!(span=> #[inline] fn __generate(&mut self, outputs: &mut #outputs_path) -> #rt::Flow { #call })
    });
    let finish = on_end.as_ref().map(|h| {
        let call = hook_call(h);
        quote!(fn __finish(&mut self, outputs: &mut #outputs_path) { #call; })
    });

    let polls = source.is_some();
    let mig_from = migrations.iter().map(|m| m.from);
    let mig_to = migrations.iter().map(|m| m.to);
    let state_glue = state.then(|| {
        let steps = migrations.iter().map(|m| {
            let (name, from, to, old) = (&m.name, m.from, m.to, &m.old);
            let call = quote!(<#self_ty>::#name(state.decode::<#old>()?));
            if to != *version {
                quote!(#from => state = #rt::State::encode(#name_str, #to, &#call)?,)
            } else if m.fallible {
                quote!(#from => return #call.map_err(|e| #rt::StateError(::std::string::ToString::to_string(&e))),)
            } else {
                quote!(#from => return ::core::result::Result::Ok(#call),)
            }
        });
        quote! {
            fn __export(&self) -> ::core::result::Result<#rt::State, #rt::StateError> {
                #rt::State::encode(#name_str, #version, self)
            }
            fn __import(mut state: #rt::State) -> ::core::result::Result<Self, #rt::StateError> {
                loop {
                    if state.version == #version {
                        return state.decode::<Self>();
                    }
                    match state.version {
                        #( #steps )*
                        v => return ::core::result::Result::Err(#rt::StateError(::std::format!(
                            "`{}` v{} has no migration from version {} (state of `{}`)",
                            #name_str, #version, v, state.component
                        ))),
                    }
                }
            }
        }
    });
    let down_to = downgrades.iter().map(|d| d.to);
    let with_state = state.then(|| {
        quote!(.with_state(
            &[ #( #rt::Migration::new(#mig_from, #mig_to) ),* ],
            &[ #( #down_to ),* ],
        ))
    });
    let downgrade = (!downgrades.is_empty()).then(|| {
        let arms = downgrades.iter().map(|d| {
            let (name, to) = (&d.name, d.to);
            quote!(#to => ::core::option::Option::Some(#rt::State::encode(#name_str, #to, &self.#name())),)
        });
        quote! {
            fn __downgrade(&self, to: u32) -> ::core::option::Option<::core::result::Result<#rt::State, #rt::StateError>> {
                match to {
                    #( #arms )*
                    _ => ::core::option::Option::None,
                }
            }
        }
    });
    let handover_fn = handover
        .as_ref()
        .map(|h| quote!(fn __handover(&mut self, r: &mut #rt::Resources) { self.#h(r) }));
    let takeover_fn = takeover
        .as_ref()
        .map(|h| quote!(fn __takeover(&mut self, r: &mut #rt::Resources) { self.#h(r) }));

    let recover = (!recovers.is_empty()).then(|| {
        let arms = recovers.iter().map(|r| {
            let (i, input) = inputs
                .iter()
                .enumerate()
                .find(|(_, i)| i.name == r.port)
                .expect("checked by the parser");
            let (name, ty) = (&r.name, &input.ty);
            let call = if r.takes_outputs {
                quote!(self.#name(*p, outputs))
            } else {
                quote!(self.#name(*p))
            };
            quote!(#i => if let ::core::result::Result::Ok(p) = packet.downcast::<#ty>() { #call },)
        });
        quote! {
            fn __recover(
                &mut self,
                port: usize,
                packet: ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                outputs: &mut #outputs_path,
            ) {
                let _ = &outputs;
                match port {
                    #( #arms )*
                    _ => {}
                }
            }
        }
    });
    // A `#[recover]` method only ever gets packets that were kept.
    let recoverable = recovers.iter().map(|r| {
        let ty = &inputs
            .iter()
            .find(|i| i.name == r.port)
            .expect("checked by the parser")
            .ty;
        let root = crate::respan(root, r.port.span());
        quote_spanned! {r.port.span()=>
            const _: fn() = || {
                fn kept<T: #root::Recoverable>() {}
                kept::<#ty>();
            };
        }
    });

    let port_at = |tr: TokenStream, ty: &syn::Ident, n: usize| {
        let ps = params(n);
        ps.iter()
            .enumerate()
            .map(|(i, p)| {
                quote!(impl<#( #ps: ::core::marker::Send + 'static ),*> #tr<#i> for #ty<#( #ps ),*> { type Packet = #p; })
            })
            .collect::<Vec<_>>()
    };
    let input_at = port_at(quote!(#p::InputAt), &inputs_ty, inputs.len());
    let output_at = port_at(quote!(#p::OutputAt), &outputs_ty, outputs.len());

    quote! {
        const _: () = {
        #outputs_decl
        #inputs_decl

        // The ports types are written out rather than as `Self::Inputs`:
        // with two `#[component]` blocks for one type the projection is
        // ambiguous, and the one error should be the conflicting impls.
        impl #rt::Component for #self_ty {
            type Inputs = #inputs_path;
            type Outputs = #outputs_path;
            const META: #rt::ComponentMeta = #rt::ComponentMeta::new(
                #name_str,
                #version,
                &[ #( #in_meta ),* ],
                &[ #( #out_meta ),* ],
            )
            .polling(#polls)
            #with_state
            .with_code(#code);
            #[inline]
            fn __drain(
                &mut self,
                inputs: &mut #inputs_path,
                outputs: &mut #outputs_path,
                port: usize,
                arc: usize,
                budget: usize,
            ) -> #p::Drained {
                #drain
            }
            #generate
            #finish
            #state_glue
            #handover_fn
            #takeover_fn
            #recover
            #downgrade
        }
        #( #recoverable )*
        #( #input_at )*
        #( #output_at )*
        };
    }
}
