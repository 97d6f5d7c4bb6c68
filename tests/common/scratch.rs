//! A scratch copy of the reload example's workspace (host binary and
//! component library, depending on this checkout), for tests and the
//! reload benchmark that edit its sources and rebuild it with cargo. All
//! copies share one target directory, so dependencies compile once.

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example's sources, copied to `target/<name>/ws`.
pub struct Workspace {
    pub dir: PathBuf,
    target: PathBuf,
    release: bool,
}

impl Workspace {
    /// Copies the example afresh (the example's own sources, unedited).
    pub fn create(name: &str, release: bool) -> Workspace {
        let dir = repo().join("target").join(name).join("ws");
        let example = repo().join("examples/reload");
        for krate in ["host", "components"] {
            let to = dir.join(krate);
            let _ = std::fs::remove_dir_all(&to);
            std::fs::create_dir_all(to.join("src")).unwrap();
            std::fs::copy(
                example.join(krate).join("Cargo.toml"),
                to.join("Cargo.toml"),
            )
            .unwrap();
            for file in std::fs::read_dir(example.join(krate).join("src")).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), to.join("src").join(file.file_name())).unwrap();
            }
        }
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = [\"host\", \"components\"]\nresolver = \"2\"\n\n\
                 [workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"MIT OR Apache-2.0\"\n\n\
                 [workspace.dependencies]\nevoflow = {{ path = {:?} }}\n",
                repo().display().to_string()
            ),
        )
        .unwrap();
        std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        Workspace {
            target: repo().join("target/reload-scratch"),
            dir,
            release,
        }
    }

    /// `cargo build` of `packages`; panics with cargo's output on failure.
    pub fn build(&self, packages: &[&str]) {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.arg("build").current_dir(&self.dir);
        if self.release {
            cmd.arg("--release");
        }
        for p in packages {
            cmd.args(["-p", p]);
        }
        let out = cmd
            .env("CARGO_TARGET_DIR", &self.target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Replaces a component source file with a fixture.
    pub fn use_fixture(&self, fixture: &str, file: &str) {
        std::fs::copy(
            repo().join("examples/reload/fixtures").join(fixture),
            self.dir.join("components/src").join(file),
        )
        .unwrap();
    }

    /// Puts back the example's own version of a component source file.
    pub fn restore(&self, file: &str) {
        std::fs::copy(
            repo().join("examples/reload/components/src").join(file),
            self.dir.join("components/src").join(file),
        )
        .unwrap();
    }

    fn out_dir(&self) -> PathBuf {
        self.target
            .join(if self.release { "release" } else { "debug" })
    }

    pub fn host(&self) -> PathBuf {
        self.out_dir().join("reload-host")
    }

    pub fn library(&self) -> PathBuf {
        self.out_dir().join("libreload_components.so")
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
