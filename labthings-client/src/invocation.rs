//! A handle on a running action: its status, log, cancellation and output.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use hyper::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connection::{Connection, decode};
use crate::error::{ClientError, Problem, Result};

/// Where an invocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, waiting for its lock or thread.
    Pending,
    /// Running.
    Running,
    /// Finished with an output.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Error,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// Whether it has finished (completed, cancelled or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Error)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
            Self::Unknown => "unknown",
        })
    }
}

/// One log record of an invocation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogRecord {
    /// The message.
    #[serde(default)]
    pub message: String,
    /// `INFO`, `WARNING`, ...
    #[serde(default)]
    pub levelname: String,
    /// When, as the server wrote it.
    #[serde(default)]
    pub created: Option<String>,
}

/// How far an invocation is, as its action reported (`progress` in the
/// invocation's JSON).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The fraction done, 0.0 to 1.0.
    pub fraction: f64,
    /// What the action is doing now, if it says.
    #[serde(default)]
    pub message: Option<String>,
    /// Seconds left, if known.
    #[serde(default)]
    pub remaining_seconds: Option<f64>,
    /// Whether the server estimated `remaining_seconds` from the rate so far.
    #[serde(default)]
    pub remaining_estimated: bool,
}

/// An invocation as the server describes it (its JSON; summaries in lists
/// have no `input`, `output`, `log` or `error`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvocationState {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// Its status.
    pub status: Status,
    /// The action, as its path (`/stage/move_relative`).
    #[serde(default)]
    pub action: Option<String>,
    /// Where to query (GET) and cancel (DELETE) it.
    #[serde(default)]
    pub href: Option<String>,
    /// The output, once completed.
    #[serde(default)]
    pub output: Option<Value>,
    /// Log records, oldest first.
    #[serde(default)]
    pub log: Vec<LogRecord>,
    /// What went wrong, once failed or cancelled.
    #[serde(default)]
    pub error: Option<Problem>,
    /// When it was asked for.
    #[serde(default, rename = "timeRequested")]
    pub time_requested: Option<String>,
    /// How far it is, once its action has said.
    #[serde(default)]
    pub progress: Option<Progress>,
    /// The newest intermediate results its action reported, oldest first.
    #[serde(default)]
    pub intermediate: Vec<Value>,
}

