//! Writes each output line to stdout.

use crate::types::Out;
use evoflow::component;
use std::io::Write;

#[derive(Default)]
pub struct Print;

#[component]
impl Print {
    #[input]
    fn inp(&mut self, line: Out) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (the reader went away) is not this program's end.
        let _ = writeln!(stdout, "{}", line.0).and_then(|()| stdout.flush());
    }
}
