//! The control socket: a Unix socket only the process's owner can use,
//! over which the `reload` and `status` commands reach a running program.
//!
//! Protocol: one request line (`reload [watch=<ms>] [<library path>]` or
//! `status`), answered by `ok` or `refused` on the first line and the
//! human-readable outcome after it; then the server closes the connection.
//!
//! Each connection is served on a thread of its own, so a client that
//! connects and says nothing delays nobody; reloads still apply one at a
//! time, and `status` never waits for one.

use crate::app::App;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest request accepted (a command and a path).
const MAX_REQUEST: u64 = 8192;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once; more are refused at once with a message.
const MAX_CONNECTIONS: usize = 32;

/// A listening control socket; removes its file when dropped.
pub struct ControlSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// The listening socket's fd, shut down to end the accept loop.
    listener: RawFd,
    thread: Option<JoinHandle<()>>,
}

impl ControlSocket {
    /// Listens on `path` (mode 0600; connections from other users are
    /// refused too) and serves `app` on a thread of its own.
    pub fn serve<A: Controlled>(app: Arc<A>, path: &Path) -> io::Result<ControlSocket> {
        clear_stale(path)?;
        let listener = UnixListener::bind(path)?;
        // Connections in the moment before this are refused by the peer
        // check in `handle`.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let fd = listener.as_raw_fd();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evoflow-control".into())
            .spawn(move || {
                let mut serving: Vec<JoinHandle<()>> = Vec::new();
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    serving.retain(|t| !t.is_finished());
                    match stream {
                        Ok(mut s) if serving.len() >= MAX_CONNECTIONS => {
                            let _ = s.write_all(
                                b"refused\ntoo many control connections at once; try again\n",
                            );
                        }
                        Ok(s) => {
                            let app = app.clone();
                            let served = std::thread::Builder::new()
                                .name("evoflow-control-client".into())
                                .spawn(move || {
                                    if let Err(e) = handle(app.as_ref(), s) {
                                        tracing::warn!("control connection failed: {e}");
                                    }
                                });
                            match served {
                                Ok(t) => serving.push(t),
                                Err(e) => tracing::warn!("control socket: cannot serve: {e}"),
                            }
                        }
                        Err(e) => tracing::warn!("control socket: {e}"),
                    }
                }
                // Every client thread holds the app: all end before this.
                serving.into_iter().for_each(|t| drop(t.join()));
            })?;
        Ok(ControlSocket {
            path: path.to_owned(),
            stop,
            listener: fd,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // Wake the accept loop, which then sees the flag.
        self.stop.store(true, Ordering::Release);
        // SAFETY: the fd stays open until the thread, which owns the
        // listener, is joined below; shutdown only makes `accept` fail.
        unsafe { libc::shutdown(self.listener, libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Makes way for a socket at `path`: nothing there, or the stale socket of
/// a program of this user that did not exit cleanly (removed). Anything
/// else is refused and left as it is.
fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() || meta.uid() != own_uid() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "`{}` exists and is not a control socket of this user; give `--socket` a path that does not exist yet (it is created, and removed on exit)",
                path.display()
            ),
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("`{}` is served by another running program", path.display()),
        ));
    }
    std::fs::remove_file(path)
}

/// What the control socket asks of a running program.
pub trait Controlled: Send + Sync + 'static {
    /// Reloads `library` (or the start library), watched for `watch`;
    /// the report, or why not.
    fn reload(&self, library: Option<&Path>, watch: Option<Duration>) -> Result<String, String>;
    /// What runs, for people.
    fn status(&self) -> String;
}

impl Controlled for App {
    fn reload(&self, library: Option<&Path>, watch: Option<Duration>) -> Result<String, String> {
        App::reload(self, library, watch)
            .map(|r| r.to_string())
            .map_err(|e| e.to_string())
    }

    fn status(&self) -> String {
        App::status(self)
    }
}

#[cfg(feature = "machines")]
impl Controlled for crate::MachineApp {
    fn reload(&self, library: Option<&Path>, watch: Option<Duration>) -> Result<String, String> {
        if watch.is_some() {
            return Err(
                "reload refused, nothing changed: watching a reload is not available across machines yet; reload without `--watch`"
                    .into(),
            );
        }
        crate::MachineApp::reload(self, library).map_err(|e| e.to_string())
    }

