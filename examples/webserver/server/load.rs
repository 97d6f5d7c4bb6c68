//! Loads the file a request names, from a directory or the embedded site,
//! without ever leaving the root.

use super::http::{Body, Conditions, DateText, Loaded, Method, Opened, Request, Status};
use super::prefetch::read_now;
use super::range::{self, Ranges};
use super::site;
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Files up to this size are read into memory in one go; larger ones are
/// streamed from the open file.
pub const IN_MEMORY: u64 = 64 * 1024;

/// What a path names under a directory root.
pub enum Target {
    /// A regular file, open, and its metadata.
    File(std::fs::File, std::fs::Metadata),
    /// A directory asked for without its trailing slash (redirected).
    Directory,
    /// The server is out of file descriptors (or memory): not "missing".
    Unavailable,
}

/// A file's body: in memory if small (one read) and in the page cache,
/// else the open file, streamed as the client reads (`reply` reads what
/// is not in memory in off its worker); never read for a HEAD.
fn file_body(file: std::fs::File, len: u64, head_only: bool) -> Option<Body> {
    if len > IN_MEMORY || head_only {
        return Some(Body::file(file, len));
    }
    // The length `fstat` gave, in one `pread` (`read_to_end` would `fstat`
    // and `lseek` again, and read once more to see the end). A file cut
    // short meanwhile is sent as it is now: the length sent is the body's.
    let mut bytes = vec![0; len as usize];
    let mut got = 0;
    while got < bytes.len() {
        match read_cached(&file, &mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            // Reading it here would wait for the disk on the worker.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Some(Body::file(file, len))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    bytes.truncate(got);
    Some(Body::Memory(bytes.into()))
}

/// `pread` that does not wait for the disk ([`read_now`]): `WouldBlock`
/// if the first page asked for is not in the page cache. On a file system
/// that cannot tell, a plain `pread`.
fn read_cached(file: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    read_now(file, buf, at).or_else(|e| match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => file.read_at(buf, at),
        _ => Err(e),
    })
}

/// Where files come from.
#[derive(Clone, Serialize, Deserialize)]
pub enum Root {
    /// A directory, canonicalised.
    Dir(PathBuf),
    /// The embedded default site.
    Embedded,
}

impl Root {
    /// Checks and canonicalises `dir`, or picks the embedded site.
    pub fn new(dir: Option<&Path>) -> std::io::Result<Self> {
        Ok(match dir {
            Some(dir) => {
                let dir = dir.canonicalize()?;
                if !dir.is_dir() {
                    let msg = format!("{} is not a directory", dir.display());
                    return Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, msg));
                }
                Root::Dir(dir)
            }
            None => Root::Embedded,
        })
    }

    /// What `target` names inside a directory root: a file (a
    /// directory's `index.html` when asked with its trailing slash), open,
    /// with its metadata; or a directory asked without the slash.
    pub fn open(&self, target: &str) -> Option<Target> {
        let Root::Dir(root) = self else { return None };
        let asked = Asked::of(target)?;
        beneath::open(root, &asked.path, asked.slash)
    }

    /// The body of `target`: in memory if it is small, else the open file,
    /// streamed as the client reads (so a large file is never held whole);
    /// not read at all for a HEAD. One `open` and one `fstat` per file.
    pub fn body(&self, target: &str, head_only: bool) -> Option<Body> {
        if let Root::Embedded = self {
            return Self::embedded(target).map(|b| Body::Memory(b.into()));
        }
        let Target::File(file, meta) = self.open(target)? else {
            return None;
        };
        file_body(file, meta.len(), head_only)
    }

    /// A file of the embedded site (its `index.html` for `/`).
    pub fn embedded(target: &str) -> Option<&'static [u8]> {
        let path = clean_path(target)?;
        let path = if path.is_empty() {
            "/index.html".to_owned()
        } else {
            format!("/{path}")
        };
        site::FILES
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, body)| *body)
    }
}

/// What a request target names, decoded once per request: the cleaned
/// relative path, and whether it asked for a directory (a trailing slash).
struct Asked {
    path: String,
    slash: bool,
}

impl Asked {
    /// `None` if the target could leave the root or does not decode.
    fn of(target: &str) -> Option<Self> {
        let raw = target.split(['?', '#']).next().unwrap_or_default();
        Some(Asked {
            path: clean_path(target)?,
            slash: raw.ends_with('/'),
        })
    }
}

