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
    /// `state`: export and import the component's fields through serde.
    pub state: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args {
            version: None,
            outputs: Vec::new(),
            state: false,
        };
        let mut seen_outputs = false;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "state" {
                if args.state {
                    return Err(Error::new(key.span(), "`state` is given twice"));
                }
                args.state = true;
            } else if key == "version" {
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
                    format!("unknown component option `{key}`; expected `version = N`, `state` or `outputs(name: Type, ...)`"),
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

/// A `#[migrate(from = F [, to = T])]` function: `fn name(old: S) -> R`.
pub(crate) struct Migrate {
    pub name: Ident,
    pub from: u32,
    pub to: u32,
    /// Type of the old state it reads.
    pub old: Type,
    /// Returns `Result<_, E>` rather than the value itself.
    pub fallible: bool,
}

/// Everything the emitter needs.
pub(crate) struct Spec {
    pub item: ItemImpl,
    pub self_ty: Type,
    pub type_name: Ident,
    /// The component's name in its metadata: the type's last path segment
    /// with its generic arguments (`Forward<u64>`).
    pub name: String,
    pub version: u32,
    pub state: bool,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub source: Option<Hook>,
    pub on_end: Option<Hook>,
    pub migrations: Vec<Migrate>,
    pub handover: Option<Ident>,
    pub takeover: Option<Ident>,
    pub recovers: Vec<Recover>,
    pub downgrades: Vec<Downgrade>,
}

/// A `#[migrate(down = N)]` method: `fn name(&self) -> S`, the state as
/// version `N` reads it (for the rollback of a watched update).
pub(crate) struct Downgrade {
    pub name: Ident,
    pub to: u32,
}

/// A `#[recover(port)]` method: `fn name(&mut self, packet: T [, out])`,
/// given back a packet of input `port` whose handler panicked.
pub(crate) struct Recover {
    pub name: Ident,
    pub port: Ident,
    pub takes_outputs: bool,
}

enum Role {
    Input,
    Source,
    Poll,
    OnEnd,
    Migrate { from: u32, to: Option<u32> },
    Downgrade { to: u32 },
    Handover,
    Takeover,
    Recover(Ident),
}

const ROLES: &str =
    "`#[input]`, `#[source]`, `#[on_end]`, `#[migrate(from = N)]`, `#[handover]`, `#[takeover]`, `#[recover(port)]`";

fn parse_migrate(a: &syn::Attribute) -> syn::Result<Role> {
    let (mut from, mut to, mut down) = (None, None, None);
    a.parse_nested_meta(|m| {
        let slot = if m.path.is_ident("from") {
            &mut from
        } else if m.path.is_ident("to") {
            &mut to
        } else if m.path.is_ident("down") {
            &mut down
        } else {
            return Err(m.error("expected `from = N`, `to = N` or `down = N`"));
        };
        let v: LitInt = m.value()?.parse()?;
        *slot = Some(v.base10_parse::<u32>()?);
        Ok(())
    })
    .map_err(|_| Error::new(a.span(), "write `#[migrate(from = N)]` (or `#[migrate(from = N, to = M)]` for a step to an older version, or `#[migrate(down = N)]` for a downgrade to version N)"))?;
    match (down, from, to) {
        (Some(to), None, None) => return Ok(Role::Downgrade { to }),
        (Some(_), _, _) => {
            return Err(Error::new(
                a.span(),
                "a downgrade is `#[migrate(down = N)]` alone: `from` and `to` belong to upgrades",
            ))
        }
        _ => {}
    }
    let from = from.ok_or_else(|| {
        Error::new(
            a.span(),
            "`#[migrate]` needs `from = N`: the version whose state it reads",
        )
    })?;
    Ok(Role::Migrate { from, to })
}

/// Removes evoflow's marker attribute from a method and says which it was.
fn take_role(f: &mut ImplItemFn) -> syn::Result<Option<(Role, proc_macro2::Span)>> {
    let mut role = None;
    let mut err: Option<Error> = None;
    let mut keep = Vec::new();
    for a in f.attrs.drain(..) {
        let r = if a.path().is_ident("input") {
            Role::Input
        } else if a.path().is_ident("source") {
            Role::Source
        } else if a.path().is_ident("poll") {
            Role::Poll
        } else if a.path().is_ident("on_end") {
            Role::OnEnd
        } else if a.path().is_ident("handover") {
            Role::Handover
        } else if a.path().is_ident("takeover") {
            Role::Takeover
        } else if a.path().is_ident("recover") {
            match a.parse_args::<Ident>() {
                Ok(port) => Role::Recover(port),
                Err(_) => {
                    err.get_or_insert(Error::new(
                        a.span(),
                        "write `#[recover(port)]`, naming the input whose packets it gets back",
                    ));
                    continue;
                }
            }
        } else if a.path().is_ident("migrate") {
            match parse_migrate(&a) {
                Ok(r) => r,
                Err(e) => {
                    err.get_or_insert(e);
                    continue;
                }
            }
        } else {
            keep.push(a);
            continue;
        };
        if role.is_some() {
            err.get_or_insert_with(|| {
                Error::new(a.span(), format!("a method can have only one of {ROLES}"))
            });
        }
        role = Some((r, a.path().span()));
    }
    f.attrs = keep;
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
            "this method returns nothing; emit packets through its outputs argument instead",
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

/// True if `ty` is `Self` or names the component's own type.
fn is_self(ty: &Type, name: &Ident) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && (p.path.is_ident("Self") || p.path.segments.last().is_some_and(|s| s.ident == *name)))
}

