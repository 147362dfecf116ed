use labthings::prelude::*;

struct Stage;

#[thing]
impl Stage {
    #[action]
    fn home(&self) {}
}

fn main() {}
