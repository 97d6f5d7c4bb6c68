//! The default site, embedded so the server has something to serve with no
//! arguments.

/// Path and content of each embedded file.
pub const FILES: &[(&str, &[u8])] = &[
    (
        "/index.html",
        b"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>evoflow</title>\
          <link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><h1>evoflow</h1>\
          <p>This page was served by a dataflow graph that can be updated while it runs.</p>\
          <p><a href=\"/hello.txt\">hello.txt</a></p></body></html>\n",
    ),
    (
        "/style.css",
        b"body { font-family: sans-serif; max-width: 40em; margin: 4em auto; }\n",
    ),
    ("/hello.txt", b"hello from evoflow\n"),
];
