//! What the update engine cannot see in a rebuilt library: a component
//! whose code changed while its version did not, and a packet type whose
//! definition changed while its name, size and alignment did not. Both are
//! told by the hashes `#[component]` and `library!` compute from the source.

use crate::loader::Loaded;
use evoflow_runtime::{Evolution, Fate};
use std::collections::HashMap;
use std::sync::Arc;

/// The library whose code runs each instance.
pub(crate) type CodeOf = HashMap<String, Arc<Loaded>>;

/// Refuses an evolution to the graph of `new` that would run changed code
/// under an unchanged version, or join two builds by an arc whose packet
/// type differs between them.
pub(crate) fn check(evo: &Evolution, code_of: &CodeOf, new: &Arc<Loaded>) -> Result<(), String> {
    let mut runs: HashMap<&str, &Arc<Loaded>> = HashMap::new();
    for i in &evo.instances {
        match i.fate {
            Fate::Kept => {
                let old = &code_of[&i.name];
                let (before, after) = (i.before.expect("kept"), i.after.expect("kept"));
                let changed = before.code != after.code
                    || old.type_hash(before.name) != new.type_hash(after.name);
                if changed {
                    return Err(format!(
                        "component `{}` changed since the running build but kept version {} (instance `{}`); \
                         bump `version` in its #[component] (and add `#[migrate(from = {})]` if its state changed)",
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
    for arc in &evo.arcs {
        let (producer, consumer) = (runs[arc.from.0.as_str()], runs[arc.to.0.as_str()]);
        if Arc::ptr_eq(producer, consumer) {
            continue;
        }
        for ty in own_types(arc.packet.name, new.crate_name) {
            if producer.type_hash(ty) != consumer.type_hash(ty) {
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
    Ok(())
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