/// The request target as a relative path: query dropped, percent-decoded,
/// and refused if any segment could leave the root.
pub fn clean_path(target: &str) -> Option<String> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path)?;
    let mut parts = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Content-Type by extension.
pub fn content_type(target: &str) -> &'static str {
    Asked::of(target).map_or("application/octet-stream", |a| type_of(&a))
}

/// The type of the file served: after percent-decoding (`/a%2Ehtml` is
/// `a.html`), and `index.html` for a directory.
fn type_of(asked: &Asked) -> &'static str {
    let path = &asked.path;
    if path.is_empty() || asked.slash {
        return "text/html; charset=utf-8";
    }
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("bmp") => "image/bmp",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("wav") => "audio/wav",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        // Unknown or no extension: never guessed as HTML.
        _ => "application/octet-stream",
    }
}

/// The body of an error response.
pub fn error_page(status: Status) -> Arc<[u8]> {
    let (code, reason) = status.line();
    format!("<!doctype html><title>{code} {reason}</title><h1>{code} {reason}</h1>\n")
        .into_bytes()
        .into()
}

/// The status, type and body answering a request for `path` (or refused
/// with `error`) from `root`, in memory.
pub fn answer(
    root: &Root,
    error: Option<Status>,
    path: &str,
    head_only: bool,
) -> (Status, &'static str, Body) {
    let page = |status| {
        (
            status,
            "text/html; charset=utf-8",
            Body::Memory(error_page(status)),
        )
    };
    match error {
        Some(status) => page(status),
        None => match root.body(path, head_only) {
            Some(body) => (Status::Ok, content_type(path), body),
            None => page(Status::NotFound),
        },
    }
}

/// A response's status, type, body and more header lines.
pub struct Answer {
    pub status: Status,
    pub content_type: Cow<'static, str>,
    pub body: Body,
    pub extra: String,
}

/// A file's validators: its entity tag (modification time in
/// nanoseconds, length, and `gz` for a precompressed sibling, so that the
/// two representations never share one) and its `ETag` and
/// `Last-Modified` header lines.
pub fn validators(len: u64, modified: Option<SystemTime>, gzip: bool) -> (String, String) {
    let nanos = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    // `"<nanos hex>-<len hex>[-gz]"`, written without `format!` (on
    // every request).
    let mut etag = String::with_capacity(48);
    etag.push('"');
    push_hex(&mut etag, nanos);
    etag.push('-');
    push_hex(&mut etag, u128::from(len));
    if gzip {
        etag.push_str("-gz");
    }
    etag.push('"');
    // Room for the headers `respond` adds after these.
    let mut lines = String::with_capacity(192);
    lines.push_str("ETag: ");
    lines.push_str(&etag);
    if let Some(m) = modified {
        lines.push_str("\r\nLast-Modified: ");
        MODIFIED.with(|d| d.with(m, |text| lines.push_str(text)));
    }
    lines.push_str("\r\n");
    (etag, lines)
}

/// Appends `n` in lower-case hexadecimal, as `{:x}` would.
fn push_hex(s: &mut String, mut n: u128) {
    let mut digits = [0u8; 32];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[at..].iter().map(|&d| d as char));
}

thread_local! {
    /// The last `Last-Modified` formatted: files served one after another
    /// are often of the same second.
    static MODIFIED: DateText = const { DateText::new() };
}

/// True if the client's copy is current (RFC 9110 13.1.2-3): its
/// `If-None-Match` names this version, or, without one, nothing changed
/// since its `If-Modified-Since`.
fn unchanged(c: &Conditions, etag: &str, modified: Option<SystemTime>) -> bool {
    match (&c.if_none_match, &c.if_modified_since) {
        (Some(tags), _) => tags
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)),
        (None, Some(since)) => match (httpdate::parse_http_date(since), modified) {
            (Ok(since), Some(m)) => httpdate::HttpDate::from(m) <= httpdate::HttpDate::from(since),
            _ => false,
        },
        (None, None) => false,
    }
}

