use evoflow::component;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

#[component(version = 2, state)]
impl Counter {
    #[input]
    fn inp(&mut self, _x: u64) {
        self.count += 1;
    }

    #[migrate(from = 1)]
    fn from_v1(old: u64) -> u64 {
        old
    }
}

fn main() {}
