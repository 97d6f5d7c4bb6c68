//! Throughput against pipeline length and against packet size, for
//! evoflow, timely, DFIR and rtrb thread-per-stage, drawn to
//! `benches/results/pipeline-sweep.png` (and printed as a table):
//!
//!     cargo bench --manifest-path benches/peers/Cargo.toml --bench sweep
//!
//! - length: 2 … 64 stages of u64 packets (a source, `stages - 2` work
//!   stages, a folding sink), as in `peers.rs` whose 6 stages are one
//!   point;
//! - size: 6 stages of 8 B, 64 B and 1 KiB packets (`Words<N>`: each stage
//!   runs `work` on the first word and carries the rest along; the sink
//!   sums every word). Engines with a queue between stages (evoflow,
//!   timely, rtrb) move the whole packet at each hop; a fused loop (plain
//!   calls, DFIR) builds it once and moves nothing.
//!
//! Every engine runs the same stages with the same salts, read at run
//! time (so no engine's chain is constant-folded), and the same opaque
//! source values; each one's checksum is checked against plain calls
//! before it is timed. Each point is timed `RUNS`
//! times after one warm-up run: the table gives the median and the range,
//! the picture the median. evoflow's 2 workers are a pipeline (the first
//! half of the stages on one worker, pinned); timely's 2 workers split the
//! input and each runs the whole chain.

// DFIR's 64-stage chain is one type nested ~130 deep.
#![recursion_limit = "512"]

mod common;

use common::{pop, push, work};
use dfir_rs::dfir_syntax;
use evoflow::{component, Component, Flow, GraphBuilder, Outputs};
use plotters::prelude::*;
use std::cell::Cell;
use std::hint::black_box;
use std::marker::PhantomData;
use std::path::Path;
use std::rc::Rc;
use std::thread;
use std::time::Instant;
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::Inspect;

/// Timed runs per point (after one warm-up run).
const RUNS: usize = 7;
/// Packets times stages per run, so that long pipelines take about as
/// long as short ones.
const PACKET_STAGES: u64 = 30_000_000;
/// Pipeline lengths of the first sweep (u64 packets).
const LENGTHS: [usize; 7] = [2, 4, 6, 8, 16, 32, 64];
/// Stages of the second sweep (packet sizes).
const SIZE_STAGES: usize = 6;
/// The graph's default arc capacity, for the rings of rtrb too.
const CAPACITY: usize = 1024;

/// The salt of each stage, opaque to the compiler (every engine reads its
/// stages' salts from here).
fn salts() -> [u64; 64] {
    black_box(std::array::from_fn(|i| i as u64))
}

/// A packet of `N` words (`N * 8` bytes).
#[derive(Clone, Copy)]
struct Words<const N: usize>([u64; N]);

impl<const N: usize> Words<N> {
    /// A packet for source value `x`, made opaque first: a fused loop
    /// could otherwise fold a short pipeline into a formula.
    #[inline]
    fn make(x: u64) -> Self {
        Words([black_box(x); N])
    }

    /// What the sink adds up: every word.
    #[inline]
    fn sum(&self) -> u64 {
        self.0.iter().fold(0, |a, w| a.wrapping_add(*w))
    }

    #[inline]
    fn step(mut self, salt: u64) -> Self {
        self.0[0] = work(self.0[0], salt);
        self
    }
}

struct Gen<P> {
    next: u64,
    end: u64,
    _packets: PhantomData<fn() -> P>,
}

struct Stage<P> {
    salt: u64,
    _packets: PhantomData<fn() -> P>,
}

struct Fold<P> {
    acc: u64,
    _packets: PhantomData<fn() -> P>,
}

