use labthings::prelude::*;

struct Stage;

impl Stage {
    #[action]
    fn home(&self) {}
}

fn main() {}
