use labthings::prelude::*;

#[thing]
struct Camera;

#[thing]
impl Camera {
    // Actions, getters, setters and hooks may be `async fn`; an endpoint may not.
    #[action]
    async fn snap(&self) {}

    #[endpoint]
    async fn preview(&self) -> Raw {
        Raw::new("text/plain", "")
    }
}

fn main() {}