/// True unless `If-Match` names no current version, or, without one,
/// the file changed since `If-Unmodified-Since` (RFC 9110 13.1.1, 13.1.4):
/// a client resuming a download must not splice two versions.
fn precondition_holds(c: &Conditions, etag: &str, modified: Option<SystemTime>) -> bool {
    match (&c.if_match, &c.if_unmodified_since) {
        (Some(tags), _) => tags
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag),
        (None, Some(since)) => match (httpdate::parse_http_date(since), modified) {
            (Ok(since), Some(m)) => httpdate::HttpDate::from(m) <= httpdate::HttpDate::from(since),
            _ => true,
        },
        (None, None) => true,
    }
}

/// True if a `Range` applies (RFC 9110 13.1.5): no `If-Range`, or one
/// naming this version exactly (strong tag, or the exact modification
/// date).
fn range_applies(c: &Conditions, etag: &str, modified: Option<SystemTime>) -> bool {
    match c.if_range.as_deref().map(str::trim) {
        None => true,
        Some(tag) if tag.starts_with('"') => tag == etag,
        Some(date) => match (httpdate::parse_http_date(date), modified) {
            (Ok(date), Some(m)) => httpdate::HttpDate::from(m) == httpdate::HttpDate::from(date),
            _ => false,
        },
    }
}

/// The precompressed sibling (`name.gz`) of the file `r` names, if the
/// client takes gzip and one exists.
fn gzipped(root: &Path, asked: &Asked, gzip: bool) -> Option<(std::fs::File, std::fs::Metadata)> {
    // A directory's `index.html` has no sibling looked up.
    if !gzip || asked.slash || asked.path.is_empty() {
        return None;
    }
    match beneath::open(root, &format!("{}.gz", asked.path), false)? {
        Target::File(file, meta) => Some((file, meta)),
        Target::Directory | Target::Unavailable => None,
    }
}

/// Answers `r` from `root` as clients expect: a directory asked without
/// its slash is redirected (301) to it; a file carries `ETag` and
/// `Last-Modified`, and a request whose `If-None-Match` (or, without one,
/// `If-Modified-Since`) says the client has it gets a 304 with no body;
/// a client that takes gzip gets the file's precompressed `.gz` sibling
/// if there is one; a GET with `Range` gets those bytes (206, several as
/// `multipart/byteranges`) or 416 if none exist. `stream` sends every
/// file from the open file (the streaming `load`).
pub fn respond(root: &Root, r: &Request, head_only: bool, stream: bool) -> Answer {
    let plain = |(status, content_type, body)| Answer {
        status,
        content_type: Cow::Borrowed(content_type),
        body,
        extra: String::new(),
    };
    let error = |status| plain(answer(root, Some(status), "", head_only));
    let dir = match root {
        Root::Dir(dir) if r.error.is_none() => dir,
        _ => return plain(answer(root, r.error, &r.path, head_only)),
    };
    let Some(asked) = Asked::of(&r.path) else {
        return plain(answer(root, Some(Status::NotFound), &r.path, head_only));
    };
    let (file, meta) = match beneath::open(dir, &asked.path, asked.slash) {
        Some(Target::File(file, meta)) => (file, meta),
        None => return plain(answer(root, Some(Status::NotFound), &r.path, head_only)),
        Some(Target::Unavailable) => {
            return Answer {
                extra: "Retry-After: 1\r\n".to_owned(),
                ..error(Status::Unavailable)
            }
        }
        Some(Target::Directory) => {
            // From the cleaned path: `//host` must not become a
            // protocol-relative redirect to another site.
            let path = &asked.path;
            let query = r
                .path
                .split_once('?')
                .map_or(String::new(), |(_, q)| format!("?{q}"));
            return Answer {
                extra: format!("Location: /{path}/{query}\r\n"),
                ..error(Status::MovedPermanently)
            };
        }
    };
    // The precompressed sibling stands in for the file, never for a path
    // that names no file.
    let (file, meta, encoding) = match gzipped(dir, &asked, r.gzip) {
        Some((gz, gz_meta)) => (gz, gz_meta, "Content-Encoding: gzip\r\n"),
        None => (file, meta, ""),
    };
    let (len, modified) = (meta.len(), meta.modified().ok());
    let (etag, mut extra) = validators(len, modified, !encoding.is_empty());
    if !precondition_holds(&r.conditions, &etag, modified) {
        return Answer {
            extra,
            ..error(Status::PreconditionFailed)
        };
    }
    let content_type = Cow::Borrowed(type_of(&asked));
    if unchanged(&r.conditions, &etag, modified) {
        return Answer {
            status: Status::NotModified,
            content_type,
            body: Body::Memory(Arc::from(&[][..])),
            extra,
        };
    }
    // Which representation is sent depends on `Accept-Encoding`.
    extra.push_str("Vary: Accept-Encoding\r\nAccept-Ranges: bytes\r\n");
    let ranges = match &r.conditions.range {
        Some(h) if !head_only && range_applies(&r.conditions, &etag, modified) => {
            range::parse(h, len)
        }
        _ => Ranges::Whole,
    };
    extra.push_str(encoding);
    let body = match ranges {
        Ranges::Whole if stream => Some(Body::file(file, len)),
        Ranges::Whole => file_body(file, len, head_only),
        // An error page, not the representation: no encoding or validators.
        Ranges::Unsatisfiable => {
            return Answer {
                extra: format!("Content-Range: bytes */{len}\r\n"),
                ..error(Status::RangeNotSatisfiable)
            }
        }
        Ranges::Parts(parts) => {
            let file = Arc::new(file);
            if let [(a, b)] = parts[..] {
                extra.push_str(&format!("Content-Range: bytes {a}-{b}/{len}\r\n"));
                let body = Body::File {
                    file,
                    offset: a,
                    len: b - a + 1,
                };
                return Answer {
                    status: Status::PartialContent,
                    content_type,
                    body,
                    extra,
                };
            }
            let boundary = range::boundary();
            return Answer {
                status: Status::PartialContent,
                body: range::multipart(&file, len, &content_type, &parts, &boundary),
                content_type: Cow::Owned(format!("multipart/byteranges; boundary={boundary}")),
                extra,
            };
        }
    };
    match body {
        Some(body) => Answer {
            status: Status::Ok,
            content_type,
            body,
            extra,
        },
        None => plain(answer(root, Some(Status::NotFound), &r.path, head_only)),
    }
}

