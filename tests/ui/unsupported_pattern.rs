use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[action]
    fn move_to(&self, (x, y): (i64, i64)) -> i64 {
        x + y
    }
}

fn main() {}
