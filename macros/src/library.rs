//! `library!`: the entry points of a component library, which a running
//! program loads to live-update itself (`evoflow::reload`).
//!
//! Besides the graph, the library carries what the loader needs to decide
//! whether the new code may share memory with the running code: a hash of
//! the workspace's `Cargo.lock` (the dependency set) and a table of the
//! library's own type definitions (a packet type whose definition changed
//! has another layout, though its name and size may not show it).

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let graph: syn::Path = syn::parse2(input)?;
    let fail = |msg: String| syn::Error::new_spanned(&graph, msg);
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .map_err(|_| fail("`library!` needs cargo: build the library with `cargo build`".into()))?;
    let lock = dir
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            fail(format!(
                "no Cargo.lock in {} or above; run `cargo generate-lockfile` in the workspace",
                dir.display()
            ))
        })?;
    let lock_text =
        std::fs::read(&lock).map_err(|e| fail(format!("cannot read {}: {e}", lock.display())))?;
    let mut h = fnv::FnvHasher::default();
    h.write(&lock_text);
    let deps = h.finish();
    let (names, hashes): (Vec<String>, Vec<u64>) = type_table(&dir.join("src")).into_iter().unzip();
    Ok(quote! {
        /// What the loader checks before it calls any Rust code of this
        /// library (C ABI: safe to call from any build).
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn evoflow_build_info() -> *const ::std::ffi::c_char {
            ::evoflow::reload::__library::build_info(#deps)
        }

        /// The library's graph and type table, for a loader whose build
        /// info matched.
        #[doc(hidden)]
        #[no_mangle]
        pub extern "Rust" fn evoflow_library_v1(
            host: &::evoflow::reload::__library::HostContext,
        ) -> ::std::result::Result<::evoflow::reload::__library::Library, ::std::string::String> {
            ::evoflow::reload::__library::export(
                host,
                env!("CARGO_CRATE_NAME"),
                &[ #( (#names, #hashes) ),* ],
                #graph,
            )
        }
    })
}

/// Every struct, enum, union and type alias under `src`, by name, with a
/// hash of its definition and of the definitions of the library's types it
/// mentions (transitively). Files that do not parse are skipped: the
/// compiler reports them.
fn type_table(src: &Path) -> BTreeMap<String, u64> {
    let mut defs: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(parsed) = syn::parse_file(&text) else {
            continue;
        };
        collect(&parsed.items, &mut defs);
    }
    let names: BTreeSet<String> = defs.keys().cloned().collect();
    defs.keys()
        .map(|name| {
            // Everything reachable from `name` through mentioned types.
            let mut seen = BTreeSet::from([name.clone()]);
            let mut todo = vec![name.clone()];
            while let Some(n) = todo.pop() {
                for m in defs[&n].1.intersection(&names) {
                    if seen.insert(m.clone()) {
                        todo.push(m.clone());
                    }
                }
            }
            let mut h = fnv::FnvHasher::default();
            for n in &seen {
                h.write(n.as_bytes());
                h.write(defs[n].0.as_bytes());
            }
            (name.clone(), h.finish())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Records each type definition's text and the identifiers it mentions;
/// two definitions with one name (in different modules) are merged.
fn collect(items: &[syn::Item], defs: &mut BTreeMap<String, (String, BTreeSet<String>)>) {
    for item in items {
        let ident = match item {
            syn::Item::Struct(i) => &i.ident,
            syn::Item::Enum(i) => &i.ident,
            syn::Item::Union(i) => &i.ident,
            syn::Item::Type(i) => &i.ident,
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    collect(inner, defs);
                }
                continue;
            }
            _ => continue,
        };
        let tokens = item.to_token_stream();
        let entry = defs.entry(ident.to_string()).or_default();
        entry.0.push_str(&tokens.to_string());
        idents(tokens, &mut entry.1);
    }
}

fn idents(tokens: TokenStream, out: &mut BTreeSet<String>) {
    for t in tokens {
        match t {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => idents(g.stream(), out),
            _ => {}
        }
    }
}
