//! Results outlive the process: the `recorder` test program
//! (`tests/programs/recorder.rs`) as a real process, killed with SIGKILL
//! and started again on the same folder. Finished invocations, their logs,
//! outputs and blobs answer at the same addresses afterwards; one that was
//! running is ended by the restart; with `[records] enabled = false` (the
//! original's behaviour) all of it is gone.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{ServerProcess, scratch_dir};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The configuration file of the recorder, with `records` as its
/// `[records]` table.
fn config(dir: &Path, records: &str) -> String {
    let path = dir.join("recorder.toml");
    std::fs::write(
        &path,
        format!("[things.bench]\ntype = \"Bench\"\n\n[records]\n{records}\n"),
    )
    .expect("write config");
    path.to_string_lossy().into_owned()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

/// POST `body` to `url` and follow the invocation until it has finished;
/// the finished invocation, or `None` if the server went away first.
fn invoke(client: &reqwest::blocking::Client, url: &str, body: Value) -> Option<Value> {
    let response = client.post(url).json(&body).send().ok()?;
    let mut invocation: Value = response.json().ok()?;
    while matches!(invocation["status"].as_str(), Some("pending" | "running")) {
        std::thread::sleep(Duration::from_millis(10));
        let href = invocation["href"].as_str()?.to_owned();
        invocation = client.get(&href).send().ok()?.json().ok()?;
    }
    Some(invocation)
}

/// The bytes `bench.bytes` makes for `len` and `seed`.
fn expected_bytes(len: u32, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((u64::from(i) + u64::from(seed)) % 251).unwrap_or(0))
        .collect()
}

fn get(client: &reqwest::blocking::Client, url: &str) -> (u16, Vec<u8>) {
    let response = client.get(url).send().expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().expect("a body").to_vec())
}

/// Start `bench.slow` for a minute on `lab`; the invocation as the POST
/// answered it.
fn start_slow(client: &reqwest::blocking::Client, lab: &ServerProcess) -> Value {
    client
        .post(lab.at("/bench/slow"))
        .json(&json!({"ms": 60_000}))
        .send()
        .expect("slow")
        .json()
        .expect("json")
}

/// Poll the invocation at `href` until its status is `status` (10 s at
/// most).
fn wait_for_status(client: &reqwest::blocking::Client, href: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let now: Value = client.get(href).send().expect("poll").json().expect("json");
        if now["status"] == status {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{href} never became {status}");
}

/// What the test saw before the kill, and what answered after it.
#[derive(Debug)]
struct Seen {
    add: (u16, Value),
    blob: (u16, usize),
    slow: (u16, Value),
}

/// Invoke a quick action, a blob action and a slow one on a recorder with
/// `records` as its `[records]` table; SIGKILL it while the slow one runs;
/// start it again on the same folder and read all three back.
fn kill_and_restart(records: &str) -> Seen {
    let dir = scratch_dir();
    let file = config(&dir, records);
    let lab = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[]);
    let client = client();
    let add = invoke(&client, &lab.at("/bench/add"), json!({"n": 5})).expect("add finished");
    assert_eq!(add["status"], "completed", "{add}");
    let bytes = invoke(&client, &lab.at("/bench/bytes"), json!({"len": 300_000, "seed": 7})).expect("bytes finished");
    assert_eq!(bytes["status"], "completed", "{bytes}");
    let blob_href = bytes["output"]["href"].as_str().expect("a blob link").to_owned();
    assert_eq!(get(&client, &blob_href).1, expected_bytes(300_000, 7));
    let slow = start_slow(&client, &lab);
    // Until it has been seen running (its start is then recorded).
    let slow_href = slow["href"].as_str().expect("href").to_owned();
    wait_for_status(&client, &slow_href, "running");
    std::thread::sleep(Duration::from_millis(200));
    let port_of = |href: &str| href.replace(&lab.url, "");
    let (add_path, blob_path, slow_path) = (
        port_of(add["href"].as_str().expect("href")),
        port_of(&blob_href),
        port_of(&slow_href),
    );
    let dir = lab.kill_keeping_dir();

    let again = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[]);
    let read = |path: &str| {
        let (status, body) = get(&client, &again.at(path));
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    };
    let add_after = read(&add_path);
    if add_after.0 == 200 {
        for key in [
            "id",
            "status",
            "input",
            "output",
            "timeRequested",
            "timeStarted",
            "timeCompleted",
        ] {
            assert_eq!(add_after.1[key], add[key], "{key} after the restart");
        }
        assert_eq!(add_after.1["log"][0]["message"], "adding 5");
    }
    let (blob_status, blob_body) = get(&client, &again.at(&blob_path));
    if blob_status == 200 {
        assert_eq!(
            blob_body,
            expected_bytes(300_000, 7),
            "the blob's bytes after the restart"
        );
    }
    Seen {
        add: add_after,
        blob: (blob_status, blob_body.len()),
        slow: read(&slow_path),
    }
}

