//! Supervision: what becomes of an instance whose code panics, and the
//! record of the packets that made it panic.
//!
//! As with OTP supervisors, a failing instance is stopped, resumed or
//! restarted, and too many failures in too short a time escalate: the graph
//! stops with a report naming the instance and its last panics. Unlike a
//! process restart, a restart here keeps the instance's arcs and queues, so
//! the packets behind the failing one are handled by the new instance and
//! the rest of the graph never notices.

use crate::sync::{lock, Mutex};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// What a panic in an instance's code leads to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OnPanic {
    /// The graph stops (the run ends with `RunError::Panicked`).
    Stop,
    /// The instance keeps its state and goes on with the next packet (as an
    /// Akka actor's `Resume`): for handlers whose panic leaves the state
    /// sound.
    Resume,
    /// The instance is rebuilt by its constructor, as OTP restarts a child
    /// from `init`.
    Restart,
    /// The instance (a `#[component(state)]`) is rebuilt from its last
    /// snapshot, taken at a packet boundary at most every `every` (and once
    /// when it starts).
    Snapshot {
        /// Least time between two snapshots.
        every: Duration,
    },
}

/// An instance's supervision: what a panic leads to, and how many panics
/// it may have in a period before the graph stops anyway.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Supervision {
    /// What a panic leads to.
    pub on_panic: OnPanic,
    /// At most this many panics are absorbed within `within`; one more
    /// stops the graph (OTP's intensity).
    pub max: u32,
    /// The period of `max` (OTP's period).
    pub within: Duration,
}

impl Supervision {
    /// Today's default: a panic stops the graph.
    pub const STOP: Supervision = Supervision {
        on_panic: OnPanic::Stop,
        max: 0,
        within: Duration::ZERO,
    };

    /// Default intensity of the other policies: 5 panics in 10 s.
    const MAX: u32 = 5;
    const WITHIN: Duration = Duration::from_secs(10);

    /// Resume after a panic, keeping the state.
    pub const fn resume() -> Self {
        Self::with(OnPanic::Resume)
    }

    /// Restart from the constructor after a panic.
    pub const fn restart() -> Self {
        Self::with(OnPanic::Restart)
    }

    /// Restart from the last snapshot, taken at most every `every`.
    pub const fn snapshot(every: Duration) -> Self {
        Self::with(OnPanic::Snapshot { every })
    }

    const fn with(on_panic: OnPanic) -> Self {
        Supervision {
            on_panic,
            max: Self::MAX,
            within: Self::WITHIN,
        }
    }

    /// Sets the intensity: at most `max` panics within `within`.
    pub const fn limit(mut self, max: u32, within: Duration) -> Self {
        self.max = max;
        self.within = within;
        self
    }
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision::STOP
    }
}

/// The record of a packet (or call) whose handler panicked. It is not
/// retried: retrying the packet that made an instance panic would make it
/// panic again.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Instance that panicked.
    pub instance: String,
    /// Where: `"input `port`"`, `"#[source]"`, `"#[poll]"` or `"#[on_end]"`.
    pub site: String,
    /// The panic message.
    pub message: String,
    /// When.
    pub at: SystemTime,
    /// The packet, `Debug`-formatted, if its type is [`Recoverable`](crate::Recoverable).
    pub packet: Option<String>,
    /// What the supervisor did: "resumed", "restarted", ...
    pub outcome: String,
}

/// How many dead letters a graph keeps: the most recent ones.
pub const DEAD_LETTERS: usize = 1024;

/// The bounded record of a graph's dead letters.
#[derive(Default)]
pub(crate) struct DeadLetters {
    inner: Mutex<(VecDeque<DeadLetter>, u64)>,
}

impl DeadLetters {
    pub(crate) fn push(&self, letter: DeadLetter) {
        tracing::error!(
            instance = %letter.instance,
            site = %letter.site,
            packet = letter.packet.as_deref().unwrap_or("(not kept)"),
            outcome = %letter.outcome,
            "a handler panicked: {}",
            letter.message
        );
        let mut inner = lock(&self.inner);
        if inner.0.len() == DEAD_LETTERS {
            inner.0.pop_front();
        }
        inner.0.push_back(letter);
        inner.1 += 1;
    }

    /// The most recent letters, oldest first, and how many there were in all.
    pub(crate) fn read(&self) -> (Vec<DeadLetter>, u64) {
        let inner = lock(&self.inner);
        (inner.0.iter().cloned().collect(), inner.1)
    }
}

/// The panics an instance had within its supervision's period.
#[derive(Default)]
pub(crate) struct Intensity {
    recent: VecDeque<(Instant, String)>,
}

impl Intensity {
    /// Counts a panic; returns the panics within the period, oldest
    /// first, if they are more than the limit allows.
    pub(crate) fn exceeded(&mut self, s: &Supervision, message: &str) -> Option<Vec<String>> {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > s.within)
        {
            self.recent.pop_front();
        }
        self.recent.push_back((now, message.to_owned()));
        if self.recent.len() > s.max as usize {
            return Some(self.recent.drain(..).map(|(_, m)| m).collect());
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn intensity_allows_max_panics_within_the_period_and_forgets_older_ones() {
        let s = Supervision::restart().limit(2, Duration::from_millis(100));
        let mut i = Intensity::default();
        assert!(i.exceeded(&s, "a").is_none());
        assert!(i.exceeded(&s, "b").is_none());
        assert_eq!(
            i.exceeded(&s, "c"),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        std::thread::sleep(Duration::from_millis(150));
        assert!(i.exceeded(&s, "d").is_none());
        assert!(i.exceeded(&s, "e").is_none());
        assert!(Intensity::default()
            .exceeded(&Supervision::STOP, "x")
            .is_some());
    }

    #[test]
    fn dead_letters_are_bounded_and_counted() {
        let d = DeadLetters::default();
        for n in 0..DEAD_LETTERS + 10 {
            d.push(DeadLetter {
                instance: "x".into(),
                site: "input `inp`".into(),
                message: n.to_string(),
                at: SystemTime::now(),
                packet: None,
                outcome: "resumed".into(),
            });
        }
        let (letters, total) = d.read();
        assert_eq!(letters.len(), DEAD_LETTERS);
        assert_eq!(total, (DEAD_LETTERS + 10) as u64);
        assert_eq!(letters[0].message, "10");
    }
}
