//! A server example running as its own process, to send it real signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A running example server (`target/…/examples/NAME`) on a free port, in a
/// scratch working directory of its own (its settings land there).
pub struct ServerProcess {
    pub url: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub dir: PathBuf,
}

/// The example's binary, built if `cargo test` did not build it already.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/{profile}/deps/test-hash -> target/{profile}/examples/name
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    binary
}

/// Run example `name` with `args` and `stdin` to the end, in a scratch
/// folder: (exit code, stdout, stderr).
pub fn run_example(name: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let dir = scratch_dir();
    let mut child = Command::new(example_binary(name))
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("the example ends");
    let _ = std::fs::remove_dir_all(dir);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Everything `child` writes to stderr, as it comes (read on a thread of
/// its own, so the pipe never fills).
pub fn capture_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let stderr = Arc::new(Mutex::new(String::new()));
    let Some(mut pipe) = child.stderr.take() else {
        return stderr;
    };
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    stderr
}

/// A new empty folder for a server process to work in.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labthings-proc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl ServerProcess {
    /// Start example `name` with `args` (after `--port 0`).
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_in(scratch_dir(), name, args, &[])
    }

    /// Start example `name` in `dir` with `args` (after `--port 0`) and
    /// the environment variables `env`.
    pub fn start_in(dir: PathBuf, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(example_binary(name))
            .args(["--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let stderr = capture_stderr(&mut child);
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => panic!("the server exited before listening: {}", stderr.lock()),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            url,
            child,
            stderr,
            dir,
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Send `signal` (`TERM`, `INT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Wait at most `limit` for the process to exit; its exit time since
    /// `since`, or `None` if it is still running (then it is killed).
    pub fn wait_exit(&mut self, since: Instant, limit: Duration) -> Option<Duration> {
        while since.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(since.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Kill the process with SIGKILL (`kill -9`: no stop hook, no flush)
    /// and wait for it; its folder is kept, for the next process.
    pub fn kill_keeping_dir(mut self) -> PathBuf {
        self.signal("KILL");
        let _ = self.child.wait();
        std::mem::take(&mut self.dir)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code, once it has exited (`None` if killed by a signal).
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|status| status.code())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        // Give the reader thread a moment to drain the pipe.
        std::thread::sleep(Duration::from_millis(100));
        self.stderr.lock().clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
