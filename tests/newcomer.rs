//! What a newcomer meets first, run as they would run it: the mock lab's
//! command line as a real process.

mod common;

use common::process::run_example;

#[test]
fn help_is_printed_and_exits_successfully() {
    let (code, stdout, stderr) = run_example("mock_lab", &["--help"], "");
    assert_eq!(code, 0, "--help is not a mistake\n{stdout}{stderr}");
    for option in ["--port", "--host", "--config"] {
        assert!(stdout.contains(option), "{option} in\n{stdout}");
    }
}

#[test]
fn a_port_in_use_is_named_with_the_way_out() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = taken.local_addr().expect("address").port().to_string();
    let (code, stdout, stderr) = run_example("mock_lab", &["--port", &port], "");
    assert_ne!(code, 0, "{stdout}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    let address = format!("127.0.0.1:{port}");
    for words in [address.as_str(), "in use", "--port 0"] {
        assert!(stderr.contains(words), "{words} in\n{stderr}");
    }
}