#[test]
fn a_restart_keeps_finished_invocations_and_ends_running_ones() {
    let off = kill_and_restart("enabled = false");
    let on = kill_and_restart("");
    println!(
        "records off, after kill -9 and restart: add {}, blob {}, slow {}",
        off.add.0, off.blob.0, off.slow.0
    );
    println!(
        "records on,  after kill -9 and restart: add {} {}, blob {} ({} bytes), slow {} {} {}",
        on.add.0, on.add.1["output"], on.blob.0, on.blob.1, on.slow.0, on.slow.1["status"], on.slow.1["error"]["title"]
    );
    // Memory only: everything is gone, as in LabThings-FastAPI.
    assert_eq!((off.add.0, off.blob.0, off.slow.0), (404, 404, 404));
    // Recorded: the same answers, and the cut-off one says so.
    assert_eq!((on.add.0, on.blob.0, on.slow.0), (200, 200, 200));
    assert_eq!(on.add.1["output"], 5);
    assert_eq!(on.slow.1["status"], "error");
    assert_eq!(on.slow.1["error"]["title"], "EndedByRestart");
    assert!(on.slow.1["timeCompleted"].is_string());
}

/// One completion a client saw, to look for after the next restart.
#[derive(Debug, Clone)]
enum Completed {
    Output {
        href: String,
        output: Value,
    },
    Blob {
        href: String,
        blob: String,
        len: u32,
        seed: u8,
    },
}

fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// What the clients of one run saw: completions, and the setting's last
/// acknowledged value with the one that may have been in flight.
#[derive(Debug, Default)]
struct Run {
    completed: Vec<Completed>,
    offset: Option<i64>,
    offset_in_flight: Option<i64>,
}

/// Drive `lab` with three clients (quick calls, blob outputs, setting
/// writes) until `stop`, noting each completion seen.
fn drive(
    url: &str,
    run: &Arc<Mutex<Run>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    round: u64,
) -> Vec<std::thread::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    let mut clients = Vec::new();
    for kind in 0..3u64 {
        let (url, run, stop) = (url.to_owned(), run.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a client");
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                match kind {
                    0 => {
                        let n = i64::try_from(round * 10_000 + i).unwrap_or(0);
                        let Some(done) = invoke(&client, &format!("{url}/bench/add"), json!({"n": n})) else {
                            return;
                        };
                        if done["status"] == "completed" {
                            let href = done["href"].as_str().unwrap_or_default().to_owned();
                            run.lock().completed.push(Completed::Output {
                                href,
                                output: done["output"].clone(),
                            });
                        }
                    }
                    1 => {
                        let len = u32::try_from((i * 7919 + round * 104_729) % 60_000 + 1).unwrap_or(1);
                        let seed = u8::try_from(i % 200).unwrap_or(0);
                        let body = json!({"len": len, "seed": seed});
                        let Some(done) = invoke(&client, &format!("{url}/bench/bytes"), body) else {
                            return;
                        };
                        if done["status"] == "completed" {
                            let href = done["href"].as_str().unwrap_or_default().to_owned();
                            let blob = done["output"]["href"].as_str().unwrap_or_default().to_owned();
                            run.lock().completed.push(Completed::Blob { href, blob, len, seed });
                        }
                    }
                    _ => {
                        let value = i64::try_from(round * 1000 + i).unwrap_or(0);
                        run.lock().offset_in_flight = Some(value);
                        let sent = client.put(format!("{url}/bench/offset")).json(&value).send();
                        match sent {
                            Ok(response) if response.status().is_success() => {
                                let mut run = run.lock();
                                run.offset = Some(value);
                                run.offset_in_flight = None;
                            }
                            _ => return,
                        }
                    }
                }
            }
        }));
    }
    clients
}

