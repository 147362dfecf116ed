use labthings::prelude::*;

#[thing]
struct Stage {
    position: i64,
}

#[thing]
impl Stage {
    #[action]
    fn step(&mut self) {
        self.position += 1;
    }
}

fn main() {}