/// Reads files into memory.
#[derive(Serialize, Deserialize)]
pub struct Load {
    root: Root,
}

impl Load {
    /// Serves `root`, or the embedded site if `None`.
    pub fn new(root: Option<&Path>) -> std::io::Result<Self> {
        Ok(Load {
            root: Root::new(root)?,
        })
    }

    /// Serves an already checked root.
    pub fn from_root(root: Root) -> Self {
        Load { root }
    }
}

#[component(state, outputs(out: Loaded))]
impl Load {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        let head_only = r.method == Method::Head;
        let a = respond(&self.root, &r, head_only, false);
        let keep_alive = r.keep_alive && r.error.is_none();
        out.out(Loaded {
            conn: r.conn,
            seq: r.seq,
            status: a.status,
            content_type: a.content_type,
            body: a.body,
            head_only,
            keep_alive,
            extra: a.extra,
        });
    }
}

/// Version 2: opens files instead of reading them, so large files stream
/// through `ReplyStream` without being held in memory.
#[derive(Serialize, Deserialize)]
pub struct LoadOpen {
    root: Root,
}

#[component(version = 2, state, outputs(out: Opened))]
impl LoadOpen {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        let head_only = r.method == Method::Head;
        let keep_alive = r.keep_alive && r.error.is_none();
        let a = respond(&self.root, &r, head_only, true);
        out.out(Opened {
            conn: r.conn,
            seq: r.seq,
            status: a.status,
            content_type: a.content_type,
            body: a.body,
            head_only,
            keep_alive,
            extra: a.extra,
        });
    }

    /// Version 1's state is the root; it carries over as is.
    #[migrate(from = 1)]
    fn from_load(old: Load) -> Self {
        LoadOpen { root: old.root }
    }
}

/// Opens files confined to the root without a `canonicalize` per request:
/// `openat2` with `RESOLVE_BENEATH` from a directory descriptor kept per
/// worker thread (no path, symlink or `..` may leave the root; the kernel
/// checks it), then one `fstat`. A directory serves its `index.html`.
mod beneath {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::ffi::CString;
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::path::{Path, PathBuf};
    use std::rc::Rc;

    thread_local! {
        /// Root directories opened by this thread.
        static ROOTS: RefCell<HashMap<PathBuf, Rc<OwnedFd>>> = RefCell::new(HashMap::new());
    }