/// The three components for packets of `N` words (one `#[component]` impl
/// per concrete type).
macro_rules! components {
    ($($n:literal),*) => {$(
        #[component(outputs(out: Words<$n>))]
        impl Gen<Words<$n>> {
            #[source]
            fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
                if self.next == self.end {
                    return Flow::Done;
                }
                out.out(Words::make(self.next));
                self.next += 1;
                Flow::Continue
            }
        }

        #[component(outputs(out: Words<$n>))]
        impl Stage<Words<$n>> {
            #[input]
            fn inp(&mut self, p: Words<$n>, out: &mut Outputs<Self>) {
                out.out(p.step(self.salt));
            }
        }

        #[component]
        impl Fold<Words<$n>> {
            #[input]
            fn inp(&mut self, p: Words<$n>) {
                self.acc = self.acc.wrapping_add(p.sum());
            }
        }
    )*};
}

components!(1, 8, 128);

/// evoflow on `workers` workers (pinned when more than one), the stages
/// split evenly between them in order.
fn evoflow_pipeline<const N: usize>(stages: usize, workers: usize, packets: u64) -> u64
where
    Gen<Words<N>>: Component,
    Stage<Words<N>>: Component,
    Fold<Words<N>>: Component,
{
    let mut b = GraphBuilder::new(format!("sweep-{stages}"), workers);
    let worker = |i: usize| i * workers / stages;
    let gen = Gen::<Words<N>> {
        next: 0,
        end: packets,
        _packets: PhantomData,
    };
    let mut prev = b.instance("gen", worker(0), gen);
    for (i, &salt) in salts().iter().enumerate().take(stages - 1).skip(1) {
        let stage = Stage::<Words<N>> {
            salt,
            _packets: PhantomData,
        };
        let s = b.instance(format!("s{i}"), worker(i), stage);
        b.connect::<Words<N>>(prev, 0, s, 0, CAPACITY).unwrap();
        prev = s;
    }
    let fold = Fold::<Words<N>> {
        acc: 0,
        _packets: PhantomData,
    };
    let fold = b.instance("fold", worker(stages - 1), fold);
    b.connect::<Words<N>>(prev, 0, fold, 0, CAPACITY).unwrap();
    let graph = b.build().unwrap();
    let graph = if workers > 1 {
        graph.pin_workers()
    } else {
        graph
    };
    graph
        .run_to_end()
        .unwrap()
        .take::<Fold<Words<N>>>("fold")
        .unwrap()
        .acc
}

fn plain_calls<const N: usize>(stages: usize, packets: u64) -> u64 {
    let salts = salts();
    let mut acc = 0u64;
    for x in 0..packets {
        let mut p = Words::<N>::make(x);
        for salt in &salts[1..stages - 1] {
            p = p.step(*salt);
        }
        acc = acc.wrapping_add(p.sum());
    }
    acc
}

/// timely on `workers` threads; worker i takes packets i, i + workers, …
/// and runs the whole chain on them.
fn timely_pipeline<const N: usize>(stages: usize, workers: usize, packets: u64) -> u64 {
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index() as u64, worker.peers());
        let acc = Rc::new(Cell::new(0u64));
        let sink = acc.clone();
        let salts = salts();
        worker.dataflow::<u64, _, _>(move |scope| {
            let mut stream = (index..packets)
                .step_by(peers)
                .map(Words::<N>::make)
                .to_stream(scope);
            for &salt in &salts[1..stages - 1] {
                stream = stream.map(move |p| p.step(salt));
            }
            stream.inspect(move |p| sink.set(sink.get().wrapping_add(p.sum())));
        });
        while worker.step() {}
        acc.get()
    })
    .unwrap();
    guards
        .join()
        .into_iter()
        .map(Result::unwrap)
        .fold(0, u64::wrapping_add)
}

/// A DFIR pipeline of packets of `$n` words through the stages listed
/// (`dfir_syntax!` needs the chain written out; each stage reads its salt
/// at run time, as in the other engines).
macro_rules! dfir_pipeline {
    ($n:literal, $packets:expr; $($stage:literal)*) => {{
        let acc = Rc::new(Cell::new(0u64));
        let sink = acc.clone();
        let salts = salts();
        let mut flow = dfir_syntax! {
            source_iter(0..$packets)
                -> map(Words::<$n>::make)
                $( -> map(|p: Words<$n>| p.step(salts[$stage])) )*
                -> for_each(|p: Words<$n>| sink.set(sink.get().wrapping_add(p.sum())));
        };
        flow.run_available_sync();
        drop(flow);
        let _ = salts; // read by no stage of a 2-stage pipeline
        acc.get()
    }};
}