/// A handle on one invocation of an action whose output is a `T`.
///
/// `.await` it (or call [`wait`](Self::wait)) for the output; meanwhile
/// [`status`](Self::status), [`log`](Self::log) and
/// [`cancel`](Self::cancel) talk to the server.
#[derive(Debug)]
pub struct Invocation<T> {
    connection: Connection,
    /// The invocation's URL; `None` when the server answered with the
    /// output at once (a WoT server without invocations).
    href: Option<String>,
    last: InvocationState,
    output: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Invocation<T> {
    /// A handle on the invocation the server described as `state`.
    pub(crate) fn running(connection: Connection, state: InvocationState) -> Self {
        Self {
            connection,
            href: state.href.clone(),
            last: state,
            output: PhantomData,
        }
    }

    /// A handle on an invocation that already finished with `output`.
    pub(crate) fn finished(connection: Connection, output: Value) -> Self {
        Self {
            connection,
            href: None,
            last: InvocationState {
                id: None,
                status: Status::Completed,
                action: None,
                href: None,
                output: Some(output),
                log: Vec::new(),
                error: None,
                time_requested: None,
                progress: None,
                intermediate: Vec::new(),
            },
            output: PhantomData,
        }
    }

    /// The invocation's id, if the server has invocations.
    pub fn id(&self) -> Option<&str> {
        self.last.id.as_deref()
    }

    /// The invocation's URL, if the server has invocations.
    pub fn href(&self) -> Option<&str> {
        self.href.as_deref()
    }

    /// What the server said last (without asking again).
    pub fn last_state(&self) -> &InvocationState {
        &self.last
    }

    /// Ask the server for the invocation's state now.
    pub async fn refresh(&mut self) -> Result<&InvocationState> {
        if let Some(href) = &self.href {
            self.last = self.connection.get_json(href).await?;
        }
        Ok(&self.last)
    }

    /// Its status now.
    pub async fn status(&mut self) -> Result<Status> {
        Ok(self.refresh().await?.status)
    }

    /// Its log now, oldest first.
    pub async fn log(&mut self) -> Result<Vec<LogRecord>> {
        Ok(self.refresh().await?.log.clone())
    }

    /// How far it is now, if its action reports progress.
    pub async fn progress(&mut self) -> Result<Option<Progress>> {
        Ok(self.refresh().await?.progress.clone())
    }

    /// The intermediate results reported so far (the newest the server
    /// keeps), decoded as `J` (the action's intermediate type, declared in
    /// its Thing Description).
    pub async fn intermediate<J: DeserializeOwned>(&mut self) -> Result<Vec<J>> {
        self.refresh()
            .await?
            .intermediate
            .iter()
            .map(|value| {
                serde_json::from_value(value.clone()).map_err(|e| {
                    ClientError::Protocol(format!(
                        "an intermediate result is not the type expected ({e}): {value}"
                    ))
                })
            })
            .collect()
    }

    /// Ask the server to cancel it. An invocation that already finished is
    /// not an error: [`wait`](Self::wait) then says how it ended.
    pub async fn cancel(&self) -> Result<()> {
        let Some(href) = &self.href else {
            return Ok(());
        };
        match self.connection.send(Method::DELETE, href, None).await {
            Ok(_) => Ok(()),
            // 503: it has already finished.
            Err(ClientError::Status { status: 503, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Wait until it finishes (asking every few milliseconds at first, then
    /// every 200 ms) and decode its output; a failure is
    /// [`ClientError::Device`], a cancellation [`ClientError::Cancelled`].
    pub async fn wait(mut self) -> Result<T> {
        let mut pause = Duration::from_millis(2);
        while !self.last.status.is_finished() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            self.refresh().await?;
        }
        self.outcome().await
    }

    /// The output of a finished invocation, or how it failed.
    async fn outcome(&self) -> Result<T> {
        match self.last.status {
            Status::Completed => {}
            Status::Cancelled => return Err(ClientError::Cancelled),
            _ => {
                let problem = self.last.error.clone().unwrap_or_else(|| Problem {
                    title: "Error".into(),
                    detail: "the invocation failed without saying why".into(),
                    ..Problem::default()
                });
                return Err(ClientError::from_problem(problem));
            }
        }
        let output = match (&self.last.output, &self.href) {
            (Some(output), _) => output.clone(),
            // A summary without the output: fetch the whole invocation.
            (None, Some(href)) => {
                let whole: InvocationState = self.connection.get_json(href).await?;
                whole.output.unwrap_or(Value::Null)
            }
            (None, None) => Value::Null,
        };
        serde_json::from_value(output.clone()).map_err(|e| {
            ClientError::Protocol(format!(
                "the output is not the type expected ({e}): {}",
                String::from_utf8_lossy(&serde_json::to_vec(&output).unwrap_or_default())
            ))
        })
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for Invocation<T> {
    type Output = Result<T>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

/// Read an answer to an invocation request: 201 Created is an invocation
/// to follow (LabThings servers), any other success the output itself.
pub(crate) fn read_invoke_answer(status: u16, body: &[u8], url: &str) -> Result<Answer> {
    let value: Value = decode(body, url)?;
    if status == 201 {
        let state: InvocationState = serde_json::from_value(value).map_err(|e| {
            ClientError::Protocol(format!(
                "{url} answered {status} with something that is not an invocation: {e}"
            ))
        })?;
        Ok(Answer::Invocation(Box::new(state)))
    } else {
        Ok(Answer::Output(value))
    }
}

/// What the server answered an invocation request with.
pub(crate) enum Answer {
    /// An invocation to follow.
    Invocation(Box<InvocationState>),
    /// The output, at once.
    Output(Value),
}
