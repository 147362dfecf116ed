use labthings::prelude::*;

#[thing]
struct Stage {
    #[property]
    position: DataProperty<i64>,
}

#[thing]
impl Stage {
    #[action(name = "position")]
    fn go_to(&self, target: i64) -> i64 {
        target
    }
}

fn main() {}