/// Check that every completion of `run` answers on `lab` as it was seen
/// (the URL's host and port replaced by the new process's).
fn check_completions(client: &reqwest::blocking::Client, lab: &ServerProcess, old_url: &str, run: &Run) -> usize {
    let here = |href: &str| href.replace(old_url, &lab.url);
    for completed in &run.completed {
        match completed {
            Completed::Output { href, output } => {
                let (status, body) = get(client, &here(href));
                assert_eq!(status, 200, "{href} after the restart");
                let invocation: Value = serde_json::from_slice(&body).expect("JSON");
                assert_eq!(invocation["status"], "completed", "{invocation}");
                assert_eq!(&invocation["output"], output, "{href}");
            }
            Completed::Blob { href, blob, len, seed } => {
                let (status, body) = get(client, &here(href));
                assert_eq!(status, 200, "{href} after the restart");
                let invocation: Value = serde_json::from_slice(&body).expect("JSON");
                assert_eq!(invocation["status"], "completed", "{invocation}");
                let (status, bytes) = get(client, &here(blob));
                assert_eq!(status, 200, "{blob} after the restart");
                assert_eq!(
                    (bytes.len(), digest(&bytes)),
                    (*len as usize, digest(&expected_bytes(*len, *seed))),
                    "{blob}: whole, and the bytes written"
                );
            }
        }
    }
    run.completed.len()
}

