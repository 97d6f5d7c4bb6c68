//! A scratch copy of a reloadable example's workspace (host binary and
//! component library, depending on this checkout), for the tests and the
//! reload benchmark that edit its sources and rebuild it with cargo. All
//! copies share one target directory, so dependencies compile once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A reloadable example: its folder under `examples/`, its two crates'
/// folders, its host binary and its library's crate name.
pub struct Example {
    pub dir: &'static str,
    pub members: [&'static str; 2],
    pub host: &'static str,
    pub library: &'static str,
}

/// `examples/reload`: the word count.
pub const WORDCOUNT: Example = Example {
    dir: "reload",
    members: ["host", "components"],
    host: "reload-host",
    library: "reload_components",
};

/// `examples/webserver`: the flagship, as a component library.
pub const WEBSERVER: Example = Example {
    dir: "webserver",
    members: ["host", "library"],
    host: "webserver-host",
    library: "webserver_library",
};

/// `examples/machines_reload`: a count over two machines.
pub const MACHINES: Example = Example {
    dir: "machines_reload",
    members: ["host", "components"],
    host: "machines-reload-host",
    library: "machines_reload_components",
};

/// The example's sources, copied to `target/<name>/ws`.
pub struct Workspace {
    pub dir: PathBuf,
    example: &'static Example,
    target: PathBuf,
    release: bool,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

impl Workspace {
    /// Copies the example afresh (its own sources, unedited).
    pub fn create(name: &str, example: &'static Example, release: bool) -> Workspace {
        let dir = repo().join("target").join(name).join("ws");
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(&repo().join("examples").join(example.dir), &dir);
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = {:?}\nresolver = \"2\"\n\n\
                 [workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"MIT OR Apache-2.0\"\n\n\
                 [workspace.dependencies]\nevoflow = {{ path = {:?} }}\n\n\
                 [profile.dev.package.\"*\"]\ndebug = false\n",
                example.members,
                repo().display().to_string()
            ),
        )
        .unwrap();
        std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        Workspace {
            dir,
            example,
            target: repo().join("target/reload-scratch"),
            release,
        }
    }

    /// `cargo build` of the host and the library, or of the library only;
    /// panics with cargo's output on failure.
    pub fn build(&self, host_too: bool) {
        let mut cmd = self.cargo("build");
        if host_too {
            cmd.args(["-p", self.example.host]);
        }
        run(cmd, "cargo build");
    }

    /// Builds the library crate alone with `flags` given to its own
    /// compilation (`cargo rustc`: the dependencies keep their build, as a
    /// final crate built with `-C panic=abort` over dependencies built to
    /// unwind), and returns a copy of it named after `name` (the next
    /// [`Workspace::build`] replaces the library in the target directory).
    pub fn build_library_with(&self, name: &str, flags: &[&str]) -> PathBuf {
        let mut cmd = self.cargo("rustc");
        cmd.arg("--lib").arg("--").args(flags);
        run(cmd, "cargo rustc");
        let copy = self
            .dir
            .join(format!("lib{}-{name}.so", self.example.library));
        std::fs::copy(self.library(), &copy).unwrap();
        copy
    }

    /// `cargo <subcommand>` of the library in this workspace, into its
    /// target directory, with the profile it was created with and no
    /// RUSTFLAGS from the environment.
    fn cargo(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.arg(subcommand)
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            .env_remove("RUSTFLAGS");
        if self.release {
            cmd.arg("--release");
        }
        cmd.args(["-p", &self.example.library.replace('_', "-")]);
        cmd
    }

    /// Replaces the file at `path` (relative to the example) with a fixture
    /// from the example's `fixtures/`.
    pub fn use_fixture(&self, fixture: &str, path: &str) {
        std::fs::copy(self.dir.join("fixtures").join(fixture), self.dir.join(path)).unwrap();
    }

    /// Puts back the example's own version of a file.
    pub fn restore(&self, path: &str) {
        let own = repo().join("examples").join(self.example.dir).join(path);
        std::fs::copy(own, self.dir.join(path)).unwrap();
    }

    /// Replaces `from` by `to` in a source file; panics if `from` is not
    /// there (the example changed under the test).
    pub fn edit(&self, path: &str, from: &str, to: &str) {
        let file = self.dir.join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{path} no longer contains {from:?}");
        std::fs::write(file, text.replacen(from, to, 1)).unwrap();
    }

    fn out_dir(&self) -> PathBuf {
        self.target
            .join(if self.release { "release" } else { "debug" })
    }

    pub fn host(&self) -> PathBuf {
        self.out_dir().join(self.example.host)
    }

    pub fn library(&self) -> PathBuf {
        self.out_dir()
            .join(format!("lib{}.so", self.example.library))
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Runs a CLI subcommand of the host against the running program.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(self.host())
            .args(args)
            .arg("--socket")
            .arg(self.socket())
            .output()
            .expect("the host binary runs")
    }
}

/// Runs `cmd`; panics with its output if it fails.
fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