/// DFIR on one thread, for the points of the sweeps.
fn dfir(stages: usize, words: usize, packets: u64) -> u64 {
    match (stages, words) {
        (2, 1) => dfir_pipeline!(1, packets;),
        (4, 1) => dfir_pipeline!(1, packets; 1 2),
        (6, 1) => dfir_pipeline!(1, packets; 1 2 3 4),
        (6, 8) => dfir_pipeline!(8, packets; 1 2 3 4),
        (6, 128) => dfir_pipeline!(128, packets; 1 2 3 4),
        (8, 1) => dfir_pipeline!(1, packets; 1 2 3 4 5 6),
        (16, 1) => dfir_pipeline!(1, packets; 1 2 3 4 5 6 7 8 9 10 11 12 13 14),
        (32, 1) => dfir_pipeline!(1, packets;
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30),
        (64, 1) => dfir_pipeline!(1, packets;
            1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
            31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
            59 60 61 62),
        _ => unreachable!("no DFIR pipeline of {stages} stages of {words} words"),
    }
}

/// A thread per stage, connected by rtrb rings; spins, then yields, when a
/// ring is empty or full.
fn rtrb_threads<const N: usize>(stages: usize, packets: u64) -> u64 {
    type Ring<const N: usize> = Option<Words<N>>;
    let (mut p0, mut rx) = rtrb::RingBuffer::<Ring<N>>::new(CAPACITY);
    let mut handles = Vec::new();
    for &salt in &salts()[1..stages - 1] {
        let (mut p, next) = rtrb::RingBuffer::<Ring<N>>::new(CAPACITY);
        let mut input = std::mem::replace(&mut rx, next);
        handles.push(thread::spawn(move || {
            while let Some(x) = pop(&mut input) {
                push(&mut p, Some(x.step(salt)));
            }
            push(&mut p, None);
        }));
    }
    let sink = thread::spawn(move || {
        let mut acc = 0u64;
        while let Some(p) = pop(&mut rx) {
            acc = acc.wrapping_add(p.sum());
        }
        acc
    });
    for x in 0..packets {
        push(&mut p0, Some(Words::<N>::make(x)));
    }
    push(&mut p0, None);
    handles.into_iter().for_each(|h| h.join().unwrap());
    sink.join().unwrap()
}

/// The engines, in the order of the table and the legend.
const ENGINES: [&str; 7] = [
    "plain calls (1 thread)",
    "evoflow 1 worker",
    "evoflow 2 workers pinned",
    "timely 1 worker",
    "timely 2 workers (split input)",
    "DFIR (1 thread)",
    "rtrb thread per stage",
];

/// Runs engine `engine` on a pipeline of `stages` stages of packets of `N`
/// words; returns the checksum.
fn run<const N: usize>(engine: usize, stages: usize, packets: u64) -> u64
where
    Gen<Words<N>>: Component,
    Stage<Words<N>>: Component,
    Fold<Words<N>>: Component,
{
    match engine {
        0 => plain_calls::<N>(stages, packets),
        1 => evoflow_pipeline::<N>(stages, 1, packets),
        2 => evoflow_pipeline::<N>(stages, 2, packets),
        3 => timely_pipeline::<N>(stages, 1, packets),
        4 => timely_pipeline::<N>(stages, 2, packets),
        5 => dfir(stages, N, packets),
        6 => rtrb_threads::<N>(stages, packets),
        _ => unreachable!(),
    }
}

/// Millions of packets per second: median, min and max of the runs.
#[derive(Clone, Copy)]
struct Rate {
    median: f64,
    min: f64,
    max: f64,
}