#[test]
fn kill_9_again_and_again_loses_nothing_a_client_saw() {
    let rounds: u64 = std::env::var("LABTHINGS_KILL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    kill_again_and_again("", rounds);
}

/// `survives = "crash"` does not wait for the disk, and still loses
/// nothing a client saw when the process is killed (the operating system
/// keeps what was written); only a power cut could.
#[test]
fn not_waiting_for_the_disk_still_survives_kill_9() {
    kill_again_and_again("survives = \"crash\"", 20);
}

/// Kill the recorder (with `records` as its `[records]`) `rounds` times
/// in the middle of a mix of calls; after each restart, every completion
/// a client saw reads back whole.
fn kill_again_and_again(records: &str, rounds: u64) {
    let mut dir = scratch_dir();
    let file = config(&dir, records);
    let client = client();
    let mut previous: Option<(String, Run)> = None;
    let (mut checked, mut starts, mut longest_start) = (0usize, Duration::ZERO, Duration::ZERO);
    for round in 0..=rounds {
        let started = Instant::now();
        let lab = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[]);
        let took = started.elapsed();
        starts += took;
        longest_start = longest_start.max(took);
        if let Some((old_url, run)) = previous.take() {
            checked += check_completions(&client, &lab, &old_url, &run);
            let (status, body) = get(&client, &lab.at("/bench/offset"));
            assert_eq!(status, 200);
            let offset: Value = serde_json::from_slice(&body).expect("JSON");
            let acknowledged = run.offset.map(Value::from);
            let in_flight = run.offset_in_flight.map(Value::from);
            assert!(
                acknowledged.is_none() || Some(&offset) == acknowledged.as_ref() || Some(&offset) == in_flight.as_ref(),
                "the setting after the restart is {offset}: the last acknowledged was {acknowledged:?}, then {in_flight:?} was sent"
            );
        }
        if round == rounds {
            dir = lab.kill_keeping_dir();
            break;
        }
        let run = Arc::new(Mutex::new(Run::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients = drive(&lab.url, &run, &stop, round);
        // A different moment of the mix each round: 150 to 450 ms in.
        std::thread::sleep(Duration::from_millis(150 + (round * 37) % 300));
        let url = lab.url.clone();
        dir = lab.kill_keeping_dir();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for client in clients {
            let _ = client.join();
        }
        let run = std::mem::take(&mut *run.lock());
        previous = Some((url, run));
    }
    let db = dir.join("records").join("records.sqlite3");
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    println!(
        "{rounds} kill -9 rounds with [records] {records:?}: {checked} completions a client saw, every one read back whole after the next start; \
         starts took {:.0?} on average, {longest_start:.0?} at most; database {size} bytes",
        starts / u32::try_from(rounds + 1).unwrap_or(1)
    );
    assert!(
        checked >= usize::try_from(rounds).unwrap_or(0),
        "the clients saw completions"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Run `script` in a mount namespace of its own (user namespace mapped to
/// root), where it may mount a small tmpfs that nothing outside sees; its
/// stdout lines as they come.
fn in_namespace(script: &str, env: &[(&str, &str)]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare (util-linux) runs");
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// The next line from `lines` that starts with `prefix`, without it.
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_owned();
                }
            }
            Err(e) => panic!("no line starting `{prefix}`: {e}"),
        }
    }
}

#[test]
fn a_full_disk_refuses_new_blobs_and_the_store_stays_whole() {
    let dir = scratch_dir();
    let records = dir.join("records");
    std::fs::create_dir_all(&records).expect("records folder");
    // The store's own limit is far above the disk's: the disk fills first.
    let file = config(
        &dir,
        &format!("dir = {:?}\nmax_size_mb = 1000", records.to_string_lossy()),
    );
    let binary: PathBuf = common::process::example_binary("recorder");
    // A 4 MiB disk for the records; the recorder twice on it, the first
    // killed with SIGKILL by the test.
    let script = r#"mount -t tmpfs -o size=4m tmpfs "$RECORDS" || exit 1
"$BINARY" --port 0 --config "$CONFIG" & echo "pid $!"; wait
"$BINARY" --port 0 --config "$CONFIG" & echo "pid $!"; wait"#;
    let env = [
        ("RECORDS", records.to_str().expect("utf-8")),
        ("BINARY", binary.to_str().expect("utf-8")),
        ("CONFIG", file.as_str()),
    ];
    let (child, lines) = in_namespace(script, &env);
    let mut running = Running(child, Vec::new());
    let pid = wait_for(&lines, "pid ");
    running.1.push(pid.clone());
    let url = wait_for(&lines, "listening on ");
    let client = client();
    let first = invoke(
        &client,
        &format!("{url}/bench/bytes"),
        json!({"len": 3_000_000, "seed": 1}),
    )
    .expect("first");
    let second = invoke(
        &client,
        &format!("{url}/bench/bytes"),
        json!({"len": 2_000_000, "seed": 2}),
    )
    .expect("second");
    let quick = invoke(&client, &format!("{url}/bench/add"), json!({"n": 3})).expect("quick");
    println!(
        "on a 4 MiB disk: 3 MB blob {}, 2 MB blob {}",
        first["status"], second["status"]
    );
    assert_eq!(
        (first["status"].as_str(), second["status"].as_str()),
        (Some("completed"), Some("completed"))
    );
    assert_eq!(quick["output"], 3);
    // The refusal is in the second's log, naming the full disk; its blob is
    // still served from memory.
    let said: Vec<&str> = second["log"]
        .as_array()
        .expect("a log")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    println!("the second invocation's log: {said:?}");
    assert!(
        said.iter()
            .any(|m| m.contains("blobs were not recorded") && m.contains("disk is full")),
        "{said:?}"
    );
    let second_blob = second["output"]["href"].as_str().expect("a link").to_owned();
    assert_eq!(get(&client, &second_blob).1.len(), 2_000_000);
    let Ok(kill) = Command::new("kill").args(["-KILL", &pid]).status() else {
        panic!("kill runs")
    };
    assert!(kill.success());
    // The second process on the same (full) disk: the store opens, what was
    // recorded answers, the refused blob is gone cleanly.
    running.1.push(wait_for(&lines, "pid "));
    let url_after = wait_for(&lines, "listening on ");
    let here = |href: &str| href.replace(&url, &url_after);
    let (status, bytes) = get(&client, &here(first["output"]["href"].as_str().expect("link")));
    assert_eq!((status, bytes.len()), (200, 3_000_000));
    assert_eq!(digest(&bytes), digest(&expected_bytes(3_000_000, 1)));
    let (status, body) = get(&client, &here(second["href"].as_str().expect("href")));
    assert_eq!(status, 200);
    let second_after: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(second_after["status"], "completed");
    assert!(
        second_after["log"].to_string().contains("disk is full"),
        "the record says why its blob is missing: {}",
        second_after["log"]
    );
    assert_eq!(
        get(&client, &here(&second_blob)).0,
        404,
        "the refused blob is not served"
    );
    let (status, body) = get(&client, &here(quick["href"].as_str().expect("href")));
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON")["output"], 3);
    drop(running);
    let _ = std::fs::remove_dir_all(dir);
}

/// The namespace's shell and the servers it started (by pid), killed when
/// the test ends, passed or not.
struct Running(std::process::Child, Vec<String>);

impl Drop for Running {
    fn drop(&mut self) {
        for pid in &self.1 {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `url`: the status, the `Link: rel="next"` target if any, the body.
fn get_paged(client: &reqwest::blocking::Client, url: &str) -> (u16, Option<String>, Value) {
    let response = client.get(url).send().expect("the server answers");
    let status = response.status().as_u16();
    let next = response
        .headers()
        .get("link")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| {
            l.strip_prefix('<')?
                .split_once('>')
                .map(|(target, _)| target.to_owned())
        });
    (status, next, response.json().unwrap_or(Value::Null))
}

/// Every invocation `GET /records` lists for `query`, following its `next`
/// links; their ids, and how many pages it took.
fn list_all(client: &reqwest::blocking::Client, lab: &ServerProcess, query: &str) -> (Vec<String>, usize) {
    let mut url = lab.at(&format!("/records{query}"));
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let (status, next, body) = get_paged(client, &url);
        assert_eq!(status, 200, "{url}: {body}");
        pages += 1;
        ids.extend(
            body.as_array()
                .expect("a list")
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned)),
        );
        match next {
            Some(next) => url = lab.at(&next),
            None => return (ids, pages),
        }
    }
}

