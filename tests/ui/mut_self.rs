use labthings::prelude::*;

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
