//! Loads the file a request names, from a directory or the embedded site,
//! without ever leaving the root.

use super::http::{Loaded, Method, Request, Status};
use super::site;
use evoflow::{component, Outputs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where files come from.
pub enum Root {
    /// A directory, canonicalised.
    Dir(PathBuf),
    /// The embedded default site.
    Embedded,
}

/// Reads files into memory.
pub struct Load {
    root: Root,
}

impl Load {
    /// Serves `root`, or the embedded site if `None`.
    pub fn new(root: Option<&Path>) -> std::io::Result<Self> {
        let root = match root {
            Some(dir) => {
                let dir = dir.canonicalize()?;
                if !dir.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                Root::Dir(dir)
            }
            None => Root::Embedded,
        };
        Ok(Load { root })
    }

    fn find(&self, target: &str) -> Option<Vec<u8>> {
        let path = clean_path(target)?;
        match &self.root {
            Root::Embedded => {
                let path = if path.is_empty() {
                    "/index.html".to_owned()
                } else {
                    format!("/{path}")
                };
                site::FILES
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, body)| body.to_vec())
            }
            Root::Dir(root) => {
                let mut file = root.join(&path);
                if file.is_dir() {
                    file.push("index.html");
                }
                // Canonicalising resolves symlinks: a link out of the root
                // lands outside it and is not served.
                let file = file.canonicalize().ok()?;
                if !file.starts_with(root) || !file.is_file() {
                    return None;
                }
                std::fs::read(file).ok()
            }
        }
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
            s if s.contains('\\') || s.contains('\0') || s.contains(':') => return None,
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
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        None if path.ends_with('/') => "text/html; charset=utf-8",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        None => "text/html; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

/// The body of an error response.
pub fn error_page(status: Status) -> Arc<[u8]> {
    let (code, reason) = status.line();
    format!("<!doctype html><title>{code} {reason}</title><h1>{code} {reason}</h1>\n")
        .into_bytes()
        .into()
}

#[component(outputs(out: Loaded))]
impl Load {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        let head_only = r.method == Method::Head;
        let (status, content_type, body) = match r.error {
            Some(status) => (status, "text/html; charset=utf-8", error_page(status)),
            None => match self.find(&r.path) {
                Some(body) => (Status::Ok, content_type(&r.path), body.into()),
                None => (
                    Status::NotFound,
                    "text/html; charset=utf-8",
                    error_page(Status::NotFound),
                ),
            },
        };
        let keep_alive = r.keep_alive && r.error.is_none();
        out.out(Loaded {
            conn: r.conn,
            seq: r.seq,
            status,
            content_type,
            body,
            head_only,
            keep_alive,
        });
    }
}
