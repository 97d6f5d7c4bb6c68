use evoflow::component;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CounterV2 {
    count: u32,
}

#[component(version = 3, state)]
impl Counter {
    #[input]
    fn inp(&mut self, _x: u64) {
        self.count += 1;
    }

    #[migrate(from = 1, to = 2)]
    fn from_v1(old: u32) -> CounterV2 {
        CounterV2 { count: old }
    }
}

fn main() {}