/// The last segment of a type path as a user writes it: `Forward<u64>`.
fn label(segment: &syn::PathSegment) -> String {
    let mut s = quote::quote!(#segment).to_string();
    for (from, to) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        (" ::", "::"),
        (":: ", "::"),
    ] {
        s = s.replace(from, to);
    }
    s
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    span: proc_macro2::Span,
    what: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(Error::new(
            span,
            format!("a component has at most one `{what}` method"),
        ));
    }
    *slot = Some(value);
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
        if let Some(param) = item.generics.params.first() {
            let msg = match param {
                syn::GenericParam::Lifetime(l) => format!(
                    "a component cannot borrow for `{}`: it is moved to a worker thread and lives as long as the graph, so it must be `'static`; make it own its data (`String` rather than `&str`, `Arc<T>` rather than `&T`)",
                    l.lifetime
                ),
                _ => "generic components are not supported; write one `#[component] impl Type<Concrete> { ... }` per type argument you use".to_owned(),
            };
            return Err(Error::new(param.span(), msg));
        }
        let segment = match &*item.self_ty {
            Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
            _ => None,
        };
        let name = segment.map(label).unwrap_or_default();
        let type_name = segment.map(|s| s.ident.clone()).ok_or_else(|| {
            Error::new(
                item.self_ty.span(),
                "`#[component]` needs a named struct or enum type",
            )
        })?;
        let version = match &args.version {
            Some(v) => v.base10_parse()?,
            None => 1,
        };

        let mut spec = Spec {
            self_ty: (*item.self_ty).clone(),
            item: item.clone(),
            type_name,
            name,
            version,
            state: args.state,
            inputs: Vec::new(),
            outputs: args.outputs,
            source: None,
            on_end: None,
            migrations: Vec::new(),
            handover: None,
            takeover: None,
            recovers: Vec::new(),
            downgrades: Vec::new(),
        };
        let mut poll_span = None;
        for it in &mut item.items {
            let ImplItem::Fn(f) = it else { continue };
            let Some((role, span)) = take_role(f)? else {
                continue;
            };
            check_plain(f)?;
            let args: Vec<&FnArg> = f.sig.inputs.iter().skip(1).collect();
            let name = f.sig.ident.clone();
            match role {
                Role::Input => {
                    check_receiver(f)?;
                    check_unit_return(f)?;
                    let Some(FnArg::Typed(packet)) = args.first() else {
                        return Err(Error::new(
                            f.sig.span(),
                            format!("input handler `{name}` needs the packet as its argument: `fn {name}(&mut self, packet: T)`"),
                        ));
                    };
                    if args.len() > 2 {
                        return Err(Error::new(
                            args[2].span(),
                            "an input handler takes the packet and, optionally, `out: &mut Outputs<Self>`; nothing else",
                        ));
                    }
                    spec.inputs.push(Input {
                        name,
                        ty: (*packet.ty).clone(),
                        takes_outputs: args.len() == 2,
                    });
                }
                Role::Source | Role::Poll | Role::OnEnd => {
                    check_receiver(f)?;
                    if args.len() > 1 {
                        return Err(Error::new(
                            args[1].span(),
                            "this method takes at most `out: &mut Outputs<Self>`",
                        ));
                    }
                    let hook = Hook {
                        name,
                        takes_outputs: args.len() == 1,
                    };
                    if matches!(role, Role::Source | Role::Poll) {
                        if matches!(f.sig.output, ReturnType::Default) {
                            return Err(Error::new(
                                f.sig.span(),
                                "a `#[source]` or `#[poll]` method returns `evoflow::Flow` (Continue, Idle or Done)",
                            ));
                        }
                        if matches!(role, Role::Poll) {
                            poll_span = Some(span);
                        }
                        set_once(&mut spec.source, hook, span, "#[source]` or `#[poll]")?;
                    } else {
                        check_unit_return(f)?;
                        set_once(&mut spec.on_end, hook, span, "#[on_end]")?;
                    }
                }
                Role::Handover | Role::Takeover => {
                    check_receiver(f)?;
                    check_unit_return(f)?;
                    if args.len() != 1 {
                        return Err(Error::new(
                            f.sig.span(),
                            "this method takes `resources: &mut evoflow::Resources`",
                        ));
                    }
                    if matches!(role, Role::Handover) {
                        set_once(&mut spec.handover, name, span, "#[handover]")?;
                    } else {
                        set_once(&mut spec.takeover, name, span, "#[takeover]")?;
                    }
                }
                Role::Downgrade { to } => {
                    if !spec.state {
                        return Err(Error::new(
                            span,
                            "`#[migrate(down = N)]` needs the component to carry its state: write `#[component(state, ...)]`",
                        ));
                    }
                    if to >= version {
                        return Err(Error::new(
                            span,
                            format!("a downgrade goes to an older version than this component's {version}"),
                        ));
                    }
                    if spec.downgrades.iter().any(|d| d.to == to) {
                        return Err(Error::new(
                            span,
                            format!("there is already a downgrade to version {to}"),
                        ));
                    }
                    let by_ref = matches!(f.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none());
                    if !by_ref
                        || f.sig.inputs.len() != 1
                        || matches!(f.sig.output, ReturnType::Default)
                    {
                        return Err(Error::new(
                            f.sig.span(),
                            format!("a downgrade reads the state and returns it as version {to} reads it: `fn {name}(&self) -> StateV{to}`"),
                        ));
                    }
                    spec.downgrades.push(Downgrade { name, to });
                }
                Role::Recover(port) => {
                    check_receiver(f)?;
                    check_unit_return(f)?;
                    if args.is_empty() || args.len() > 2 {
                        return Err(Error::new(
                            f.sig.span(),
                            format!("a `#[recover]` method takes the packet and, optionally, `out: &mut Outputs<Self>`: `fn {name}(&mut self, packet: T)`"),
                        ));
                    }
                    if spec.recovers.iter().any(|r| r.port == port) {
                        return Err(Error::new(
                            port.span(),
                            format!("input `{port}` already has a `#[recover]` method"),
                        ));
                    }
                    spec.recovers.push(Recover {
                        name,
                        port,
                        takes_outputs: args.len() == 2,
                    });
                }
                Role::Migrate { from, to } => {
                    if !spec.state {
                        return Err(Error::new(
                            span,
                            "`#[migrate]` needs the component to carry its state: write `#[component(state, ...)]`",
                        ));
                    }
                    let to = to.unwrap_or(version);
                    if from >= to || to > version {
                        return Err(Error::new(
                            span,
                            format!("a migration goes from an older version to a newer one, at most this component's version {version}"),
                        ));
                    }
                    if spec.migrations.iter().any(|m| m.from == from) {
                        return Err(Error::new(
                            span,
                            format!("there is already a migration from version {from}"),
                        ));
                    }
                    let (Some(FnArg::Typed(old)), 1) = (f.sig.inputs.first(), f.sig.inputs.len())
                    else {
                        return Err(Error::new(
                            f.sig.span(),
                            format!("a migration takes the old state by value and no `self`: `fn {name}(old: StateV{from}) -> Self`"),
                        ));
                    };
                    let ReturnType::Type(_, ret) = &f.sig.output else {
                        return Err(Error::new(
                            f.sig.span(),
                            "a migration returns the new state (`Self`, or `Result<Self, E>`)",
                        ));
                    };
                    let fallible = to == version && !is_self(ret, &spec.type_name);
                    spec.migrations.push(Migrate {
                        name,
                        from,
                        to,
                        old: (*old.ty).clone(),
                        fallible,
                    });
                }
            }
        }
        if spec.source.is_none() && spec.inputs.is_empty() {
            return Err(Error::new(
                item.self_ty.span(),
                format!("component `{}` has no `#[input]` handler and no `#[source]` method; add at least one", spec.type_name),
            ));
        }
        if let (Some(span), true) = (poll_span, spec.inputs.is_empty()) {
            return Err(Error::new(
                span,
                "a component without inputs is a source: use `#[source]`",
            ));
        }
        if let (Some(s), Some(i), None) = (&spec.source, spec.inputs.first(), poll_span) {
            let mut e = Error::new(
                s.name.span(),
                "a `#[source]` component cannot also have `#[input]` handlers; to be called while inputs are quiet, mark the method `#[poll]`",
            );
            e.combine(Error::new(i.name.span(), "input handler declared here"));
            return Err(e);
        }
        if let Some(r) = spec
            .recovers
            .iter()
            .find(|r| !spec.inputs.iter().any(|i| i.name == r.port))
        {
            let list: Vec<String> = spec
                .inputs
                .iter()
                .map(|i| format!("`{}`", i.name))
                .collect();
            return Err(Error::new(
                r.port.span(),
                format!(
                    "no input `{}` to recover; the inputs are {}",
                    r.port,
                    if list.is_empty() {
                        "none".to_owned()
                    } else {
                        list.join(", ")
                    }
                ),
            ));
        }
        spec.item = item;
        Ok(spec)
    }
}
