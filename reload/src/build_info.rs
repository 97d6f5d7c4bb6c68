//! The identity of a build that decides whether two builds may share
//! memory: Rust has no stable ABI, so a library is only loaded into a host
//! built by the same compiler, for the same target, with the same evoflow
//! runtime; and every library must have the dependencies of the first one.
//!
//! A library states its build info through a C-ABI function, so the host
//! can read it before it calls any Rust-ABI code of the library.

use crate::error::{BuildField, CannotLoad, NotEvoflow};
use std::any::TypeId;
use std::fmt;
use std::hash::{Hash, Hasher};

/// First line of every build info text: a library without it is not an
/// evoflow component library (or one of an incompatible format).
pub(crate) const FORMAT: &str = "evoflow-library 2";

/// The part of a build's identity known at compile time, as text:
/// format, evoflow version, compiler, target, debug assertions and panic
/// strategy, one `key=value` a line. A library exports it as data
/// (`evoflow_build_stamp`), which the host reads from the file and
/// compares before it maps the library: a library of another build, or a
/// foreign one, is refused before any of its code (its initialisers) runs.
/// The panic strategy's value follows this text: it is that of the crate
/// that invokes `library!` (the cdylib, whose final link decides whether a
/// panic unwinds, whatever its dependencies were built with), not this
/// crate's. A library crate that only re-exports an rlib's `library!` is
/// stamped with the rlib's strategy: invoke `library!` in the cdylib.
const STAMP_TEXT: &[&str] = &[
    FORMAT,
    "\nevoflow=",
    env!("CARGO_PKG_VERSION"),
    "\nrustc=",
    env!("EVOFLOW_RUSTC"),
    "\ntarget=",
    env!("EVOFLOW_TARGET"),
    "\ndebug_assertions=",
    if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    },
    "\npanic=",
];

/// How the stamp and the build info name a panic strategy.
pub(crate) const fn panic_strategy(abort: bool) -> &'static str {
    if abort {
        "abort"
    } else {
        "unwind"
    }
}

/// Length in bytes of the stamp of a build whose panics abort or not.
pub const fn stamp_len(abort: bool) -> usize {
    let mut n = panic_strategy(abort).len();
    let mut i = 0;
    while i < STAMP_TEXT.len() {
        n += STAMP_TEXT[i].len();
        i += 1;
    }
    n
}

/// The stamp of a build whose panics abort or not (`N` is
/// [`stamp_len`]`(abort)`).
pub const fn stamp<const N: usize>(abort: bool) -> [u8; N] {
    assert!(N == stamp_len(abort), "the stamp's length is stamp_len");
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i <= STAMP_TEXT.len() {
        let part = if i < STAMP_TEXT.len() {
            STAMP_TEXT[i].as_bytes()
        } else {
            panic_strategy(abort).as_bytes()
        };
        let mut j = 0;
        while j < part.len() {
            out[at] = part[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// This build's panic strategy: anything but unwinding takes the process
/// down at a panic. (A host binary linked with another strategy than its
/// evoflow-reload was built with is not told apart.)
const ABORTS: bool = !cfg!(panic = "unwind");

/// This build's stamp.
const STAMP: [u8; stamp_len(ABORTS)] = stamp(ABORTS);

/// Why a library whose stamp reads `stamp` cannot be loaded into this
/// build, if it cannot: the first field that differs, said as
/// [`BuildInfo::refuse`] says it.
pub(crate) fn refuse_stamp(stamp: &[u8]) -> Option<CannotLoad> {
    if stamp == STAMP {
        return None;
    }
    let text = String::from_utf8_lossy(stamp);
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT) {
        return Some(CannotLoad::StampFormat(FORMAT));
    }
    let fields: std::collections::HashMap<&str, &str> =
        lines.filter_map(|l| l.split_once('=')).collect();
    let host = BuildInfo::current();
    let lib = BuildInfo {
        evoflow: fields.get("evoflow").unwrap_or(&"?").to_string(),
        rustc: fields.get("rustc").unwrap_or(&"?").to_string(),
        target: fields.get("target").unwrap_or(&"?").to_string(),
        debug_assertions: fields.get("debug_assertions") == Some(&"true"),
        panic: fields.get("panic").unwrap_or(&"?").to_string(),
        runtime: host.runtime,
    };
    Some(host.refuse(&lib).unwrap_or(CannotLoad::StampDiffers))
}

/// The build of a host or a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuildInfo {
    pub evoflow: String,
    pub rustc: String,
    pub target: String,
    pub debug_assertions: bool,
    /// `unwind` or `abort`: a library whose panics abort would take the
    /// host down at its first panic, which the host cannot contain.
    pub panic: String,
    /// Hash of the runtime's type identities: differs when the runtime was
    /// compiled differently (features, profile, compiler).
    pub runtime: u64,
}

impl BuildInfo {
    /// This build's own info.
    pub(crate) fn current() -> Self {
        let mut h = fnv_hasher();
        TypeId::of::<evoflow_runtime::Graph>().hash(&mut h);
        TypeId::of::<evoflow_runtime::Update>().hash(&mut h);
        BuildInfo {
            evoflow: env!("CARGO_PKG_VERSION").to_owned(),
            rustc: env!("EVOFLOW_RUSTC").to_owned(),
            target: env!("EVOFLOW_TARGET").to_owned(),
            debug_assertions: cfg!(debug_assertions),
            panic: panic_strategy(ABORTS).to_owned(),
            runtime: h.finish(),
        }
    }

    /// A library's build info text: this build's info and the hash of the
    /// library's dependencies.
    pub(crate) fn library_text(&self, deps: u64) -> String {
        format!("{self}\ndeps={deps:016x}")
    }

    /// Parses a library's build info text into the build info and the
    /// hash of its dependencies.
    pub(crate) fn parse(text: &str) -> Result<(Self, u64), NotEvoflow> {
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(NotEvoflow::InfoFormat(FORMAT));
        }
        let mut get = |key: &str| -> Result<String, NotEvoflow> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(|| NotEvoflow::InfoLacks(key.to_owned()))
        };
        let num = |s: String| u64::from_str_radix(&s, 16).map_err(NotEvoflow::InfoNumber);
        let info = BuildInfo {
            evoflow: get("evoflow")?,
            rustc: get("rustc")?,
            target: get("target")?,
            debug_assertions: get("debug_assertions")? == "true",
            panic: get("panic")?,
            runtime: num(get("runtime")?)?,
        };
        Ok((info, num(get("deps")?)?))
    }

    /// Why a library with build info `lib` cannot share memory with this
    /// build, if it cannot.
    pub(crate) fn refuse(&self, lib: &BuildInfo) -> Option<CannotLoad> {
        let hex = |v: u64| format!("{v:016x}");
        let pairs = [
            (BuildField::Compiler, self.rustc.clone(), lib.rustc.clone()),
            (BuildField::Target, self.target.clone(), lib.target.clone()),
            (
                BuildField::EvoflowVersion,
                self.evoflow.clone(),
                lib.evoflow.clone(),
            ),
            (
                BuildField::DebugAssertions,
                self.debug_assertions.to_string(),
                lib.debug_assertions.to_string(),
            ),
            (
                BuildField::PanicStrategy,
                self.panic.clone(),
                lib.panic.clone(),
            ),
            (
                BuildField::RuntimeBuild,
                hex(self.runtime),
                hex(lib.runtime),
            ),
        ];
        pairs
            .into_iter()
            .find(|(_, host, other)| host != other)
            .map(|(field, running, library)| CannotLoad::Build {
                field,
                library,
                running,
            })
    }
}

impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FORMAT}\nevoflow={}\nrustc={}\ntarget={}\ndebug_assertions={}\npanic={}\nruntime={:016x}",
            self.evoflow, self.rustc, self.target, self.debug_assertions, self.panic, self.runtime
        )
    }
}

/// The hasher of every build and type fingerprint: deterministic across
/// processes (unlike std's keyed SipHash).
pub(crate) fn fnv_hasher() -> impl Hasher {
    fnv::FnvHasher::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let info = BuildInfo::current();
        assert_eq!(
            BuildInfo::parse(&info.library_text(0xabc)),
            Ok((info.clone(), 0xabc))
        );
        assert_eq!(info.refuse(&info), None);
    }

    #[test]
    fn another_compiler_is_refused_by_name() {
        let host = BuildInfo::current();
        let lib = BuildInfo {
            rustc: "rustc 1.0.0".into(),
            ..host.clone()
        };
        let refused = host.refuse(&lib).expect("refused");
        assert_eq!(
            refused,
            CannotLoad::Build {
                field: BuildField::Compiler,
                library: "rustc 1.0.0".into(),
                running: host.rustc.clone(),
            }
        );
        let why = refused.to_string();
        assert!(why.contains("compiler is `rustc 1.0.0`"), "{why}");
        assert!(why.contains(&host.rustc), "{why}");
    }

    #[test]
    fn another_panic_strategy_is_refused() {
        let host = BuildInfo::current();
        let lib = BuildInfo {
            panic: "abort".into(),
            ..host.clone()
        };
        let why = host.refuse(&lib).expect("refused").to_string();
        assert!(why.contains("panic strategy"), "{why}");
        assert!(why.contains("is `abort`"), "{why}");
    }

    #[test]
    fn the_stamp_is_this_builds_text_and_names_what_differs() {
        let text = String::from_utf8(STAMP.to_vec()).unwrap();
        assert!(
            text.starts_with(FORMAT) && text.contains("\npanic="),
            "{text}"
        );
        assert_eq!(refuse_stamp(&STAMP), None);
        let abort = text.replace("panic=unwind", "panic=abort");
        // What `library!` exports from a library crate whose panics abort.
        assert_eq!(abort.as_bytes(), stamp::<{ stamp_len(true) }>(true));
        let why = refuse_stamp(abort.as_bytes()).expect("refused").to_string();
        assert!(
            why.contains("panic strategy") && why.contains("is `abort`"),
            "{why}"
        );
        assert_eq!(
            refuse_stamp(b"hello"),
            Some(CannotLoad::StampFormat(FORMAT))
        );
        assert!(refuse_stamp(b"hello").unwrap().to_string().contains(FORMAT));
    }

    #[test]
    fn foreign_text_is_not_an_evoflow_build() {
        let why = BuildInfo::parse("hello").unwrap_err();
        assert_eq!(why, NotEvoflow::InfoFormat(FORMAT));
        assert_eq!(
            why.to_string(),
            format!(
                "its build info does not start with `{FORMAT}`; it was built by another version of evoflow"
            )
        );
        let lacking = format!("{FORMAT}\nevoflow=1\nrustc=r\n");
        assert_eq!(
            BuildInfo::parse(&lacking).unwrap_err().to_string(),
            "its build info lacks `target`"
        );
    }
}
