use evoflow::component;

#[derive(Default)]
struct Echo;

#[component(outputs(out: u64))]
impl Echo {
    #[input]
    fn inp(&mut self, x: u64, out: Vec<u64>) {
        let _ = (x, out);
    }
}

fn main() {}
