use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[property]
    fn speed(&self, _x: u8) -> u8 {
        1
    }

    #[action]
    async fn home(&self) {}

    #[slot]
    fn stage(&self) {}
}

fn main() {}
