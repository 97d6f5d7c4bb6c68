//! `library!`: the entry points of a component library, which a running
//! program loads to live-update itself (`evoflow::reload`).
//!
//! Besides the graph, the library carries what the loader needs to decide
//! whether the new code may share memory with the running code: the
//! identity of its dependencies (the type identity of a marker, which
//! follows cargo's build metadata: versions, features, profile, compiler,
//! plus a hash of the sources of path dependencies, which metadata does not
//! cover), and a table of the library's own type definitions (a packet type
//! whose definition changed has another layout, though its name and size
//! may not show it).

use crate::fingerprint;
use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let graph: syn::Path = syn::parse2(input)?;
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .map_err(|_| {
            syn::Error::new_spanned(
                &graph,
                "`library!` needs cargo: build the library with `cargo build`",
            )
        })?;
    let sources = path_dependency_sources(&dir);
    let (table, incomplete) = type_table(&dir.join("src/lib.rs"));
    // What the walk could not follow is named in the table, so that a
    // reload refuses rather than miss a change there.
    let (names, hashes): (Vec<String>, Vec<u64>) = table
        .into_iter()
        .chain(
            incomplete
                .into_iter()
                .map(|why| (format!("!incomplete: {why}"), 0)),
        )
        .unzip();
    let root = crate::root();
    Ok(quote! {
        /// What the loader reads from the file, before it maps it: the
        /// compile-time part of the build's identity.
        #[doc(hidden)]
        #[no_mangle]
        #[used]
        pub static evoflow_build_stamp: [u8; #root::reload::__library::stamp_len(
            !cfg!(panic = "unwind"),
        )] = #root::reload::__library::stamp(!cfg!(panic = "unwind"));

        /// What the loader checks before it calls any Rust code of this
        /// library (C ABI: safe to call from any build).
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn evoflow_build_info() -> *const ::std::ffi::c_char {
            struct DependencyMarker;
            #root::reload::__library::build_info(
                #sources,
                ::std::any::TypeId::of::<DependencyMarker>(),
                !cfg!(panic = "unwind"),
            )
        }

        /// The library's graph and type table, for a loader whose build
        /// info matched.
        #[doc(hidden)]
        #[no_mangle]
        pub extern "Rust" fn evoflow_library_v1(
            host: &#root::reload::__library::HostContext,
        ) -> ::std::result::Result<#root::reload::__library::Library, ::std::string::String> {
            #root::reload::__library::export(
                host,
                env!("CARGO_CRATE_NAME"),
                &[ #( (#names, #hashes) ),* ],
                #graph,
            )
        }
    })
}

/// Hash of the manifests, build scripts and `src` trees of every path
/// dependency reachable from the crate in `dir` (not of the crate itself),
/// found through `path = "..."` entries, including those of the workspace
/// root when a dependency is inherited with `workspace = true`.
fn path_dependency_sources(dir: &Path) -> u64 {
    let mut seen = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(manifest) = std::fs::read_to_string(d.join("Cargo.toml")) else {
            continue;
        };
        let mut bases = vec![d.clone()];
        if manifest.contains("workspace = true") || manifest.contains("workspace=true") {
            let root = d.ancestors().find(|a| {
                std::fs::read_to_string(a.join("Cargo.toml"))
                    .is_ok_and(|t| t.contains("[workspace]"))
            });
            bases.extend(root.map(Path::to_owned));
        }
        for base in bases {
            let Ok(text) = std::fs::read_to_string(base.join("Cargo.toml")) else {
                continue;
            };
            for p in paths_in(&text) {
                if let Ok(p) = base.join(p).canonicalize() {
                    if p.is_dir() && seen.insert(p.clone()) {
                        todo.push(p);
                    }
                }
            }
        }
    }
    if let Ok(own) = dir.canonicalize() {
        seen.remove(&own);
    }
    let mut files = Vec::new();
    for d in &seen {
        files.push(d.join("Cargo.toml"));
        files.push(d.join("build.rs"));
        rust_files(&d.join("src"), &mut files);
    }
    files.sort();
    let mut h = fnv::FnvHasher::default();
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            h.write(f.to_string_lossy().as_bytes());
            h.write(&bytes);
        }
    }
    h.finish()
}

