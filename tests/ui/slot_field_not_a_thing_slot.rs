use labthings::prelude::*;

#[thing]
struct Stage;

#[thing]
struct Autofocus {
    #[slot]
    stage: std::sync::Arc<Stage>,
}

fn main() {}
