//! Micro-benchmarks of the hot paths (`cargo bench --bench hot_paths`):
//! input decoding and validation, dispatch through the descriptor table,
//! invocation creation and rendering, and TD generation.
//!
//! These are measurements, not tests: nothing here asserts a time.

#[allow(dead_code, unreachable_pub)]
#[path = "servers/bench.rs"]
mod bench;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use labthings::ThingInstance;
use labthings::core::lock::HardwareLock;
use labthings::core::{ActionManager, Invocation, ManagerConfig};
use labthings::http::td::thing_description;
use serde_json::json;

fn instance() -> Arc<ThingInstance> {
    Arc::new(
        ThingInstance::new(
            "bench",
            Arc::new(bench::Bench::default()),
            Arc::new(HardwareLock::default()),
        )
        .expect("the bench thing's schemas compile"),
    )
}

fn hot_paths(c: &mut Criterion) {
    let thing = instance();
    let increment = thing.actions().iter().position(|a| a.name == "increment").unwrap_or(0);
    let count = thing.properties().iter().position(|p| p.name == "count").unwrap_or(0);

    c.bench_function("decode, validate and prepare an increment call", |b| {
        b.iter(|| thing.prepare(increment, black_box(json!({"by": 3}))))
    });
    c.bench_function("decode invalid input (every problem listed)", |b| {
        b.iter(|| thing.prepare(increment, black_box(json!({"by": "x", "extra": 1}))))
    });
    c.bench_function("read property through the descriptor table", |b| {
        b.iter(|| thing.read_property_json(black_box(count)))
    });
    c.bench_function("write property through the descriptor table", |b| {
        b.iter(|| thing.write_property(black_box(count), json!(5)))
    });
    c.bench_function("create and render an invocation", |b| {
        b.iter(|| {
            let invocation = Invocation::new(
                "bench",
                "increment",
                json!({"by": 1}),
                Duration::from_secs(300),
                labthings::core::log::LogBuffer::new(1000),
            );
            black_box(labthings::http::render::invocation_json(
                &invocation,
                "http://127.0.0.1:5000/",
                true,
            ))
        })
    });
    // Retention zero: each finished invocation is dropped by `expire`, so
    // the manager does not grow over millions of iterations.
    let manager = ActionManager::new(ManagerConfig::default().with(|c| c.retention = Duration::ZERO));
    let caller = labthings::core::Caller::anonymous("bench");
    c.bench_function("invoke increment and wait for it", |b| {
        b.iter(|| {
            let call = thing.prepare(increment, json!({})).unwrap_or_else(|_| unreachable!());
            if let Ok(invocation) = manager.invoke(call, &caller, None) {
                invocation.wait(Duration::from_secs(10));
            }
            manager.expire();
        })
    });
    c.bench_function("generate the Thing Description", |b| {
        b.iter(|| thing_description(&thing, black_box("http://127.0.0.1:5000/")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = hot_paths
}
criterion_main!(benches);
