//! What the update engine cannot see in a rebuilt library: a component
//! whose code changed while its version did not, and a packet type whose
//! definition changed while its name, size and alignment did not. Both are
//! told by the hashes `#[component]` and `library!` compute from the source.

use crate::loader::Loaded;
use evoflow_runtime::{ArcInfo, Evolution, Fate};
use std::collections::HashMap;
use std::sync::Arc;

/// The library whose code runs each instance.
pub(crate) type CodeOf = HashMap<String, Arc<Loaded>>;

/// An arc that must get a new queue: `("a.out", "b.inp", capacity)`.
pub(crate) type Renewed = (String, String, usize);

/// Refuses what looks like a renamed instance: one with state removed
/// while another of the same component is inserted. Applied as written,
/// the new instance would start from its constructor and the old state
/// would be lost without a word; evoflow cannot move state between
/// instances, so it says so and what to do instead.
fn refuse_renames(evo: &Evolution) -> Result<(), String> {
    let removed = evo
        .instances
        .iter()
        .filter(|i| i.fate == Fate::Removed && i.before.is_some_and(|m| m.state));
    for old in removed {
        let component = old.before.expect("filtered").name;
        let new = evo
            .instances
            .iter()
            .find(|i| i.fate == Fate::Inserted && i.after.is_some_and(|m| m.name == component));
        if let Some(new) = new {
            return Err(format!(
                "instance `{}` (`{component}`, which has state) is not in the new build and `{}` \
                 (`{component}`) is new: a rename, which would lose `{}`'s state (evoflow does not \
                 move state between instances); keep the name `{}`, or, to drop the state on \
                 purpose, remove `{}` in one reload and add `{}` in the next",
                old.name, new.name, old.name, old.name, old.name, new.name
            ));
        }
    }
    Ok(())
}

/// Refuses an evolution to the graph of `new` that would run changed code
/// under an unchanged version, or join two builds by an arc whose packet
/// type differs between them. Returns the arcs of the running graph
/// (`before`) that both ends keep but whose packet type's definition
/// changed: name, size and alignment may all be equal while the layout of
/// what the queue holds is not, so the old queue must not carry the new
/// type; they are replaced by new arcs at the update's marker.
pub(crate) fn check(
    evo: &Evolution,
    code_of: &CodeOf,
    new: &Arc<Loaded>,
    before: &[ArcInfo],
) -> Result<Vec<Renewed>, String> {
    if let Some((why, _)) = new
        .types
        .iter()
        .find(|(name, _)| name.starts_with("!incomplete: "))
    {
        return Err(format!(
            "the new build cannot be compared with the running one: {}; \
             write the module's path plainly (`#[path]` or the file layout) so that a reload sees every change",
            &why["!incomplete: ".len()..]
        ));
    }
    refuse_renames(evo)?;
    let mut runs: HashMap<&str, &Arc<Loaded>> = HashMap::new();
    for i in &evo.instances {
        match i.fate {
            Fate::Kept => {
                let old = code_of.get(&i.name).ok_or_else(|| {
                    format!(
                        "instance `{}` was changed outside of reloads (through `Running::update`), so the \
                         build it runs is unknown; reloads and in-process updates cannot be mixed",
                        i.name
                    )
                })?;
                let (before, after) = (i.before.expect("kept"), i.after.expect("kept"));
                let changed = before.code != after.code
                    || old.type_hash(before.name) != new.type_hash(after.name);
                if changed {
                    return Err(format!(
                        "component `{}` changed since the running build (its impl block or the definition of \
                         a type it holds) but kept version {} (instance `{}`); bump `version` in its \
                         #[component] (and add `#[migrate(from = {})]` if its state changed)",
                        after.name, after.version, i.name, after.version
                    ));
                }
                runs.insert(&i.name, old);
            }
            Fate::Replaced { .. } | Fate::Inserted => {
                runs.insert(&i.name, new);
            }
            Fate::Removed => {}
        }
    }
    let mut renewed = Vec::new();
    for arc in &evo.arcs {
        let (producer, consumer) = (runs[arc.from.0.as_str()], runs[arc.to.0.as_str()]);
        if Arc::ptr_eq(producer, consumer) {
            let kept = before.iter().find(|a| a.from == arc.from && a.to == arc.to);
            let old_producer = kept.and_then(|a| Some((a, code_of.get(&arc.from.0)?)));
            if let Some((kept, old)) = old_producer.filter(|(_, old)| !Arc::ptr_eq(old, producer)) {
                if own_types(arc.packet.name, new.crate_name)
                    .any(|ty| old.type_hash(ty) != producer.type_hash(ty))
                {
                    renewed.push((
                        format!("{}.{}", arc.from.0, arc.from.1),
                        format!("{}.{}", arc.to.0, arc.to.1),
                        kept.capacity,
                    ));
                }
            }
            continue;
        }
        for ty in own_types(arc.packet.name, new.crate_name) {
            let (p, c) = (producer.type_hash(ty), consumer.type_hash(ty));
            if p.is_none() || c.is_none() {
                return Err(format!(
                    "arc `{}.{} -> {}.{}` joins instances that run different builds, and the definition of \
                     `{ty}` (in `{}`) is not in the library's `src` in both, so it cannot be compared \
                     (generated by a macro or included from elsewhere?); update both ends together",
                    arc.from.0, arc.from.1, arc.to.0, arc.to.1, arc.packet.name
                ));
            }
            if p != c {
                let (stale, stale_meta) = if Arc::ptr_eq(producer, new) {
                    (&arc.to.0, evo_meta(evo, &arc.to.0))
                } else {
                    (&arc.from.0, evo_meta(evo, &arc.from.0))
                };
                return Err(format!(
                    "the definition of `{ty}` changed, and arc `{}.{} -> {}.{}` carries `{}`, but `{stale}` \
                     keeps running the old build (`{}` v{} is unchanged); bump its version so both ends of \
                     the arc are updated together",
                    arc.from.0, arc.from.1, arc.to.0, arc.to.1, arc.packet.name, stale_meta.0, stale_meta.1
                ));
            }
        }
    }
    Ok(renewed)
}

fn evo_meta(evo: &Evolution, name: &str) -> (&'static str, u32) {
    let m = evo
        .instances
        .iter()
        .find(|i| i.name == name)
        .and_then(|i| i.after)
        .expect("an arc's end exists after the update");
    (m.name, m.version)
}

/// Names of the types of crate `krate` that a type name mentions, e.g.
/// `Event` and `Tag` in `alloc::vec::Vec<app::Event<app::Tag>>` for `app`.
fn own_types<'a>(type_name: &'a str, krate: &'a str) -> impl Iterator<Item = &'a str> {
    type_name
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(move |path| path.split("::").next() == Some(krate))
        .filter_map(|path| path.rsplit("::").next())
}

#[cfg(test)]
mod tests {
    use super::own_types;

    #[test]
    fn finds_the_crates_own_types_in_a_type_name() {
        let found: Vec<_> = own_types(
            "alloc::vec::Vec<app::m::Event<app::Tag>, (u8, app_x::No)>",
            "app",
        )
        .collect();
        assert_eq!(found, ["Event", "Tag"]);
    }
}
