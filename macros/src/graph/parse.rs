//! The syntax of `graph!`:
//!
//! ```text
//! name = "pipeline";                 // optional; default "graph"
//! workers = 2;                       // optional; default 1; any usize expression
//! capacity = 1024;                   // optional default arc capacity
//! on_panic = restart(max = 5, within = 10s); // optional supervision
//! #[on_panic(resume)]                // optional supervision of one instance
//! #[worker(1)] #[cost(3)]            // optional placement / cost hint
//! #[blocking]                        // optional: a thread of its own
//! machines = { front: 1, back: 2 };  // optional: machines and their workers
//! #[machine(back)]                   // optional: the instance's machine
//! split: Split = Split::new(3);      // instance: name: Type [= constructor];
//! #[capacity(16)]                    // optional per-arc capacity
//! src.out -> split.inp;              // arc: instance.output -> instance.input;
//! ```

use super::supervise::Policy;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Error, Expr, Ident, LitInt, LitStr, Token, Type};

/// A graph-wide setting.
pub(crate) enum Setting {
    Name(LitStr),
    Workers(Box<Expr>),
    Capacity(LitInt),
    OnPanic(Policy),
    /// `machines = { front: 1, back: 2 }`: names and worker counts.
    Machines(Vec<(Ident, LitInt)>),
}

/// `name: Type [= expr];`
pub(crate) struct InstanceDecl {
    pub name: Ident,
    pub ty: Type,
    pub init: Option<Expr>,
    pub worker: Option<LitInt>,
    pub cost: Option<LitInt>,
    /// `#[blocking]`, if given.
    pub blocking: Option<Attribute>,
    /// `#[machine(name)]`, if given.
    pub machine: Option<Ident>,
    pub on_panic: Option<Policy>,
}

/// `a.out -> b.inp;`
pub(crate) struct ArcDecl {
    pub from: Ident,
    pub out: Ident,
    pub arrow: Token![->],
    pub to: Ident,
    pub inp: Ident,
    pub capacity: Option<LitInt>,
}

pub(crate) struct GraphDecl {
    pub settings: Vec<(Ident, Setting)>,
    pub instances: Vec<InstanceDecl>,
    pub arcs: Vec<ArcDecl>,
    /// Mistakes in statements, which are left out.
    pub errors: Vec<Error>,
    /// Instances whose declaration has a mistake.
    pub broken: Vec<Ident>,
}

/// Reads `{ front: 1, back: 2 }`: each machine's name and worker count.
fn machines(input: ParseStream) -> syn::Result<Vec<(Ident, LitInt)>> {
    let body;
    let brace = syn::braced!(body in input);
    let mut out = Vec::new();
    while !body.is_empty() {
        let name: Ident = body.parse()?;
        body.parse::<Token![:]>()?;
        let workers: LitInt = body.parse()?;
        out.push((name, workers));
        if body.is_empty() {
            break;
        }
        body.parse::<Token![,]>()?;
    }
    if out.is_empty() {
        return Err(Error::new(
            brace.span.join(),
            "`machines` lists at least one machine: `machines = { front: 1, back: 2 };`",
        ));
    }
    Ok(out)
}

/// Reads `#[key(n)]` attributes, allowing only `allowed` keys (`other`
/// lists the attributes of another form that `what` also takes, read
/// before).
fn int_attrs(
    attrs: &[Attribute],
    what: &str,
    allowed: &[&str],
    other: &[&str],
) -> syn::Result<Vec<(String, LitInt)>> {
    let mut out: Vec<(String, LitInt)> = Vec::new();
    for a in attrs {
        let key = a
            .path()
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            let list = allowed
                .iter()
                .map(|k| format!("`#[{k}(N)]`"))
                .chain(other.iter().map(|o| format!("`#[{o}]`")))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::new_spanned(
                a,
                format!("`#[{key}]` does not apply to {what}; {what} takes {list}"),
            ));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(Error::new_spanned(a, format!("`#[{key}]` is given twice")));
        }
        let n: LitInt = a.parse_args()?;
        n.base10_parse::<usize>()?;
        out.push((key, n));
    }
    Ok(out)
}

fn take(attrs: &mut Vec<(String, LitInt)>, key: &str) -> Option<LitInt> {
    let i = attrs.iter().position(|(k, _)| k == key)?;
    Some(attrs.remove(i).1)
}

