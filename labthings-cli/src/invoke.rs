//! `labthings invoke`: the input from the command line, and an invocation
//! followed to its end with its status and log shown as they arrive.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use labthings_client::{ClientError, InputProblem, Invocation, ThingClient};
use serde_json::{Map, Value};

use crate::{json_or_text, print_value};

/// The input: nothing (`{}`), one JSON object, or `name=value` pairs.
pub(crate) fn input(args: &[String]) -> Result<Value, ClientError> {
    if let [only] = args
        && only.trim_start().starts_with('{')
    {
        return serde_json::from_str(only).map_err(|e| usage(only, &format!("it is not a JSON object: {e}")));
    }
    let mut object = Map::new();
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(usage(
                arg,
                "write each parameter as name=value, or give one JSON object",
            ));
        };
        object.insert(name.to_owned(), json_or_text(value));
    }
    Ok(Value::Object(object))
}

fn usage(arg: &str, message: &str) -> ClientError {
    ClientError::Validation(vec![InputProblem {
        kind: "usage".into(),
        loc: vec![Value::String(arg.to_owned())],
        msg: message.to_owned(),
        input: Value::Null,
    }])
}

/// Start `action`, show its status and new log lines until it finishes
/// (Ctrl-C cancels it), then print its output.
pub(crate) async fn run(thing: &ThingClient, action: &str, input: &Value, json: bool) -> Result<ExitCode, ClientError> {
    let mut invocation: Invocation<Value> = thing.invoke_action(action, input).await?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(Duration::from_millis(100));
    let say = |line: String| {
        if json {
            return;
        }
        let line = crate::terminal::clean(&line);
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let mut shown_logs = 0_usize;
    let mut last_status = None;
    // Without a terminal to draw the bar on, progress goes out as a line
    // at most once a second (and the last one at the end).
    let mut progress_said: Option<(std::time::Instant, String)> = None;
    let mut cancelled_here = false;
    // The first answer (201) may be a summary without the log, even of an
    // invocation that has already finished: ask once more before the end.
    let mut refreshed = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let state = invocation.last_state().clone();
        for record in state.log.iter().skip(shown_logs) {
            say(format!("[{}] {}", record.levelname, record.message));
        }
        shown_logs = shown_logs.max(state.log.len());
        // Once the final status is said, nothing more is said of progress.
        let final_said = state.status.is_finished() && last_status == Some(state.status);
        if let Some(progress) = state.progress.as_ref().filter(|_| !final_said) {
            let line = progress_line(progress, state.status.is_finished());
            if !bar.is_hidden() {
                if bar.length().is_none() {
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {prefix}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_length(1000);
                }
                bar.set_position((progress.fraction.clamp(0.0, 1.0) * 1000.0) as u64);
                bar.set_prefix(line);
            } else if !json
                && progress_said.as_ref().is_none_or(|(at, said)| {
                    *said != line && (at.elapsed() >= Duration::from_secs(1) || state.status.is_finished())
                })
            {
                eprintln!("{action}: {line}");
                progress_said = Some((std::time::Instant::now(), line));
            }
        }
        // The status after the progress, so the final status is the last
        // line about the invocation before its output.
        if last_status != Some(state.status) {
            say(format!("{action}: {}", state.status));
            bar.set_message(format!("{action}: {}", state.status));
            last_status = Some(state.status);
        }
        if state.status.is_finished() {
            if refreshed {
                break;
            }
            invocation.refresh().await?;
            refreshed = true;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut ctrl_c, if !cancelled_here => {
                say(format!("cancelling {action}…"));
                invocation.cancel().await?;
                cancelled_here = true;
            }
        }
        invocation.refresh().await?;
        refreshed = true;
    }
    bar.finish_and_clear();
    match invocation.wait().await {
        Ok(output) => {
            print_value(&output, json);
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Cancelled) if cancelled_here => {
            eprintln!("{action} was cancelled");
            Ok(ExitCode::from(130))
        }
        Err(error) => Err(error),
    }
}

/// "42 % · about 3.1 s left · moving z": the fraction, the time left
/// (while running; "about" when the server estimated it) and the message.
fn progress_line(progress: &labthings_client::Progress, finished: bool) -> String {
    let mut parts = vec![format!("{:.0} %", progress.fraction * 100.0)];
    if let (Some(left), false) = (progress.remaining_seconds, finished) {
        let about = if progress.remaining_estimated { "about " } else { "" };
        parts.push(format!("{about}{left:.1} s left"));
    }
    if let Some(message) = &progress.message {
        parts.push(message.clone());
    }
    crate::terminal::clean(&parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_and_objects_become_the_input() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(input(&[]).ok(), Some(json!({})));
        assert_eq!(
            input(&args(&["x=10", "label=left", "on=true"])).ok(),
            Some(json!({"x": 10, "label": "left", "on": true}))
        );
        assert_eq!(input(&args(&[r#"{"x": 1}"#])).ok(), Some(json!({"x": 1})));
        assert!(matches!(input(&args(&["x"])), Err(ClientError::Validation(_))));
        assert!(matches!(input(&args(&["{nope"])), Err(ClientError::Validation(_))));
    }
}
