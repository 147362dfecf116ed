use labthings::prelude::*;

/// A reading.
#[model(rename_all = "camelCase")]
struct Reading {
    value_mv: f64,
}

fn main() {}
