//! `<seq> <word>` lines to events; malformed lines are logged and dropped.

use crate::types::{Event, Line};
use evoflow::{component, Outputs};

#[derive(Default)]
pub struct Parse;

#[component(outputs(out: Event))]
impl Parse {
    #[input]
    fn inp(&mut self, line: Line, out: &mut Outputs<Self>) {
        let parsed = line
            .0
            .split_once(' ')
            .and_then(|(seq, word)| Some((seq.parse().ok()?, word.trim())));
        match parsed {
            Some((seq, word)) if !word.is_empty() => out.out(Event::new(seq, word)),
            _ => tracing::warn!("dropped malformed line {:?}", line.0),
        }
    }
}