/// The values of `path = "..."` entries in a manifest.
fn paths_in(manifest: &str) -> Vec<&str> {
    manifest
        .match_indices("path")
        .filter_map(|(i, _)| {
            let rest = manifest[i + 4..]
                .trim_start()
                .strip_prefix('=')?
                .trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Every struct, enum, union and type alias of the crate whose root file is
/// `root` (following `mod` declarations, `#[path]` included), by name, with
/// a hash of its definition and of the definitions of the crate's types it
/// mentions (transitively). Files that do not parse are skipped: the
/// compiler reports them.
fn type_table(root: &Path) -> (BTreeMap<String, u64>, Vec<String>) {
    let mut walk = Walk::default();
    let dir = root.parent().unwrap_or(Path::new("."));
    collect_file(root, dir, &mut walk);
    let Walk {
        mut defs,
        renames,
        incomplete,
        ..
    } = walk;
    // A type imported under another name (`use a::Event as E;`) is
    // mentioned by that name: count it as a mention of the original.
    for (_, mentions) in defs.values_mut() {
        for (original, alias) in &renames {
            if mentions.contains(alias) {
                mentions.insert(original.clone());
            }
        }
    }
    let names: BTreeSet<String> = defs.keys().cloned().collect();
    let table = defs
        .keys()
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
            let parts: Vec<String> = seen.iter().map(|n| format!("{n} {}", defs[n].0)).collect();
            (name.clone(), fingerprint::texts(&parts))
        })
        .collect();
    (table, incomplete)
}

/// What the walk of a crate's modules gathers.
#[derive(Default)]
struct Walk {
    defs: Defs,
    seen: BTreeSet<PathBuf>,
    /// `use ... Original as Alias` renames: (original, alias).
    renames: Vec<(String, String)>,
    /// What it could not follow, said for a refusal.
    incomplete: Vec<String>,
}

/// Type definitions by name: their text and the identifiers they mention.
type Defs = BTreeMap<String, (String, BTreeSet<String>)>;

/// Collects the definitions of the module in `file`, whose submodules'
/// files are under `children`.
fn collect_file(file: &Path, children: &Path, walk: &mut Walk) {
    if !walk.seen.insert(file.to_owned()) {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    let Ok(parsed) = syn::parse_file(&text) else {
        return;
    };
    let here = file.parent().unwrap_or(Path::new("."));
    collect(&parsed.items, file, here, children, walk);
}

/// Records the renames of a `use` tree.
fn renames(tree: &syn::UseTree, out: &mut Vec<(String, String)>) {
    match tree {
        syn::UseTree::Path(p) => renames(&p.tree, out),
        syn::UseTree::Rename(r) if r.rename != "_" => {
            out.push((r.ident.to_string(), r.rename.to_string()))
        }
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| renames(t, out)),
        _ => {}
    }
}

/// The value of a `#[path = "..."]` attribute.
fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("path"))
        .find_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
}

/// Records each type definition's text and the identifiers it mentions
/// (two definitions with one name, in different modules, are merged), and
/// descends into modules: inline ones, and those in files, found as rustc
/// does (`#[path]` relative to the declaring file's directory, else
/// `children/name.rs` or `children/name/mod.rs`).
fn collect(items: &[syn::Item], file: &Path, here: &Path, children: &Path, walk: &mut Walk) {
    for item in items {
        let ident = match item {
            syn::Item::Struct(i) => &i.ident,
            syn::Item::Enum(i) => &i.ident,
            syn::Item::Union(i) => &i.ident,
            syn::Item::Type(i) => &i.ident,
            syn::Item::Use(u) => {
                renames(&u.tree, &mut walk.renames);
                continue;
            }
            syn::Item::Mod(m) => {
                let name = m.ident.to_string();
                if m.attrs.iter().any(|a| {
                    a.path().is_ident("cfg_attr")
                        && a.to_token_stream().to_string().contains("path")
                }) {
                    walk.incomplete.push(format!(
                        "`{}`: module `{name}` has its path set by `#[cfg_attr(.., path = ..)]`, which cannot be followed without the build's cfg",
                        file.display()
                    ));
                }
                match (&m.content, path_attr(&m.attrs)) {
                    // An inline module's `#[path]`s are relative to a
                    // directory named after it, as rustc resolves them.
                    (Some((_, inner)), _) => {
                        let dir = children.join(&name);
                        collect(inner, file, &dir, &dir, walk)
                    }
                    (None, Some(path)) => {
                        let file = here.join(path);
                        let dir = file.parent().unwrap_or(here).to_owned();
                        collect_file(&file, &dir, walk);
                    }
                    (None, None) => {
                        let flat = children.join(format!("{name}.rs"));
                        let file = if flat.is_file() {
                            flat
                        } else {
                            children.join(&name).join("mod.rs")
                        };
                        collect_file(&file, &children.join(&name), walk);
                    }
                }
                continue;
            }
            _ => continue,
        };
        let tokens = item.to_token_stream();
        let entry = walk.defs.entry(ident.to_string()).or_default();
        entry.0.push_str(&fingerprint::code_text(&tokens));
        idents(tokens, &mut entry.1);
    }
}

