//! Reads `#[component(version = N, outputs(name: Type, ...))]` and the
//! handler methods of the impl block into a [`Spec`].

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitInt, ReturnType, Token, Type};

/// A declared output port.
pub(crate) struct Output {
    pub name: Ident,
    pub ty: Type,
}

/// The attribute's arguments.
pub(crate) struct Args {
    pub version: Option<LitInt>,
    pub outputs: Vec<Output>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args {
            version: None,
            outputs: Vec::new(),
        };
        let mut seen_outputs = false;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "version" {
                if args.version.is_some() {
                    return Err(Error::new(key.span(), "`version` is given twice"));
                }
                input.parse::<Token![=]>()?;
                let v: LitInt = input.parse()?;
                v.base10_parse::<u32>().map_err(|_| {
                    Error::new(
                        v.span(),
                        "`version` must be a whole number that fits in u32",
                    )
                })?;
                args.version = Some(v);
            } else if key == "outputs" {
                if seen_outputs {
                    return Err(Error::new(
                        key.span(),
                        "`outputs(...)` is given twice; list all outputs in one",
                    ));
                }
                seen_outputs = true;
                let content;
                syn::parenthesized!(content in input);
                let ports = Punctuated::<PortDecl, Token![,]>::parse_terminated(&content)?;
                for p in ports {
                    if let Some(prev) = args.outputs.iter().find(|o| o.name == p.name) {
                        let mut e = Error::new(
                            p.name.span(),
                            format!("output port `{}` is declared twice", p.name),
                        );
                        e.combine(Error::new(prev.name.span(), "first declared here"));
                        return Err(e);
                    }
                    args.outputs.push(Output {
                        name: p.name,
                        ty: p.ty,
                    });
                }
            } else {
                return Err(Error::new(
                    key.span(),
                    format!("unknown component option `{key}`; expected `version = N` or `outputs(name: Type, ...)`"),
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

struct PortDecl {
    name: Ident,
    ty: Type,
}

impl Parse for PortDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        Ok(PortDecl {
            name,
            ty: input.parse()?,
        })
    }
}

/// An `#[input]` handler: `fn port(&mut self, packet: T [, out: &mut Outputs<Self>])`.
pub(crate) struct Input {
    pub name: Ident,
    pub ty: Type,
    pub takes_outputs: bool,
}

/// A `#[source]` or `#[on_end]` method: `fn name(&mut self [, out])`.
pub(crate) struct Hook {
    pub name: Ident,
    pub takes_outputs: bool,
}

/// Everything the emitter needs.
pub(crate) struct Spec {
    pub item: ItemImpl,
    pub self_ty: Type,
    pub type_name: Ident,
    pub version: u32,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub source: Option<Hook>,
    pub on_end: Option<Hook>,
}

#[derive(PartialEq)]
enum Role {
    Input,
    Source,
    OnEnd,
}

/// Removes evoflow's marker attribute from a method and says which it was.
fn take_role(f: &mut ImplItemFn) -> syn::Result<Option<(Role, proc_macro2::Span)>> {
    let mut role = None;
    let mut err: Option<Error> = None;
    f.attrs.retain(|a| {
        let r = if a.path().is_ident("input") {
            Role::Input
        } else if a.path().is_ident("source") {
            Role::Source
        } else if a.path().is_ident("on_end") {
            Role::OnEnd
        } else {
            return true;
        };
        if role.is_some() {
            err.get_or_insert_with(|| {
                Error::new(
                    a.span(),
                    "a method can be only one of `#[input]`, `#[source]`, `#[on_end]`",
                )
            });
        }
        role = Some((r, a.span()));
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(role),
    }
}

fn check_receiver(f: &ImplItemFn) -> syn::Result<()> {
    match f.sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => Ok(()),
        _ => Err(Error::new(
            f.sig.span(),
            format!("`{}` must take `&mut self`", f.sig.ident),
        )),
    }
}

fn check_unit_return(f: &ImplItemFn) -> syn::Result<()> {
    match &f.sig.output {
        ReturnType::Default => Ok(()),
        ReturnType::Type(_, t) => Err(Error::new(
            t.span(),
            "an `#[input]` or `#[on_end]` handler returns nothing; emit packets through its outputs argument instead",
        )),
    }
}

fn check_plain(f: &ImplItemFn) -> syn::Result<()> {
    if let Some(p) = f.sig.generics.params.first() {
        return Err(Error::new(p.span(), "handlers cannot be generic"));
    }
    if let Some(a) = &f.sig.asyncness {
        return Err(Error::new(a.span(), "handlers cannot be `async`"));
    }
    Ok(())
}

impl Spec {
    pub(crate) fn from_impl(args: Args, mut item: ItemImpl) -> syn::Result<Self> {
        if let Some((_, path, _)) = &item.trait_ {
            return Err(Error::new(
                path.span(),
                "`#[component]` goes on an inherent `impl Type { ... }` block, not a trait impl",
            ));
        }
        if !item.generics.params.is_empty() {
            return Err(Error::new(
                item.generics.span(),
                "generic components are not supported; make the type concrete",
            ));
        }
        let type_name = match &*item.self_ty {
            Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
            _ => None,
        }
        .ok_or_else(|| {
            Error::new(
                item.self_ty.span(),
                "`#[component]` needs a named struct or enum type",
            )
        })?;

        let mut inputs = Vec::new();
        let mut source: Option<Hook> = None;
        let mut on_end: Option<Hook> = None;
        for it in &mut item.items {
            let ImplItem::Fn(f) = it else { continue };
            let Some((role, span)) = take_role(f)? else {
                continue;
            };
            check_receiver(f)?;
            check_plain(f)?;
            let args: Vec<&FnArg> = f.sig.inputs.iter().skip(1).collect();
            match role {
                Role::Input => {
                    check_unit_return(f)?;
                    let Some(FnArg::Typed(packet)) = args.first() else {
                        return Err(Error::new(
                            f.sig.span(),
                            format!(
                                "input handler `{}` needs the packet as its argument: `fn {}(&mut self, packet: T)`",
                                f.sig.ident, f.sig.ident
                            ),
                        ));
                    };
                    if args.len() > 2 {
                        return Err(Error::new(args[2].span(), "an input handler takes the packet and, optionally, `out: &mut Outputs<Self>`; nothing else"));
                    }
                    inputs.push(Input {
                        name: f.sig.ident.clone(),
                        ty: (*packet.ty).clone(),
                        takes_outputs: args.len() == 2,
                    });
                }
                Role::Source | Role::OnEnd => {
                    if args.len() > 1 {
                        return Err(Error::new(
                            args[1].span(),
                            "this method takes at most `out: &mut Outputs<Self>`",
                        ));
                    }
                    let hook = Hook {
                        name: f.sig.ident.clone(),
                        takes_outputs: args.len() == 1,
                    };
                    let (slot, what) = if role == Role::Source {
                        if matches!(f.sig.output, ReturnType::Default) {
                            return Err(Error::new(
                                f.sig.span(),
                                "a `#[source]` method returns `evoflow::Flow` (Continue, Idle or Done)",
                            ));
                        }
                        (&mut source, "#[source]")
                    } else {
                        check_unit_return(f)?;
                        (&mut on_end, "#[on_end]")
                    };
                    if slot.is_some() {
                        return Err(Error::new(
                            span,
                            format!("a component has at most one `{what}` method"),
                        ));
                    }
                    *slot = Some(hook);
                }
            }
        }
        if source.is_none() && inputs.is_empty() {
            return Err(Error::new(
                item.self_ty.span(),
                format!(
                    "component `{type_name}` has no `#[input]` handler and no `#[source]` method; add at least one"
                ),
            ));
        }
        if let (Some(s), Some(i)) = (&source, inputs.first()) {
            let mut e = Error::new(
                s.name.span(),
                "a `#[source]` component cannot also have `#[input]` handlers",
            );
            e.combine(Error::new(i.name.span(), "input handler declared here"));
            return Err(e);
        }
        let version = match &args.version {
            Some(v) => v.base10_parse()?,
            None => 1,
        };
        Ok(Spec {
            self_ty: (*item.self_ty).clone(),
            item,
            type_name,
            version,
            inputs,
            outputs: args.outputs,
            source,
            on_end,
        })
    }
}
