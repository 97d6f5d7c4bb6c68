use evoflow::component;

#[derive(Default)]
struct Keep<T>(Vec<T>);

#[component]
impl<T: Send + 'static> Keep<T> {
    #[input]
    fn inp(&mut self, x: T) {
        self.0.push(x);
    }
}

fn main() {}