impl Parse for GraphDecl {
    /// Reads every statement; a statement with a mistake is reported and
    /// skipped up to its `;`, so one compile shows every mistake.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut g = GraphDecl {
            settings: Vec::new(),
            instances: Vec::new(),
            arcs: Vec::new(),
            errors: Vec::new(),
            broken: Vec::new(),
        };
        while !input.is_empty() {
            if let Err(e) = g.statement(input) {
                g.errors.push(e);
                while !input.is_empty() && !input.peek(Token![;]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
                if !input.is_empty() {
                    input.parse::<Token![;]>()?;
                }
            }
        }
        Ok(g)
    }
}

impl GraphDecl {
    /// Reads one statement, with its `;`.
    fn statement(&mut self, input: ParseStream) -> syn::Result<()> {
        let attrs = input.call(Attribute::parse_outer)?;
        let first: Ident = input.parse()?;
        if input.peek(Token![=]) {
            if let Some(a) = attrs.iter().find(|a| !a.path().is_ident("doc")) {
                return Err(Error::new_spanned(a, "settings take no attributes"));
            }
            input.parse::<Token![=]>()?;
            let setting = match first.to_string().as_str() {
                "name" => Setting::Name(input.parse()?),
                "workers" => Setting::Workers(input.parse()?),
                "capacity" => Setting::Capacity(input.parse()?),
                "on_panic" => Setting::OnPanic(input.parse()?),
                "machines" => Setting::Machines(machines(input)?),
                other => {
                    return Err(Error::new(
                        first.span(),
                        format!("unknown setting `{other}`; expected `name`, `workers`, `capacity`, `on_panic` or `machines` (an instance is `{other}: Type;`)"),
                    ))
                }
            };
            self.settings.push((first, setting));
        } else if input.peek(Token![:]) && !input.peek(Token![::]) {
            // From here on the instance's name is known: arcs that use it
            // are not reported again if its declaration has a mistake.
            self.broken.push(first.clone());
            input.parse::<Token![:]>()?;
            let ty: Type = input.parse()?;
            let init = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            let (policies, attrs): (Vec<_>, Vec<_>) = attrs
                .into_iter()
                .partition(|a| a.path().is_ident("on_panic"));
            if let Some(second) = policies.get(1) {
                return Err(Error::new_spanned(second, "`#[on_panic]` is given twice"));
            }
            let on_panic = policies.first().map(|a| a.parse_args()).transpose()?;
            let (blocking, attrs): (Vec<_>, Vec<_>) = attrs
                .into_iter()
                .partition(|a| a.path().is_ident("blocking"));
            if let Some(second) = blocking.get(1) {
                return Err(Error::new_spanned(second, "`#[blocking]` is given twice"));
            }
            if let Some(a) = blocking.first() {
                a.meta
                    .require_path_only()
                    .map_err(|_| Error::new_spanned(a, "`#[blocking]` takes no arguments"))?;
            }
            let (machine, attrs): (Vec<_>, Vec<_>) = attrs
                .into_iter()
                .partition(|a| a.path().is_ident("machine"));
            if let Some(second) = machine.get(1) {
                return Err(Error::new_spanned(second, "`#[machine]` is given twice"));
            }
            let machine = machine
                .first()
                .map(|a| {
                    a.parse_args::<Ident>().map_err(|_| {
                        Error::new_spanned(
                            a,
                            "`#[machine]` takes a machine's name: `#[machine(back)]`",
                        )
                    })
                })
                .transpose()?;
            let mut a = int_attrs(
                &attrs,
                "an instance",
                &["worker", "cost"],
                &["blocking", "machine(..)", "on_panic(..)"],
            )?;
            let (worker, cost) = (take(&mut a, "worker"), take(&mut a, "cost"));
            input.parse::<Token![;]>()?;
            self.broken.pop();
            self.instances.push(InstanceDecl {
                name: first,
                ty,
                init,
                worker,
                cost,
                blocking: blocking.into_iter().next(),
                machine,
                on_panic,
            });
            return Ok(());
        } else if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let out: Ident = input.parse()?;
            let arrow: Token![->] = input.parse()?;
            let to: Ident = input.parse()?;
            input.parse::<Token![.]>()?;
            let inp: Ident = input.parse()?;
            let mut a = int_attrs(&attrs, "an arc", &["capacity"], &[])?;
            self.arcs.push(ArcDecl {
                from: first,
                out,
                arrow,
                to,
                inp,
                capacity: take(&mut a, "capacity"),
            });
        } else {
            return Err(Error::new(
                first.span(),
                "expected a setting (`workers = 2;`), an instance (`name: Type;`) or an arc (`a.out -> b.inp;`)",
            ));
        }
        input.parse::<Token![;]>()?;
        Ok(())
    }
}