#[test]
fn records_are_listed_a_page_at_a_time_and_exported_as_files_and_bluesky_documents() {
    common::clients::setup();
    let dir = scratch_dir();
    let file = config(&dir, "");
    std::fs::write(
        &file,
        format!(
            "{}\n[limits]\nmax_list = 4\n",
            std::fs::read_to_string(&file).expect("config")
        ),
    )
    .expect("write config");
    let lab = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[]);
    let client = client();
    let mut adds = Vec::new();
    for n in 1..=6 {
        let done = invoke(&client, &lab.at("/bench/add"), json!({"n": n})).expect("add");
        adds.push(done["id"].as_str().expect("id").to_owned());
    }
    let middle = adds[3].clone();
    let since: Value = client
        .get(lab.at(&format!("/action_invocations/{middle}")))
        .send()
        .expect("get")
        .json()
        .expect("json");
    let bytes = invoke(&client, &lab.at("/bench/bytes"), json!({"len": 5000, "seed": 9})).expect("bytes");
    let slow = start_slow(&client, &lab);
    let slow_id = slow["id"].as_str().expect("id").to_owned();
    std::thread::sleep(Duration::from_millis(100));
    client
        .delete(lab.at(&format!("/action_invocations/{slow_id}")))
        .send()
        .expect("cancel");
    wait_for_status(&client, &lab.at(&format!("/action_invocations/{slow_id}")), "cancelled");

    // Everything, four at a time, in request order, none twice.
    let (all, pages) = list_all(&client, &lab, "");
    let mut expected = adds.clone();
    expected.push(bytes["id"].as_str().expect("id").to_owned());
    expected.push(slow_id.clone());
    println!("GET /records: {} invocations in {pages} pages of at most 4", all.len());
    assert_eq!(all, expected);
    assert_eq!(pages, 2);
    // Filters.
    assert_eq!(list_all(&client, &lab, "?action=add").0, adds);
    assert_eq!(list_all(&client, &lab, "?status=cancelled").0, vec![slow_id.clone()]);
    assert_eq!(list_all(&client, &lab, "?thing=nothing").0, Vec::<String>::new());
    assert_eq!(list_all(&client, &lab, "?user=anonymous").0.len(), 8);
    let since = since["timeRequested"].as_str().expect("time");
    let (from_middle, _) = list_all(
        &client,
        &lab,
        &format!("?action=add&since={}", since.replace('+', "%2B")),
    );
    assert_eq!(from_middle, adds[3..]);
    // Mistakes: a 422 naming the parameter.
    for (query, parameter) in [
        ("?status=done", "status"),
        ("?since=yesterday", "since"),
        ("?after=nonsense", "after"),
        ("?limit=-1", "limit"),
        ("?colour=red", "colour"),
    ] {
        let (status, _, body) = get_paged(&client, &lab.at(&format!("/records{query}")));
        assert_eq!(status, 422, "{query}: {body}");
        assert!(body.to_string().contains(parameter), "{query}: {body}");
    }
    let (status, _, body) = get_paged(&client, &lab.at("/records/export?format=pdf"));
    assert_eq!(status, 422, "an export takes the same filters, no others: {body}");

    // One invocation as an archive: its record, its JSON, its blob.
    let bytes_id = bytes["id"].as_str().expect("id");
    let blob_id = bytes["output"]["href"]
        .as_str()
        .expect("link")
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    let archive = client
        .get(lab.at(&format!("/records/export?id={bytes_id}")))
        .send()
        .expect("export");
    assert_eq!(archive.headers()["content-type"], "application/x-tar");
    let tar_path = lab.dir.join("one.tar");
    std::fs::write(&tar_path, archive.bytes().expect("bytes")).expect("write the archive");
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&tar_path)
        .output()
        .expect("tar runs");
    let mut names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    println!("GET /records/export?id=…: {names:?}");
    let mut expected_names = vec![
        format!("{bytes_id}/blobs/{blob_id}"),
        format!("{bytes_id}/invocation.json"),
        format!("{bytes_id}/record.json"),
        "index.json".to_owned(),
    ];
    expected_names.sort();
    assert_eq!(names, expected_names);
    let out = lab.dir.join("unpacked");
    std::fs::create_dir_all(&out).expect("folder");
    let unpacked = Command::new("tar")
        .arg("-xf")
        .arg(&tar_path)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar runs");
    assert!(unpacked.success());
    let blob = std::fs::read(out.join(bytes_id).join("blobs").join(&blob_id)).expect("the blob file");
    assert_eq!(blob, expected_bytes(5000, 9));
    let record: Value =
        serde_json::from_slice(&std::fs::read(out.join(bytes_id).join("record.json")).expect("record")).expect("JSON");
    assert_eq!(record["input"], json!({"len": 5000, "seed": 9}));
    assert!(
        record["thing_states"]["bench"].is_object(),
        "{}",
        record["thing_states"]
    );
    assert_eq!(record["blobs"][0]["len"], 5000);

    // Everything as Bluesky event-model documents, judged by event-model's
    // own schemas.
    let mut documents = Vec::new();
    let mut url = lab.at("/records/event-model");
    loop {
        let (status, next, page) = get_paged(&client, &url);
        assert_eq!(status, 200, "{page}");
        documents.extend(page.as_array().expect("a list").iter().cloned());
        match next {
            Some(next) => url = lab.at(&next),
            None => break,
        }
    }
    let documents = Value::Array(documents);
    let mut check = Command::new(common::clients::repo().join(".venv-event-model/bin/python"))
        .arg(common::clients::repo().join("tests/interop/event_model_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    std::io::Write::write_all(
        &mut check.stdin.take().expect("stdin"),
        documents.to_string().as_bytes(),
    )
    .expect("send");
    let verdict = check.wait_with_output().expect("the check ends");
    let verdict: Value = serde_json::from_slice(&verdict.stdout).expect("the check's JSON line");
    println!(
        "event-model {}: {} for 8 invocations",
        verdict["version"], verdict["names"]
    );
    assert_eq!(verdict["problems"], json!([]), "{verdict}");
    assert_eq!(verdict["names"]["start"], 8);
    assert_eq!(verdict["names"]["stop"], 8);
}