/// Times every engine on one point of a sweep.
fn point<const N: usize>(stages: usize) -> Vec<Rate>
where
    Gen<Words<N>>: Component,
    Stage<Words<N>>: Component,
    Fold<Words<N>>: Component,
{
    // Large packets cost more per stage everywhere: fewer of them.
    let packets = PACKET_STAGES / stages as u64 / N.div_ceil(8) as u64;
    let expected = plain_calls::<N>(stages, packets);
    (0..ENGINES.len())
        .map(|engine| {
            assert_eq!(
                run::<N>(engine, stages, packets),
                expected,
                "{} on {stages} stages of {} B computes what plain calls do",
                ENGINES[engine],
                N * 8
            );
            let mut rates: Vec<f64> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    black_box(run::<N>(engine, stages, packets));
                    packets as f64 / start.elapsed().as_secs_f64() / 1e6
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            Rate {
                median: rates[RUNS / 2],
                min: rates[0],
                max: rates[RUNS - 1],
            }
        })
        .collect()
}

fn table(title: &str, column: &str, points: &[(usize, Vec<Rate>)]) {
    println!("\n{title} (M packets/s, median [min, max] of {RUNS} runs)\n");
    print!("| {column} |");
    ENGINES.iter().for_each(|e| print!(" {e} |"));
    print!("\n|---:|");
    ENGINES.iter().for_each(|_| print!("---:|"));
    println!();
    for (x, rates) in points {
        print!("| {x} |");
        for r in rates {
            print!(" {:.1} [{:.1}, {:.1}] |", r.median, r.min, r.max);
        }
        println!();
    }
}

type Draw = Result<(), Box<dyn std::error::Error>>;

const COLORS: [RGBColor; 7] = [
    RGBColor(120, 120, 120),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Two charts side by side: rate against length, rate against size.
fn draw(path: &Path, lengths: &[(usize, Vec<Rate>)], sizes: &[(usize, Vec<Rate>)]) -> Draw {
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").map_err(|e| {
        format!("cannot read the DejaVu font (apt-get install fonts-dejavu-core): {e}")
    })?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "cannot load the DejaVu font")?;
    let root = BitMapBackend::new(path, (1500, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(750);
    chart(
        &left,
        "u64 packets: throughput against pipeline length",
        "stages (source and sink included)",
        lengths,
        SeriesLabelPosition::UpperRight,
    )?;
    chart(
        &right,
        &format!("{SIZE_STAGES} stages: throughput against packet size"),
        "packet size (bytes)",
        sizes,
        SeriesLabelPosition::MiddleRight,
    )?;
    root.present()?;
    Ok(())
}

fn chart(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    points: &[(usize, Vec<Rate>)],
    legend: SeriesLabelPosition,
) -> Draw {
    // x is drawn as log2, labelled at its powers of two (the sweeps'
    // points).
    let x = |v: usize| (v as f64).log2();
    let all = points.iter().flat_map(|(_, r)| r.iter().map(|r| r.median));
    let (low, high) = all.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let (x0, x1) = (x(points[0].0), x(points[points.len() - 1].0));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 - 0.2..x1 + 0.2, (low * 0.7..high * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("M packets/s (log)")
        .x_labels((x1 - x0) as usize + 1)
        .x_label_formatter(&|x| format!("{:.0}", x.exp2()))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()?;
    for (e, name) in ENGINES.iter().enumerate() {
        let color = COLORS[e];
        let line: Vec<(f64, f64)> = points.iter().map(|(v, r)| (x(*v), r[e].median)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let lengths: Vec<(usize, Vec<Rate>)> = LENGTHS
        .iter()
        .map(|&stages| {
            eprintln!("{stages} stages of u64 …");
            (stages, point::<1>(stages))
        })
        .collect();
    eprintln!("packet sizes …");
    let sizes = vec![
        (8, point::<1>(SIZE_STAGES)),
        (64, point::<8>(SIZE_STAGES)),
        (1024, point::<128>(SIZE_STAGES)),
    ];
    table("u64 packets, by pipeline length", "stages", &lengths);
    table(
        &format!("{SIZE_STAGES} stages, by packet size"),
        "bytes",
        &sizes,
    );
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/pipeline-sweep.png");
    match draw(&png, &lengths, &sizes) {
        Ok(()) => println!("\npicture: {}", png.display()),
        Err(e) => eprintln!("\nno picture: {e}"),
    }
}
