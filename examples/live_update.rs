//! Live updates of a running graph, in-process: a single replacement with
//! state migration, a coordinated replacement of two instances whose packet
//! format changes between them, a structural insert and removal, and a
//! refused update. The sink checks that no packet was lost, duplicated or
//! reordered and that every packet was decoded by the version that encoded it.
//!
//!     cargo run --release --example live_update

use evoflow::{component, graph, Flow, Outputs, Update};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Emits 0, 1, 2, ... at about 2 M packets/s.
struct Ticks {
    next: u64,
    until: u64,
}

#[component(outputs(out: u64))]
impl Ticks {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.until {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        if self.next.is_multiple_of(2_000) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Flow::Continue
    }
}

/// Version 1 counts packets.
#[derive(Default, Serialize, Deserialize)]
struct Counter {
    seen: u64,
}

#[component(state, outputs(out: u64))]
impl Counter {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.seen += 1;
        out.out(x);
    }
}

/// Version 2 also remembers the largest value; it migrates version 1's count.
#[derive(Default, Serialize, Deserialize)]
struct CounterV2 {
    seen: u64,
    max: u64,
}

#[derive(Deserialize)]
struct CounterState1 {
    seen: u64,
}

#[component(version = 2, state, outputs(out: u64))]
impl CounterV2 {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        self.seen += 1;
        self.max = self.max.max(x);
        out.out(x);
    }

    #[migrate(from = 1)]
    fn from_v1(old: CounterState1) -> Self {
        CounterV2 {
            seen: old.seen,
            max: 0,
        }
    }
}

/// Encodes values as text (format 1).
#[derive(Default, Serialize, Deserialize)]
struct TextEncoder;

#[component(state, outputs(out: String))]
impl TextEncoder {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x.to_string());
    }
}

#[derive(Default, Serialize, Deserialize)]
struct TextDecoder;

#[component(state, outputs(out: u64))]
impl TextDecoder {
    #[input]
    fn inp(&mut self, s: String, out: &mut Outputs<Self>) {
        out.out(s.parse().expect("decimal text"));
    }
}

/// Encodes values as little-endian bytes (format 2): a new packet type.
#[derive(Default, Serialize, Deserialize)]
struct BinEncoder;

#[component(version = 2, state, outputs(out: [u8; 8]))]
impl BinEncoder {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x.to_le_bytes());
    }
    #[migrate(from = 1)]
    fn from_text(_: TextEncoder) -> Self {
        BinEncoder
    }
}

#[derive(Default, Serialize, Deserialize)]
struct BinDecoder;

#[component(version = 2, state, outputs(out: u64))]
impl BinDecoder {
    #[input]
    fn inp(&mut self, b: [u8; 8], out: &mut Outputs<Self>) {
        out.out(u64::from_le_bytes(b));
    }
    #[migrate(from = 1)]
    fn from_text(_: TextDecoder) -> Self {
        BinDecoder
    }
}

/// Doubles and halves: inserted, then removed again.
#[derive(Default)]
struct Noop;

#[component(outputs(out: u64))]
impl Noop {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x * 2 / 2);
    }
}

/// Checks that values arrive exactly once and in order.
#[derive(Default)]
struct InOrder {
    next: u64,
}

#[component]
impl InOrder {
    #[input]
    fn inp(&mut self, x: u64) {
        assert_eq!(x, self.next, "lost, duplicated or reordered");
        self.next += 1;
    }
}

fn main() {
    const N: u64 = 2_000_000;
    let running = graph! {
        name = "live";
        workers = 2;
        ticks: Ticks = Ticks { next: 0, until: N };
        counter: Counter;
        enc: TextEncoder;
        dec: TextDecoder;
        check: InOrder;
        ticks.out -> counter.inp;
        counter.out -> enc.inp;
        enc.out -> dec.inp;
        dec.out -> check.inp;
    }
    .run()
    .expect("graph starts");
    print!("{}", running.schedule());
    let pause = || std::thread::sleep(Duration::from_millis(100));

    pause();
    let single = Update::new().replace::<CounterV2>("counter");
    println!("{}", running.update(single).expect("single update"));

    pause();
    let coordinated = Update::new()
        .replace::<BinEncoder>("enc")
        .replace::<BinDecoder>("dec");
    println!(
        "{}",
        running.update(coordinated).expect("coordinated update")
    );

    pause();
    let insert = Update::new()
        .disconnect("dec.out", "check.inp")
        .insert("noop", Noop)
        .connect("dec.out", "noop.inp")
        .connect("noop.out", "check.inp");
    println!("{}", running.update(insert).expect("structural update"));

    pause();
    let remove = Update::new().remove("noop").connect("dec.out", "check.inp");
    println!("{}", running.update(remove).expect("structural update"));

    // Changing only one end of an arc to another packet type is refused.
    let refused = Update::new().replace_with("dec", TextDecoder);
    println!(
        "{}",
        running
            .update(refused)
            .expect_err("a lone decoder change is refused")
    );

    for i in running.instances() {
        println!(
            "  {} runs {} v{} on worker {} ({} updates)",
            i.name, i.component, i.version, i.worker, i.changes
        );
    }
    let mut report = running.join().expect("graph drains");
    let counter = report
        .take::<CounterV2>("counter")
        .expect("counter is v2 now");
    let check = report.take::<InOrder>("check").expect("check");
    println!(
        "counted {} packets across versions (max {}), {} arrived in order",
        counter.seen, counter.max, check.next
    );
    assert_eq!((counter.seen, check.next), (N, N));
}
