use labthings::prelude::*;

struct Stage;

struct Autofocus {
    stage: std::sync::Arc<Stage>,
}

#[thing]
impl Autofocus {
    #[slot]
    fn stage(&self) -> &Stage {
        &self.stage
    }
}

fn main() {}