    fn status(&self) -> String {
        crate::MachineApp::status(self)
    }
}

fn handle(app: &dyn Controlled, stream: UnixStream) -> io::Result<()> {
    // A client that connects and says nothing must not block the others.
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut out = stream.try_clone()?;
    let owner = peer_uid(&stream) == Some(own_uid());
    // The request is read first, also from a refused peer: closing with
    // unread data would reset the connection before it read the refusal.
    let mut line = String::new();
    BufReader::new(stream.take(MAX_REQUEST)).read_line(&mut line)?;
    if !owner {
        out.write_all(b"refused\nthe control socket only accepts its owner's connections\n")?;
        return out.shutdown(std::net::Shutdown::Write);
    }
    let line = line.trim_end();
    let (ok, text) = match line.split_once(' ').unwrap_or((line, "")) {
        ("reload", rest) => match reload_args(rest) {
            Ok((watch, path)) => match app.reload(path, watch) {
                Ok(report) => (true, report),
                Err(e) => (false, e),
            },
            Err(why) => (false, why),
        },
        ("status", "") => (true, app.status()),
        _ => (
            false,
            format!(
                "unknown request `{line}`; expected `reload [watch=<ms>] [library]` or `status`"
            ),
        ),
    };
    let head = if ok { "ok" } else { "refused" };
    out.write_all(format!("{head}\n{text}\n").as_bytes())
}

/// Sends `request` to the program serving `path`; returns whether it
/// succeeded and its message.
pub fn request(path: &Path, request: &str) -> io::Result<(bool, String)> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach a running program at `{}`: {e}",
                path.display()
            ),
        )
    })?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let (head, text) = answer.split_once('\n').unwrap_or((&answer, ""));
    Ok((head == "ok", text.trim_end().to_owned()))
}

/// The connecting process's user id (SO_PEERCRED).
fn peer_uid(s: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of a `ucred`, the size
    // SO_PEERCRED fills; the fd is open for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// This process's user id.
fn own_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The arguments of `reload`: an optional `watch=<milliseconds>`, then an
/// optional library path (the rest of the line).
fn reload_args(rest: &str) -> Result<(Option<Duration>, Option<&Path>), String> {
    let (watch, path) = match rest.strip_prefix("watch=") {
        Some(w) => {
            let (ms, path) = w.split_once(' ').unwrap_or((w, ""));
            let ms: u64 = ms
                .parse()
                .map_err(|_| format!("`watch={ms}` is not a number of milliseconds"))?;
            (Some(Duration::from_millis(ms)), path)
        }
        None => (None, rest),
    };
    Ok((watch, (!path.is_empty()).then(|| Path::new(path))))
}

#[cfg(test)]
mod tests {
    use super::{clear_stale, reload_args};
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn reload_takes_an_optional_watch_then_an_optional_library() {
        assert_eq!(reload_args(""), Ok((None, None)));
        assert_eq!(
            reload_args("/a b/lib.so"),
            Ok((None, Some(Path::new("/a b/lib.so"))))
        );
        assert_eq!(
            reload_args("watch=1500 /lib.so"),
            Ok((
                Some(Duration::from_millis(1500)),
                Some(Path::new("/lib.so"))
            ))
        );
        assert_eq!(
            reload_args("watch=10000"),
            Ok((Some(Duration::from_secs(10)), None))
        );
        assert_eq!(
            reload_args("watch=10s"),
            Err("`watch=10s` is not a number of milliseconds".to_owned())
        );
    }

    /// A regular file (or anything but a stale socket) at the socket path
    /// is refused and left intact; a stale socket is cleared; a live one
    /// is refused.
    #[test]
    fn only_a_stale_socket_of_ours_is_cleared() {
        let dir = std::env::temp_dir().join(format!("evoflow-socket-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("notes.txt");
        std::fs::write(&file, "keep me").unwrap();
        let why = clear_stale(&file).unwrap_err().to_string();
        assert!(why.contains("exists and is not a control socket"), "{why}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        let socket = dir.join("live.sock");
        let live = UnixListener::bind(&socket).unwrap();
        let why = clear_stale(&socket).unwrap_err().to_string();
        assert!(why.contains("served by another running program"), "{why}");
        drop(live);
        clear_stale(&socket).expect("a stale socket is cleared");
        assert!(!socket.exists());
        clear_stale(&socket).expect("nothing there");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
