//! A short soak (benches/servers/soak.rs) on every test run: 30 seconds of mixed
//! load on the mock lab, resources sampled every 2 s, nothing may keep
//! growing after the 6 s retention window and no request may fail.

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/soak.rs"]
mod soak;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_levels_off_with_no_failed_request() {
    let exe = std::env::current_exe().expect("the test binary");
    let server = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples/mock_lab");
    assert!(
        server.exists(),
        "cargo test builds the examples: {} is missing",
        server.display()
    );
    let report = soak::run(soak::SoakOptions {
        server,
        duration: Duration::from_secs(30),
        interval: Duration::from_secs(2),
        retention: Duration::from_secs(6),
    })
    .await
    .expect("the soak ran");
    assert!(report.samples.len() >= 12, "{} samples", report.samples.len());
    for (name, slope) in [
        ("RSS (MB)", report.slope_per_minute(|s| s.rss as f64 / 1e6)),
        ("threads", report.slope_per_minute(|s| s.threads as f64)),
        ("fds", report.slope_per_minute(|s| s.fds as f64)),
    ] {
        println!("slope after the warm-up, {name} per minute: {slope:?}");
    }
    assert!(report.ok > 1000, "only {} requests", report.ok);
    assert!(
        report.passed(),
        "failed requests: {} {:?}; growth: {:?}",
        report.errors,
        report.first_errors,
        report.growth
    );
}
