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
#[derive(Default)]
pub(crate) struct Args {
    pub version: Option<LitInt>,
    pub outputs: Vec<Output>,
    /// `state`: export and import the component's fields through serde.
    pub state: bool,
    /// Mistakes in the arguments; the options around them are still read.
    pub errors: Vec<Error>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut seen_outputs = false;
        while !input.is_empty() {
            if let Err(e) = args.option(input, &mut seen_outputs) {
                args.errors.push(e);
                // Go on with the next option.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
            }
            if !input.is_empty() {
                if let Err(e) = input.parse::<Token![,]>() {
                    args.errors.push(e);
                    break;
                }
            }
        }
        Ok(args)
    }
}

impl Args {
    /// Reads one option.
    fn option(&mut self, input: ParseStream, seen_outputs: &mut bool) -> syn::Result<()> {
        let key: Ident = input.parse()?;
        if key == "state" {
            if self.state {
                return Err(Error::new(key.span(), "`state` is given twice"));
            }
            self.state = true;
        } else if key == "version" {
            if self.version.is_some() {
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
            self.version = Some(v);
        } else if key == "outputs" {
            if *seen_outputs {
                return Err(Error::new(
                    key.span(),
                    "`outputs(...)` is given twice; list all outputs in one",
                ));
            }
            *seen_outputs = true;
            let content;
            syn::parenthesized!(content in input);
            let ports = Punctuated::<PortDecl, Token![,]>::parse_terminated(&content)?;
            for p in ports {
                if let Some(prev) = self.outputs.iter().find(|o| o.name == p.name) {
                    let mut e = Error::new(
                        p.name.span(),
                        format!("output port `{}` is declared twice", p.name),
                    );
                    e.combine(Error::new(prev.name.span(), "first declared here"));
                    self.errors.push(e);
                    continue;
                }
                let ty = match packet_type(&p.ty) {
                    Ok(()) => p.ty,
                    Err(Bad::Borrows(e)) => {
                        self.errors.push(e);
                        with_static_lifetimes(p.ty)
                    }
                    Err(Bad::Opaque(e)) => {
                        self.errors.push(e);
                        continue;
                    }
                };
                self.outputs.push(Output { name: p.name, ty });
            }
        } else {
            return Err(Error::new(
                key.span(),
                format!("unknown component option `{key}`; expected `version = N`, `state` or `outputs(name: Type, ...)`"),
            ));
        }
        Ok(())
    }
}

/// Why a packet type is refused.
enum Bad {
    /// It borrows: the port is kept with `'static` lifetimes, so the rest
    /// of the component still compiles.
    Borrows(Error),
    /// `impl Trait`: there is no type to give the port.
    Opaque(Error),
}

const OWNED: &str = "packets are moved along arcs to other instances, possibly on other threads, so a packet type must be owned and `'static`";

/// Refuses packet types that borrow or are `impl Trait`, at the offending
/// part of the type.
fn packet_type(ty: &Type) -> Result<(), Bad> {
    use syn::visit::Visit;
    struct Find(Option<Bad>);
    impl<'a> Visit<'a> for Find {
        fn visit_type_reference(&mut self, r: &'a syn::TypeReference) {
            if self.0.is_none() && r.lifetime.as_ref().is_none_or(|l| l.ident != "static") {
                self.0 = Some(Bad::Borrows(Error::new_spanned(
                    r,
                    format!("{OWNED}: send an owned value instead of a reference (`String` for `&str`, `Vec<T>` for `&[T]`, `T`, `Box<T>` or `Arc<T>` for `&T`)"),
                )));
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_lifetime(&mut self, l: &'a syn::Lifetime) {
            if self.0.is_none() && l.ident != "static" {
                self.0 = Some(Bad::Borrows(Error::new(
                    l.span(),
                    format!("{OWNED}: it cannot borrow for `{l}`"),
                )));
            }
        }
        fn visit_type_impl_trait(&mut self, t: &'a syn::TypeImplTrait) {
            if !matches!(self.0, Some(Bad::Opaque(_))) {
                self.0 = Some(Bad::Opaque(Error::new_spanned(
                    t,
                    format!("{OWNED}, and named: write the concrete type, or box it (`Box<dyn Trait + Send>`)"),
                )));
            }
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0.map_or(Ok(()), Err)
}

/// `ty` with every lifetime, named or elided in a reference, made `'static`.
fn with_static_lifetimes(mut ty: Type) -> Type {
    use syn::visit_mut::VisitMut;
    struct Static;
    impl VisitMut for Static {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            r.lifetime = Some(syn::Lifetime::new("'static", r.and_token.span));
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            *l = syn::Lifetime::new("'static", l.span());
        }
    }
    Static.visit_type_mut(&mut ty);
    ty
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
    /// The attribute, for diagnostics about the version chain.
    pub span: proc_macro2::Span,
}

/// Everything the emitter needs.
pub(crate) struct Spec {
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
    /// Methods called on a handler's outputs argument that name no declared
    /// output, each already reported. The glue gives the outputs these
    /// methods too, so rustc adds no error of its own about them.
    pub stray_emits: Vec<Ident>,
}

/// What `#[component]` makes of an impl block.
pub(crate) struct Parsed {
    /// The block to emit: evoflow's attributes taken off, and a second
    /// handler of an input port left out.
    pub item: ItemImpl,
    /// The component, as far as it is valid; none if the block cannot be
    /// a component at all.
    pub spec: Option<Spec>,
    /// Every mistake found.
    pub errors: Vec<Error>,
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
    // A handler runs once per packet inside the generated drain loop (a
    // source once per call of its batch): inlined there, a packet costs no
    // call. The user's own `#[inline(..)]` wins.
    let per_packet = matches!(role, Some((Role::Input | Role::Source | Role::Poll, _)));
    if per_packet && !keep.iter().any(|a| a.path().is_ident("inline")) {
        keep.push(syn::parse_quote!(#[inline]));
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

/// True if `ty` is `Result<Self, E>` (any path ending in `Result`, so
/// `std::result::Result` and aliases such as `anyhow::Result<Self>` too).
fn is_result_of_self(ty: &Type, name: &Ident) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
        return false;
    };
    last.ident == "Result"
        && matches!(a.args.first(), Some(syn::GenericArgument::Type(t)) if is_self(t, name))
}

/// The outputs argument of a handler: `out: &mut Outputs<Self>` (or any
/// path ending in `Outputs`, such as `<Self as Component>::Outputs`).
/// Returns the argument's name, if it is a plain identifier.
fn outputs_arg(arg: &FnArg, what: &str) -> syn::Result<Option<Ident>> {
    let FnArg::Typed(t) = arg else {
        return Err(Error::new(arg.span(), "unexpected `self`"));
    };
    let ok = match &*t.ty {
        Type::Reference(r) if r.mutability.is_some() => {
            matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Outputs"))
        }
        _ => false,
    };
    if !ok {
        return Err(Error::new_spanned(
            &t.ty,
            format!("{what} takes, after the packet, only the handle it emits packets through: `out: &mut Outputs<Self>` (`evoflow::Outputs`)"),
        ));
    }
    Ok(match &*t.pat {
        syn::Pat::Ident(i) => Some(i.ident.clone()),
        _ => None,
    })
}

/// The methods called on `out` in `body`: the ports a handler emits on.
/// Empty if `body` binds the name `out` again, where a call may be on
/// something else.
fn emits(body: &syn::Block, out: &Ident) -> Vec<Ident> {
    use syn::visit::Visit;
    struct Calls<'o> {
        out: &'o Ident,
        calls: Vec<Ident>,
        rebound: bool,
    }
    impl<'a> Visit<'a> for Calls<'_> {
        fn visit_expr_method_call(&mut self, c: &'a syn::ExprMethodCall) {
            if matches!(&*c.receiver, syn::Expr::Path(p) if p.qself.is_none() && p.path.is_ident(self.out))
            {
                self.calls.push(c.method.clone());
            }
            syn::visit::visit_expr_method_call(self, c);
        }
        fn visit_pat_ident(&mut self, p: &'a syn::PatIdent) {
            self.rebound |= p.ident == *self.out;
            syn::visit::visit_pat_ident(self, p);
        }
    }
    let mut calls = Calls {
        out,
        calls: Vec::new(),
        rebound: false,
    };
    calls.visit_block(body);
    if calls.rebound {
        Vec::new()
    } else {
        calls.calls
    }
}

/// Takes evoflow's attributes off every method, as on a block that cannot
/// be a component: the methods themselves are still the user's.
fn strip(item: &mut ItemImpl) {
    for it in &mut item.items {
        if let ImplItem::Fn(f) = it {
            let _ = take_role(f);
        }
    }
}

/// Reads the attribute's arguments and the impl block.
pub(crate) fn parse(mut args: Args, mut item: ItemImpl) -> Parsed {
    let mut errors = std::mem::take(&mut args.errors);
    let not_a_component = |mut item: ItemImpl, mut errors: Vec<Error>, e: Error| {
        strip(&mut item);
        errors.push(e);
        Parsed {
            item,
            spec: None,
            errors,
        }
    };
    if let Some((_, path, _)) = &item.trait_ {
        let e = Error::new(
            path.span(),
            "`#[component]` goes on an inherent `impl Type { ... }` block, not a trait impl",
        );
        return not_a_component(item, errors, e);
    }
    if let Some(param) = item.generics.params.first() {
        let msg = match param {
            syn::GenericParam::Lifetime(l) => format!(
                "a component cannot borrow for `{}`: it is moved to a worker thread and lives as long as the graph, so it must be `'static`; make it own its data (`String` rather than `&str`, `Arc<T>` rather than `&T`)",
                l.lifetime
            ),
            _ => "generic components are not supported; write one `#[component] impl Type<Concrete> { ... }` per type argument you use".to_owned(),
        };
        let e = Error::new_spanned(param, msg);
        return not_a_component(item, errors, e);
    }
    let segment = match &*item.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().cloned(),
        _ => None,
    };
    let Some(segment) = segment else {
        let e = Error::new(
            item.self_ty.span(),
            "`#[component]` needs a named struct or enum type",
        );
        return not_a_component(item, errors, e);
    };
    let version = match &args.version {
        Some(v) => v.base10_parse().unwrap_or(1),
        None => 1,
    };
    let mut spec = Spec {
        self_ty: (*item.self_ty).clone(),
        name: label(&segment),
        type_name: segment.ident,
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
        stray_emits: Vec::new(),
    };
    let mut poll_span = None;
    let mut method_errors = false;
    let mut kept = Vec::new();
    for mut it in std::mem::take(&mut item.items) {
        if let ImplItem::Fn(f) = &mut it {
            let role = match take_role(f) {
                Ok(role) => role,
                Err(e) => {
                    errors.push(e);
                    method_errors = true;
                    None
                }
            };
            if let Some((role, span)) = role {
                let before = errors.len();
                match spec.method(f, role, span, &mut poll_span, &mut errors) {
                    Ok(Keep::Yes) => {}
                    Ok(Keep::No) => continue,
                    Err(e) => errors.push(e),
                }
                method_errors |= errors.len() > before;
            }
        }
        kept.push(it);
    }
    item.items = kept;

    // Each step of a chain of migrations must lead on to this version.
    for m in &spec.migrations {
        if m.to != version && !spec.migrations.iter().any(|n| n.from == m.to) {
            errors.push(Error::new(
                m.span,
                format!(
                    "this migration stops at version {to}: no migration goes on from version {to}, so state of version {from} cannot reach this component's version {version}; add `#[migrate(from = {to})]`",
                    to = m.to,
                    from = m.from
                ),
            ));
        }
    }
    // Checks of the whole, meaningful only if every method was understood.
    if !method_errors {
        if let Err(e) = spec.check_whole(&item, poll_span) {
            errors.push(e);
        }
    }
    spec.recovers
        .retain(|r| spec.inputs.iter().any(|i| i.name == r.port));
    Parsed {
        item,
        spec: Some(spec),
        errors,
    }
}

/// Whether a method stays in the emitted impl block.
enum Keep {
    Yes,
    /// A second handler of one input port: reported, and left out so that
    /// rustc does not report it again as a duplicate definition.
    No,
}

impl Spec {
    /// Checks the method `f` with its role and records it. Mistakes that
    /// leave the method usable go to `errors`; the others are returned.
    fn method(
        &mut self,
        f: &ImplItemFn,
        role: Role,
        span: proc_macro2::Span,
        poll_span: &mut Option<proc_macro2::Span>,
        errors: &mut Vec<Error>,
    ) -> syn::Result<Keep> {
        check_plain(f)?;
        let version = self.version;
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
                if let Some(first) = self.inputs.iter().find(|i| i.name == name) {
                    let mut e = Error::new(
                        name.span(),
                        format!("input port `{name}` is declared twice"),
                    );
                    e.combine(Error::new(first.name.span(), "first declared here"));
                    errors.push(e);
                    return Ok(Keep::No);
                }
                let takes_outputs =
                    self.takes_outputs(f, args.get(1), "an input handler", errors)?;
                let ty = match packet_type(&packet.ty) {
                    Ok(()) => (*packet.ty).clone(),
                    Err(Bad::Borrows(e)) => {
                        errors.push(e);
                        with_static_lifetimes((*packet.ty).clone())
                    }
                    Err(Bad::Opaque(e)) => return Err(e),
                };
                self.inputs.push(Input {
                    name,
                    ty,
                    takes_outputs,
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
                let what = match role {
                    Role::Source => "a `#[source]` method",
                    Role::Poll => "a `#[poll]` method",
                    _ => "an `#[on_end]` method",
                };
                let hook = Hook {
                    name,
                    takes_outputs: self.takes_outputs(f, args.first(), what, errors)?,
                };
                if matches!(role, Role::Source | Role::Poll) {
                    if matches!(f.sig.output, ReturnType::Default) {
                        return Err(Error::new(
                            f.sig.span(),
                            "a `#[source]` or `#[poll]` method returns `evoflow::Flow` (Continue, Idle or Done)",
                        ));
                    }
                    if matches!(role, Role::Poll) {
                        *poll_span = Some(span);
                    }
                    set_once(&mut self.source, hook, span, "#[source]` or `#[poll]")?;
                } else {
                    check_unit_return(f)?;
                    set_once(&mut self.on_end, hook, span, "#[on_end]")?;
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
                    set_once(&mut self.handover, name, span, "#[handover]")?;
                } else {
                    set_once(&mut self.takeover, name, span, "#[takeover]")?;
                }
            }
            Role::Downgrade { to } => {
                if !self.state {
                    return Err(Error::new(
                        span,
                        "`#[migrate(down = N)]` needs the component to carry its state: write `#[component(state, ...)]`",
                    ));
                }
                if to >= version {
                    return Err(Error::new(
                        span,
                        format!(
                            "a downgrade goes to an older version than this component's {version}"
                        ),
                    ));
                }
                if self.downgrades.iter().any(|d| d.to == to) {
                    return Err(Error::new(
                        span,
                        format!("there is already a downgrade to version {to}"),
                    ));
                }
                let by_ref = matches!(f.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none());
                if !by_ref || f.sig.inputs.len() != 1 || matches!(f.sig.output, ReturnType::Default)
                {
                    return Err(Error::new(
                        f.sig.span(),
                        format!("a downgrade reads the state and returns it as version {to} reads it: `fn {name}(&self) -> StateV{to}`"),
                    ));
                }
                self.downgrades.push(Downgrade { name, to });
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
                if self.recovers.iter().any(|r| r.port == port) {
                    return Err(Error::new(
                        port.span(),
                        format!("input `{port}` already has a `#[recover]` method"),
                    ));
                }
                let takes_outputs =
                    self.takes_outputs(f, args.get(1), "a `#[recover]` method", errors)?;
                self.recovers.push(Recover {
                    name,
                    port,
                    takes_outputs,
                });
            }
            Role::Migrate { from, to } => {
                if !self.state {
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
                if self.migrations.iter().any(|m| m.from == from) {
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
                let fallible = if to != version || is_self(ret, &self.type_name) {
                    false
                } else if is_result_of_self(ret, &self.type_name) {
                    true
                } else {
                    return Err(Error::new_spanned(
                        ret,
                        format!("a migration to this component's version {version} returns the new state: `Self`, or `Result<Self, E>` if it can fail"),
                    ));
                };
                self.migrations.push(Migrate {
                    name,
                    from,
                    to,
                    old: (*old.ty).clone(),
                    fallible,
                    span,
                });
            }
        }
        Ok(Keep::Yes)
    }

    /// Checks the outputs argument `arg` of `f`, if there is one, and what
    /// `f` emits through it.
    fn takes_outputs(
        &mut self,
        f: &ImplItemFn,
        arg: Option<&&FnArg>,
        what: &str,
        errors: &mut Vec<Error>,
    ) -> syn::Result<bool> {
        let Some(arg) = arg else { return Ok(false) };
        if let Some(out) = outputs_arg(arg, what)? {
            self.stray(&f.block, &out, errors);
        }
        Ok(true)
    }

    /// Reports each method `body` calls on its outputs argument `out` that
    /// is no declared output port.
    fn stray(&mut self, body: &syn::Block, out: &Ident, errors: &mut Vec<Error>) {
        for call in emits(body, out) {
            if self.outputs.iter().any(|o| o.name == call) {
                continue;
            }
            let msg = if self.outputs.is_empty() {
                format!(
                    "`{}` declares no output ports, so there is no output `{call}` to emit on; declare it in the attribute: `#[component(outputs({call}: Type))]`",
                    self.name
                )
            } else {
                let list: Vec<String> = self
                    .outputs
                    .iter()
                    .map(|o| format!("`{}`", o.name))
                    .collect();
                format!(
                    "`{}` has no output port `{call}`; its output ports are {} (declare more in `#[component(outputs(...))]`)",
                    self.name,
                    list.join(", ")
                )
            };
            errors.push(Error::new(call.span(), msg));
            if !self.stray_emits.contains(&call) {
                self.stray_emits.push(call);
            }
        }
    }

    /// The checks of the component as a whole.
    fn check_whole(
        &self,
        item: &ItemImpl,
        poll_span: Option<proc_macro2::Span>,
    ) -> syn::Result<()> {
        if self.source.is_none() && self.inputs.is_empty() {
            return Err(Error::new(
                item.self_ty.span(),
                format!("component `{}` has no `#[input]` handler and no `#[source]` method; add at least one", self.type_name),
            ));
        }
        if let (Some(span), true) = (poll_span, self.inputs.is_empty()) {
            return Err(Error::new(
                span,
                "a component without inputs is a source: use `#[source]`",
            ));
        }
        if let (Some(s), Some(i), None) = (&self.source, self.inputs.first(), poll_span) {
            let mut e = Error::new(
                s.name.span(),
                "a `#[source]` component cannot also have `#[input]` handlers; to be called while inputs are quiet, mark the method `#[poll]`",
            );
            e.combine(Error::new(i.name.span(), "input handler declared here"));
            return Err(e);
        }
        if let Some(r) = self
            .recovers
            .iter()
            .find(|r| !self.inputs.iter().any(|i| i.name == r.port))
        {
            let list: Vec<String> = self
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
        Ok(())
    }
}
