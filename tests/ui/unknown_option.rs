use labthings::prelude::*;

struct Stage;

#[thing]
impl Stage {
    #[action(retention = 5)]
    fn home(&self) {}
}

fn main() {}
