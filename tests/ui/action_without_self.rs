use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[action]
    fn home() {}
}

fn main() {}