#[test]
fn the_records_answer_only_with_credentials_on_a_server_with_users() {
    let dir = scratch_dir();
    let file = config(&dir, "");
    let users = "\n[[auth.users]]\nname = \"carol\"\nrole = \"observe\"\ntoken_env = \"CAROL_TOKEN\"\n";
    std::fs::write(
        &file,
        format!("{}{users}", std::fs::read_to_string(&file).expect("config")),
    )
    .expect("config");
    let token = "carol-token-for-the-records-0123456789";
    let lab = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[("CAROL_TOKEN", token)]);
    let client = client();
    for path in ["/records", "/records/export", "/records/event-model"] {
        let without = client.get(lab.at(path)).send().expect("answered");
        let with = client.get(lab.at(path)).bearer_auth(token).send().expect("answered");
        println!(
            "GET {path}: {} without a token, {} with carol's (observe)",
            without.status(),
            with.status()
        );
        assert_eq!(without.status().as_u16(), 401, "{path}");
        assert!(without.headers().contains_key("www-authenticate"), "{path}");
        assert_eq!(with.status().as_u16(), 200, "{path}");
    }
}

/// Each archive is a temporary file while it is made and sent: one client
/// address gets one at a time (a second is a 503 saying why, with
/// `Retry-After`), and its place comes back once the first is read or
/// abandoned.
#[test]
fn one_client_makes_one_archive_at_a_time() {
    let dir = scratch_dir();
    let file = config(&dir, "");
    let lab = ServerProcess::start_in(dir, "recorder", &["--config", &file], &[]);
    let client = client();
    // 3 × 16 MiB: more than the connection's buffers hold, so an archive
    // the client does not read stays under way.
    for seed in 1..=3 {
        invoke(
            &client,
            &lab.at("/bench/bytes"),
            json!({"len": 16_777_216, "seed": seed}),
        )
        .expect("bytes");
    }
    let export = lab.at("/records/export?action=bytes");
    let first = client.get(&export).send().expect("the first export");
    assert_eq!(first.status(), 200);
    let second = client.get(&export).send().expect("the second export");
    assert_eq!(second.status(), 503, "a second archive at once");
    assert!(second.headers().contains_key("retry-after"));
    let said: Value = second.json().expect("a JSON problem");
    assert!(
        said["detail"].as_str().unwrap_or_default().contains("one at a time"),
        "{said}"
    );
    // The first, read to its end, is whole; then another may be made.
    let bytes = first.bytes().expect("the first archive");
    assert!(bytes.len() > 3 * 16_777_216, "{} bytes", bytes.len());
    // Whether an export is answered 200 within 5 s (the place comes back
    // once the server has seen the last one end).
    let exported_again = || {
        (0..50).any(|_| {
            let ok = client.get(&export).send().expect("export").status() == 200;
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        })
    };
    assert!(exported_again(), "the place came back");
    // And one abandoned unread gives its place back too.
    drop(client.get(&export).send().expect("an export left unread"));
    assert!(exported_again(), "the abandoned one's place came back");
}