    fn root_fd(root: &Path) -> Option<Rc<OwnedFd>> {
        ROOTS.with(|roots| {
            if let Some(fd) = roots.borrow().get(root) {
                return Some(fd.clone());
            }
            let dir = File::open(root).ok()?;
            let fd = Rc::new(OwnedFd::from(dir));
            roots.borrow_mut().insert(root.to_owned(), fd.clone());
            Some(fd)
        })
    }

    /// Out of descriptors or memory: a temporary state of the server.
    fn exhausted(e: &std::io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)
        )
    }

    /// `openat2(dir, path, O_RDONLY | O_CLOEXEC, RESOLVE_BENEATH |
    /// RESOLVE_NO_MAGICLINKS)`.
    fn open_beneath(dir: RawFd, path: &str) -> std::io::Result<File> {
        let path = CString::new(if path.is_empty() { "." } else { path })
            .map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: `open_how` is plain data; zeroed is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        // Non-blocking: opening a FIFO (or a device) must not hang the
        // worker; only regular files are served after the `fstat`.
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: valid descriptor, NUL-terminated path, `how` of the size
        // passed; the returned descriptor is owned by the `File`.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd as RawFd) })
    }

    /// The regular file at `path` (already cleaned: no `..`, no empty or
    /// `.` segments) under `root`, or its directory's `index.html`; and
    /// its length.
    pub(super) fn open(root: &Path, path: &str, slash: bool) -> Option<super::Target> {
        let Some(dir) = root_fd(root) else {
            return Some(super::Target::Unavailable);
        };
        let file = match open_beneath(dir.as_raw_fd(), path) {
            Ok(file) => file,
            Err(e) if exhausted(&e) => return Some(super::Target::Unavailable),
            Err(_) => return None,
        };
        let meta = file.metadata().ok()?;
        if meta.is_file() {
            // `/a.txt/` names no file (and must not serve it as a page).
            return (!slash).then_some(super::Target::File(file, meta));
        }
        if !meta.is_dir() {
            return None;
        }
        if !slash && !path.is_empty() {
            return Some(super::Target::Directory);
        }
        let index = if path.is_empty() {
            "index.html".to_owned()
        } else {
            format!("{path}/index.html")
        };
        let index = match open_beneath(dir.as_raw_fd(), &index) {
            Ok(file) => file,
            Err(e) if exhausted(&e) => return Some(super::Target::Unavailable),
            Err(_) => return None,
        };
        let meta = index.metadata().ok()?;
        meta.is_file().then_some(super::Target::File(index, meta))
    }
}

#[cfg(test)]
mod tests {
    /// A small file not in the page cache is streamed (and read in off
    /// the worker by `reply`), not read here: that would wait for the
    /// disk on the worker, and every connection of the worker with it.
    #[test]
    fn a_small_file_not_in_memory_is_streamed_not_read_on_the_worker() {
        use super::super::prefetch::evicted;
        use super::{file_body, read_cached, Body};
        use std::os::unix::fs::FileExt as _;
        let len = 16 * 1024;
        // Data on disk (a hole would be read without the disk), dropped
        // from the page cache.
        let file = evicted("load", &vec![7u8; len as usize]);
        let open = || file.try_clone().unwrap();
        // Nothing reads the file before this (a read that fails for want
        // of the page starts reading it in).
        let cold = file_body(open(), len, false);
        if !matches!(cold, Some(Body::File { .. })) {
            let probe = evicted("load-probe", &vec![7u8; len as usize]);
            if read_cached(&probe, &mut [0; 1], 0).is_ok() {
                eprintln!("skipped: this file system reads pages not in memory with RWF_NOWAIT (or kept them)");
                return;
            }
        }
        assert!(matches!(cold, Some(Body::File { len: l, .. }) if l == len));
        assert_eq!(
            file.read_at(&mut vec![0; len as usize], 0).unwrap() as u64,
            len
        );
        let warm = file_body(open(), len, false);
        assert!(matches!(warm, Some(Body::Memory(b)) if b.len() as u64 == len));
    }

    #[test]
    fn hex_is_what_format_writes() {
        for n in [
            0,
            1,
            15,
            16,
            255,
            0x18ed_4931_cdc9_19c8,
            u128::from(u64::MAX) + 1,
            u128::MAX,
        ] {
            let mut s = String::new();
            super::push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}"));
        }
    }
}
