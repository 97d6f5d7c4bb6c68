use evoflow::{component, graph, Flow, Outputs};
use std::time::Instant;
#[inline]
fn work(x: u64, salt: u64) -> u64 {
    (x ^ salt)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}
fn heavy(x: u64, salt: u64, rounds: u64) -> u64 {
    let (mut a, mut b, mut c) = (x, x ^ 1, x ^ 2);
    for _ in 0..rounds {
        a = work(a, salt);
        b = work(b, salt + 1);
        c = work(c, salt + 2);
    }
    a ^ b ^ c
}
struct Gen {
    next: u64,
    end: u64,
}
#[component(outputs(out: u64))]
impl Gen {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.end {
            return Flow::Done;
        }
        out.out(self.next);
        self.next += 1;
        Flow::Continue
    }
}
struct Stage {
    salt: u64,
    rounds: u64,
}
#[component(outputs(out: u64))]
impl Stage {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        out.out(heavy(x, self.salt, self.rounds));
    }
}
#[derive(Default)]
struct Fold {
    acc: u64,
}
#[component]
impl Fold {
    #[input]
    fn inp(&mut self, x: u64) {
        self.acc = self.acc.wrapping_add(x);
    }
}
fn cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    (u.ru_utime.tv_sec as f64 + u.ru_utime.tv_usec as f64 * 1e-6)
        + (u.ru_stime.tv_sec as f64 + u.ru_stime.tv_usec as f64 * 1e-6)
}
fn run(workers: usize, end: u64, rounds: u64) -> (f64, f64, f64) {
    let g = graph! {
        workers = workers;
        gen: Gen = Gen { next: 0, end };
        s1: Stage = Stage { salt: 1, rounds }; s2: Stage = Stage { salt: 2, rounds };
        s3: Stage = Stage { salt: 3, rounds }; s4: Stage = Stage { salt: 4, rounds };
        fold: Fold;
        gen.out -> s1.inp; s1.out -> s2.inp; s2.out -> s3.inp; s3.out -> s4.inp; s4.out -> fold.inp;
    };
    let (c0, t) = (cpu(), Instant::now());
    let r = g.run().unwrap();
    let t_run = t.elapsed().as_secs_f64();
    r.join().unwrap();
    (t.elapsed().as_secs_f64(), cpu() - c0, t_run)
}
fn main() {
    for _ in 0..8 {
        let (w1, c1, _) = run(1, 50_000, 60);
        let (w2, c2, s2) = run(2, 50_000, 60);
        println!(
            "1w {:.1} ms cpu {:.1} | 2w {:.1} ms cpu {:.1} (start {:.2} ms) speedup {:.2}",
            w1 * 1e3,
            c1 * 1e3,
            w2 * 1e3,
            c2 * 1e3,
            s2 * 1e3,
            w1 / w2
        );
    }
}
