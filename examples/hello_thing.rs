//! The smallest labthings server: one Thing with a property and an action.
//!
//! ```text
//! cargo run --example hello_thing                 # http://127.0.0.1:5000/greeter/
//! curl -s -X POST -H 'content-type: application/json' -d '{"name": "Ada"}' \
//!     'http://127.0.0.1:5000/greeter/greet?return=output'     # "Hello, Ada!"
//! ```

use labthings::cli::{ServeArgs, serve};
use labthings::prelude::*;

/// Greets whoever asks.
#[thing]
#[derive(Default)]
pub struct Greeter {
    /// How many greetings it has made.
    #[property(read_only)]
    pub greetings: DataProperty<u64>,
}

#[thing]
impl Greeter {
    /// Greet `name`.
    #[action]
    fn greet(&self, #[param(min_length = 1, max_length = 100)] name: String) -> String {
        self.greetings.update(|n| *n += 1);
        format!("Hello, {name}!")
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let catalog = ThingCatalog::new().thing("greeter", Greeter::default());
    serve(&ServeArgs::from_args(), &catalog).await
}
