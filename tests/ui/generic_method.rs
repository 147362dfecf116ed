use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[action]
    fn echo<T: serde::Serialize>(&self, value: T) -> T {
        value
    }
}

fn main() {}
