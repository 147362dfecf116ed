use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
impl Stage {
    #[action]
    async fn home(&self) {}
}

fn main() {}
