use labthings::prelude::*;

struct Stage;

#[thing]
impl Stage {
    #[property]
    fn speed(&self, _x: u8) -> u8 {
        1
    }

    #[action]
    async fn home(&self) {}

    #[setter(nothing)]
    fn set_nothing(&self, _value: u8) {}
}

fn main() {}
