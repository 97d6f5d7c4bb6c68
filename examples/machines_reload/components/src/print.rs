//! Writes each line to stdout.

use crate::types::Line;
use evoflow::component;

#[derive(Default)]
pub struct Print;

#[component]
impl Print {
    #[input]
    fn inp(&mut self, Line(line): Line) {
        println!("{line}");
    }
}
