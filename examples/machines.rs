//! One graph over two machines: `numbers` on `front`, `square` and `total`
//! on `back`. Every machine runs this same program with its own name; they
//! find each other through etcd.
//!
//!     etcd &                                                   # apt-get install etcd-server
//!     cargo run --example machines -- --machine back &
//!     cargo run --example machines -- --machine front
//!
//! or `examples/machines.sh`, which starts etcd and both machines (each in
//! a network namespace of its own when run as root). Kill one machine
//! while they run: the other halts within a few seconds, naming it.
//!
//! Live update across machines: start back with `--update-after 1`. A
//! second in, it replaces `numbers` (on front, its state migrated) and
//! `square` (on back) by their version 2 as one update spanning both
//! machines; the total at the end still matches every number once.

use clap::Parser;
use evoflow::{component, graph, Flow, MachineConfig, Outputs, Program, Spanning};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Which machine this process is: front or back.
    #[arg(long)]
    machine: String,
    /// etcd endpoint.
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    etcd: String,
    /// Where this machine listens for arcs (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// How many numbers `front` sends (at about 10,000 a second).
    #[arg(long, default_value_t = 30_000)]
    count: u64,
    /// After this many seconds, update `numbers` and `square` to version 2
    /// on both machines at once.
    #[arg(long)]
    update_after: Option<f64>,
}

/// Sends `next..end`, about 10,000 a second (so there is time to watch,
/// update or kill it); version `V`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Numbers<const V: u32> {
    next: u64,
    end: u64,
}

impl<const V: u32> Numbers<V> {
    /// The next number and how the source goes on after it (a pause every
    /// hundred), or `None` at the end.
    fn step(&mut self) -> Option<(u64, Flow)> {
        if self.next == self.end {
            return None;
        }
        self.next += 1;
        let flow = match self.next.is_multiple_of(100) {
            true => Flow::after(Duration::from_millis(10)),
            false => Flow::Continue,
        };
        Some((self.next - 1, flow))
    }
}

#[component(state, outputs(out: u64))]
impl Numbers<1> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        let Some((n, flow)) = self.step() else {
            return Flow::Done;
        };
        out.out(n);
        flow
    }
}

/// Version 2: the same numbers, from where version 1 was.
#[component(state, version = 2, outputs(out: u64))]
impl Numbers<2> {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        let Some((n, flow)) = self.step() else {
            return Flow::Done;
        };
        out.out(n);
        flow
    }

    #[migrate(from = 1)]
    fn from_v1(old: Numbers<1>) -> Self {
        println!("front: numbers v2 takes over at {}", old.next);
        Numbers {
            next: old.next,
            end: old.end,
        }
    }
}

#[derive(Default)]
struct Square;

#[component(outputs(out: u64))]
impl Square {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x * x);
    }
}

/// `Square`, version 2: the same squares, by `pow`.
#[derive(Default)]
struct SquareV2;

#[component(version = 2, outputs(out: u64))]
impl SquareV2 {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(x.pow(2));
    }
}

#[derive(Default)]
struct Total {
    count: u64,
    sum: u64,
}

#[component]
impl Total {
    #[input]
    fn inp(&mut self, x: u64) {
        self.count += 1;
        self.sum += x;
        if self.count.is_multiple_of(10_000) {
            println!("back: {} squares, sum {}", self.count, self.sum);
        }
    }
}

fn program(count: u64) -> Program {
    graph! {
        name = "squares";
        machines = { front: 1, back: 2 };
        #[machine(front)]
        numbers: Numbers<1> = Numbers { next: 0, end: count };
        #[machine(back)]
        square: Square;
        total: Total; // with its neighbour, on back
        numbers.out -> square.inp;
        square.out -> total.inp;
    }
    .replacements(|update, instance, with| match (instance, with) {
        ("numbers", "v2") => Ok(update.replace::<Numbers<2>>("numbers")),
        ("square", "v2") => Ok(update.replace_with("square", SquareV2)),
        _ => Err(format!("this program has no {with:?} for `{instance}`")),
    })
}

fn main() {
    let args = Args::parse();
    let config = MachineConfig::new([args.etcd.clone()], args.listen);
    println!("{}: joining through {} ...", args.machine, args.etcd);
    let run = program(args.count)
        .run_on(&args.machine, &config)
        .unwrap_or_else(|e| {
            eprintln!("{}: {e}", args.machine);
            std::process::exit(2)
        });
    print!(
        "{}: every machine joined:\n{}",
        args.machine,
        run.status().unwrap()
    );
    if let Some(secs) = args.update_after {
        std::thread::sleep(Duration::from_secs_f64(secs));
        let both = Spanning::new()
            .replace("numbers", "v2")
            .replace("square", "v2");
        match run.update_everywhere(both) {
            Ok(report) => println!(
                "{}: updated on every machine in {:?}:\n{}",
                args.machine,
                report.duration,
                run.status().unwrap()
            ),
            Err(e) => eprintln!("{}: {e}", args.machine),
        }
    }
    match run.join() {
        Ok(mut report) => {
            if let Some(total) = report.take::<Total>("total") {
                let expected: u64 = (0..args.count).map(|x| x * x).sum();
                println!(
                    "back: done, {} squares, sum {} (expected {expected})",
                    total.count, total.sum
                );
                assert_eq!(total.sum, expected);
            } else {
                println!("{}: done", args.machine);
            }
        }
        Err(e) => {
            eprintln!("{}: {e}", args.machine);
            std::process::exit(1);
        }
    }
}
