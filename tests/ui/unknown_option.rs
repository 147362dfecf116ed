use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[action(retention = 5)]
    fn home(&self) {}
}

fn main() {}
