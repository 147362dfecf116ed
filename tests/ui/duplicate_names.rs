use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[property]
    fn position(&self) -> i64 {
        0
    }

    #[action(name = "position")]
    fn go_to(&self, target: i64) -> i64 {
        target
    }
}

fn main() {}