/// The `.rs` files under `dir`, except binaries' (`src/bin`).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() && !path.ends_with("src/bin") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
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

#[cfg(test)]
mod tests {
    use super::{paths_in, type_table};
    use std::path::PathBuf;

    #[test]
    fn finds_path_entries_in_a_manifest() {
        let manifest = "[dependencies]\na = { path = \"../a\" }\nb = { version = \"1\", path=\"b\" }\n[lib]\npath = \"src/x.rs\"\n";
        assert_eq!(paths_in(manifest), ["../a", "b", "src/x.rs"]);
    }

    /// A crate under a fresh temporary directory: `files` as (path, text).
    fn crate_with(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("evoflow-library-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_type_table_follows_modules_and_sees_definition_changes() {
        let v1 = [
            (
                "src/lib.rs",
                "mod a; #[path = \"../shared/b.rs\"] mod b; mod c { pub struct C(u8); }",
            ),
            ("src/a.rs", "pub struct A { pub b: crate::b::B }"),
            ("shared/b.rs", "pub struct B { pub x: u64 }"),
        ];
        let d1 = crate_with("v1", &v1);
        let t1 = type_table(&d1.join("src/lib.rs")).0;
        assert_eq!(t1.keys().collect::<Vec<_>>(), ["A", "B", "C"]);
        // `B` changes in a file outside src/: so do `B` and `A`, which holds one.
        let mut v2 = v1;
        v2[2].1 = "pub struct B { pub x: i64 }";
        let d2 = crate_with("v2", &v2);
        let t2 = type_table(&d2.join("src/lib.rs")).0;
        assert_ne!(t1["B"], t2["B"]);
        assert_ne!(t1["A"], t2["A"]);
        assert_eq!(t1["C"], t2["C"]);
        for d in [d1, d2] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn renamed_imports_inline_paths_and_cfg_attr_paths() {
        let v1 = [
            (
                "src/lib.rs",
                "mod types; use types::Event as E; pub struct Holds { e: E } \
                 mod inner { #[path = \"deep.rs\"] mod deep; } \
                 #[cfg_attr(unix, path = \"u.rs\")] mod plat;",
            ),
            ("src/types.rs", "pub struct Event { pub n: u8 }"),
            ("src/inner/deep.rs", "pub struct Deep(u8);"),
        ];
        let d1 = crate_with("r1", &v1);
        let (t1, incomplete) = type_table(&d1.join("src/lib.rs"));
        // `#[path]` inside an inline module: relative to `src/inner/`.
        assert!(t1.contains_key("Deep"), "{t1:?}");
        assert_eq!(incomplete.len(), 1);
        assert!(incomplete[0].contains("cfg_attr"), "{incomplete:?}");
        // `Holds` mentions `E`, which is `Event`: a change of `Event` is
        // a change of `Holds`.
        let mut v2 = v1;
        v2[1].1 = "pub struct Event { pub n: u16 }";
        let d2 = crate_with("r2", &v2);
        let t2 = type_table(&d2.join("src/lib.rs")).0;
        assert_ne!(t1["Holds"], t2["Holds"]);
        for d in [d1, d2] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
}
