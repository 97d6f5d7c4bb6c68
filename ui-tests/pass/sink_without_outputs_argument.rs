use evoflow::{component, graph, Flow, Outputs};

#[derive(Default)]
struct Ticks(u32);

#[component(version = 3, outputs(tick: ()))]
impl Ticks {
    #[source]
    fn tick(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.0 == 5 {
            return Flow::Done;
        }
        self.0 += 1;
        out.tick(());
        Flow::Continue
    }
}

#[derive(Default)]
struct Count {
    ticks: u32,
    ended: bool,
}

#[component]
impl Count {
    #[input]
    fn tick(&mut self, (): ()) {
        self.ticks += 1;
    }

    #[on_end]
    fn done(&mut self) {
        self.ended = true;
    }

    fn helper(&self) -> u32 {
        self.ticks
    }
}

pub fn main() {
    let mut report = graph! { t: Ticks; c: Count; t.tick -> c.tick; }
        .run_to_end()
        .unwrap();
    let c = report.take::<Count>("c").unwrap();
    assert_eq!((c.helper(), c.ended), (5, true));
    assert_eq!(<Ticks as evoflow::Component>::META.version, 3);
}
