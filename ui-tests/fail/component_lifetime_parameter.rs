use evoflow::component;

struct Prefix<'a> {
    prefix: &'a str,
}

#[component]
impl<'a> Prefix<'a> {
    #[input]
    fn inp(&mut self, x: String) {
        let _ = (self.prefix, x);
    }
}

fn main() {}
