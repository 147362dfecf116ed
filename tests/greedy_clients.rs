//! One client must not take the server from the others: the bench example
//! as a real process, one address holding hundreds of idle connections,
//! and 32 clients guessing a password.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::{ServerProcess, run_example, scratch_dir};
use tokio::io::AsyncReadExt;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn socket_address(server: &ServerProcess) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let server = ServerProcess::start("bench", &[]);
    let address = socket_address(&server);
    // 520 idle connections from 127.0.0.2: more than the server's 512.
    let mut idle = Vec::new();
    for _ in 0..520 {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.2:0".parse().expect("address"))
            .expect("bind 127.0.0.2");
        idle.push(socket.connect(address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Its last one was refused with a 503 that says why.
    let mut last = idle.pop().expect("a connection");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), last.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("from your address"), "{answer}");
    // Another client is served every time.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut served = 0;
    for _ in 0..50 {
        let response = client.get(server.at("/bench/count")).send().await.expect("an answer");
        if response.status() == 200 {
            served += 1;
        }
    }
    assert_eq!(served, 50, "the other client was served");
    let stderr = server.stderr();
    let logged = stderr.matches("refused a connection from 127.0.0.2").count();
    assert!(
        (1..=2).contains(&logged),
        "refusals logged at a bounded rate:\n{stderr}"
    );
    drop(idle);
}

/// The bench as a process with one password user, `alice`.
fn bench_with_alice(password: &str) -> ServerProcess {
    let (code, hashed, _) = run_example("bench", &["--hash-password"], &format!("{password}\n"));
    assert_eq!(code, 0, "{hashed}");
    let start = hashed.find("password_hash = \"").expect("a hash") + "password_hash = \"".len();
    let hash = &hashed[start..start + hashed[start..].find('"').expect("a closing quote")];
    let dir = scratch_dir();
    let config = format!(
        "[things.bench]\ntype = \"Bench\"\n\n[[auth.users]]\nname = \"alice\"\nrole = \"operate\"\npassword_hash = \"{hash}\"\n"
    );
    std::fs::write(dir.join("lab.toml"), config).expect("config");
    ServerProcess::start_in(dir, "bench", &["--config", "lab.toml"], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_passwords_is_slowed_down_in_bounded_memory() {
    let password = "alice's long password";
    let server = bench_with_alice(password);
    let client = reqwest::Client::new();
    let url = server.at("/bench/count");
    // Alice signed in before the guessing starts: remembered, so never slowed.
    let signed_in = client
        .get(&url)
        .basic_auth("alice", Some(password))
        .send()
        .await
        .expect("GET");
    assert_eq!(signed_in.status(), 200);
    let rss_before = rss_kib(server.pid());

    let started = Instant::now();
    let guessers: Vec<_> = (0..32)
        .map(|g| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let (mut refused, mut slowed, mut n) = (0u32, 0u32, 0u32);
                while started.elapsed() < Duration::from_secs(5) {
                    n += 1;
                    let guess = format!("guess {g}-{n}");
                    let response = client.get(&url).basic_auth("alice", Some(guess)).send().await;
                    match response.map(|r| r.status().as_u16()) {
                        Ok(401) => refused += 1,
                        Ok(429) => {
                            slowed += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        other => panic!("a guess got {other:?}"),
                    }
                }
                (refused, slowed)
            })
        })
        .collect();
    // Meanwhile alice is served.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = client
        .get(&url)
        .basic_auth("alice", Some(password))
        .send()
        .await
        .expect("GET");
    assert_eq!(during.status(), 200, "a signed-in user is not slowed down");
    let (mut checked, mut slowed) = (0, 0);
    for guesser in guessers {
        let (r, s) = guesser.await.expect("joined");
        checked += r;
        slowed += s;
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = rss_kib(server.pid());
    let growth_mib = rss_after.saturating_sub(rss_before) / 1024;
    println!(
        "{checked} guesses checked and {slowed} slowed down in {seconds:.1} s ({:.1} checked/s); RSS {} -> {} MiB",
        f64::from(checked) / seconds,
        rss_before / 1024,
        rss_after / 1024
    );
    // The allowance: 10 at once, then one every two seconds for the name.
    assert!(checked <= 16, "{checked} guesses were checked in {seconds:.1} s");
    assert!(slowed > 0);
    assert!(growth_mib < 100, "the server grew {growth_mib} MiB");
    let stderr = server.stderr();
    assert!(stderr.contains("slowed down login attempts from 127.0.0.1"), "{stderr}");
}
