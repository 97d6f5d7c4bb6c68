//! What the update engine cannot see in a rebuilt library: a component
//! whose code changed while its version did not, and a packet type whose
//! definition changed while its name, size and alignment did not. Both are
//! told by the hashes `#[component]` and `library!` compute from the source.

use crate::error::{Incompatibility, TypeChange};
use crate::loader::Loaded;
use evoflow_runtime::{ArcInfo, Evolution, Fate, Update};
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
fn refuse_renames(evo: &Evolution) -> Result<(), Incompatibility> {
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
            return Err(Incompatibility::Rename {
                removed: old.name.clone(),
                inserted: new.name.clone(),
                component: component.to_owned(),
            });
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
) -> Result<Vec<Renewed>, Incompatibility> {
    if let Some((why, _)) = new
        .types
        .iter()
        .find(|(name, _)| name.starts_with("!incomplete: "))
    {
        return Err(Incompatibility::Incomplete(
            why["!incomplete: ".len()..].to_owned(),
        ));
    }
    refuse_renames(evo)?;
    let mut runs: HashMap<&str, &Arc<Loaded>> = HashMap::new();
    for i in &evo.instances {
        match i.fate {
            Fate::Kept => {
                let old = code_of
                    .get(&i.name)
                    .ok_or_else(|| Incompatibility::UnknownBuild {
                        instance: i.name.clone(),
                    })?;
                let (before, after) = (i.before.expect("kept"), i.after.expect("kept"));
                let changed = before.code != after.code
                    || old.type_hash(before.name) != new.type_hash(after.name);
                if changed {
                    return Err(Incompatibility::SameVersion {
                        component: after.name.to_owned(),
                        version: after.version,
                        instance: i.name.clone(),
                    });
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
                return Err(Incompatibility::Uncomparable {
                    from: format!("{}.{}", arc.from.0, arc.from.1),
                    to: format!("{}.{}", arc.to.0, arc.to.1),
                    ty: ty.to_owned(),
                    packet: arc.packet.name.to_owned(),
                });
            }
            if p != c {
                let (stale, stale_meta) = if Arc::ptr_eq(producer, new) {
                    (&arc.to.0, evo_meta(evo, &arc.to.0))
                } else {
                    (&arc.from.0, evo_meta(evo, &arc.from.0))
                };
                return Err(Incompatibility::TypeChanged(Box::new(TypeChange {
                    from: format!("{}.{}", arc.from.0, arc.from.1),
                    to: format!("{}.{}", arc.to.0, arc.to.1),
                    ty: ty.to_owned(),
                    packet: arc.packet.name.to_owned(),
                    stale: stale.clone(),
                    component: stale_meta.0.to_owned(),
                    version: stale_meta.1,
                })));
            }
        }
    }
    Ok(renewed)
}

/// `update` with each arc of `renewed` replaced by a new one of its
/// capacity at the update's marker.
pub(crate) fn renew(mut update: Update, renewed: Vec<Renewed>) -> Update {
    for (from, to, capacity) in renewed {
        tracing::info!(
            "arc `{from} -> {to}` gets a new queue: the definition of its packet type changed"
        );
        update = update
            .disconnect(&from, &to)
            .connect_with_capacity(&from, &to, capacity);
    }
    update
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
pub(crate) fn own_types<'a>(type_name: &'a str, krate: &'a str) -> impl Iterator<Item = &'a str> {
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
