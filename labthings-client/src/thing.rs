//! The dynamic client: any Thing, from its Thing Description.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::connection::{Connection, decode};
use crate::description::{Affordance, Form, ThingDescription};
use crate::error::{ClientError, Result};
use crate::invocation::{Answer, Invocation, InvocationState, read_invoke_answer};
use hyper::Method;
use labthings_td::Operation;

/// A client for one Thing, driven by its Thing Description: every request
/// goes where the TD's forms say (href, method, subprotocol), so it works
/// with any server whose TD has HTTP forms: ours, the original
/// LabThings-FastAPI's, other WoT servers'.
///
/// ```no_run
/// # async fn demo() -> labthings_client::Result<()> {
/// use labthings_client::ThingClient;
/// let stage = ThingClient::from_url("http://127.0.0.1:5000/stage/").await?;
/// let position: [i64; 3] = stage.read_property("position").await?;
/// stage.write_property("step_delay_ms", &5).await?;
/// let moved: [i64; 3] = stage.call_action("move_relative", &serde_json::json!({"x": 10})).await?;
/// # let _ = (position, moved);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ThingClient {
    connection: Connection,
    url: Url,
    td: Arc<ThingDescription>,
}

/// Binary output of an action (an image, a file): where to download it and
/// its media type. Download it with [`ThingClient::download`] or
/// [`ThingClient::save`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteBlob {
    /// Where its bytes are.
    pub href: String,
    /// Its media type (`image/jpeg`, ...).
    pub media_type: String,
}

impl ThingClient {
    /// Fetch the Thing Description at `url` (a Thing's URL, e.g.
    /// `http://127.0.0.1:5000/stage/`) and make a client for it.
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::connect(url, Connection::new()).await
    }

    /// The same over `connection` (one with credentials, or one shared by
    /// several clients).
    pub async fn connect(url: &str, connection: Connection) -> Result<Self> {
        let url = Url::parse(url).map_err(|e| ClientError::Protocol(format!("{url:?} is not a URL: {e}")))?;
        let raw: Value = connection.get_description(url.as_str()).await?;
        let td = ThingDescription::parse(raw, &url)?;
        Ok(Self {
            connection,
            url,
            td: Arc::new(td),
        })
    }

    /// The Thing Description.
    pub fn description(&self) -> &ThingDescription {
        &self.td
    }

    /// The URL the TD was fetched from.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The connection (to make more clients with the same credentials).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Read property `name` as a `T` (`serde_json::Value` for any value).
    pub async fn read_property<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let form = need(self.td.property(name)?, &Operation::ReadProperty, None)?;
        let (_, body) = self
            .connection
            .send(method(form, &Operation::ReadProperty), &form.href, None)
            .await?;
        decode(&body, &form.href)
    }

    /// Write `value` to property `name`.
    pub async fn write_property<V: Serialize + ?Sized>(&self, name: &str, value: &V) -> Result<()> {
        let property = self.td.property(name)?;
        if property.read_only() {
            return Err(ClientError::Validation(vec![crate::error::InputProblem {
                kind: "read_only".into(),
                loc: vec![Value::String(name.into())],
                msg: format!("the property `{name}` is read-only"),
                input: Value::Null,
            }]));
        }
        let form = need(property, &Operation::WriteProperty, None)?;
        let value = to_json(value)?;
        self.connection
            .send(method(form, &Operation::WriteProperty), &form.href, Some(&value))
            .await?;
        Ok(())
    }

    /// Start action `name` with `input` (an object of its parameters, or
    /// `()`/`null` for none) and return a handle on the invocation. A
    /// server without invocations answers with the output at once; the
    /// handle then holds it.
    pub async fn invoke_action<T: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
    ) -> Result<Invocation<T>> {
        let action = self.td.action(name)?;
        // Prefer the form that answers with an invocation (ours declares
        // it as an additional response), else the first.
        let form = action
            .forms
            .iter()
            .find(|f| f.does(&Operation::InvokeAction) && !f.additional_responses.is_empty())
            .or_else(|| action.form(&Operation::InvokeAction, None))
            .ok_or_else(|| no_form(action, &Operation::InvokeAction))?;
        match self.post_input(form, input).await? {
            Answer::Invocation(state) => Ok(Invocation::running(self.connection.clone(), *state)),
            Answer::Output(output) => Ok(Invocation::finished(self.connection.clone(), output)),
        }
    }

    /// Run action `name` with `input` and return its output, following
    /// the invocation to its end where the TD offers a form that answers
    /// with one (ours answers a quick action's invocation finished, with
    /// its output, so that is one round trip too): each request then keeps
    /// the connection's time limit however long the action runs. Else the
    /// form that answers with the output, waited for within the time limit.
    pub async fn call_action<T: DeserializeOwned, I: Serialize + ?Sized>(&self, name: &str, input: &I) -> Result<T> {
        let action = self.td.action(name)?;
        let form = action
            .forms
            .iter()
            .find(|f| f.does(&Operation::InvokeAction) && !f.additional_responses.is_empty())
            .or_else(|| action.form(&Operation::InvokeAction, None))
            .ok_or_else(|| no_form(action, &Operation::InvokeAction))?;
        match self.post_input(form, input).await? {
            Answer::Invocation(state) => Invocation::running(self.connection.clone(), *state).wait().await,
            Answer::Output(output) => serde_json::from_value(output)
                .map_err(|e| ClientError::Protocol(format!("the output of `{name}` is not the type expected: {e}"))),
        }
    }

    async fn post_input<I: Serialize + ?Sized>(&self, form: &Form, input: &I) -> Result<Answer> {
        let mut input = to_json(input)?;
        if input.is_null() {
            // No parameters: an empty object, which every server accepts.
            input = Value::Object(Default::default());
        }
        let (status, body) = self
            .connection
            .send(method(form, &Operation::InvokeAction), &form.href, Some(&input))
            .await?;
        read_invoke_answer(status, &body, &form.href)
    }

    /// Each new value of property `name`, as the server announces it
    /// (Server-Sent Events, the TD's `observeproperty` form).
    pub async fn observe_property<T: DeserializeOwned + Send + 'static>(
        &self,
        name: &str,
    ) -> Result<BoxStream<'static, Result<T>>> {
        let form = need(self.td.property(name)?, &Operation::ObserveProperty, Some("sse"))?;
        crate::events::open(&self.connection, &form.href).await
    }

    /// Each payload of event `name` (Server-Sent Events, the TD's
    /// `subscribeevent` form).
    pub async fn subscribe_event<T: DeserializeOwned + Send + 'static>(
        &self,
        name: &str,
    ) -> Result<BoxStream<'static, Result<T>>> {
        let form = need(self.td.event(name)?, &Operation::SubscribeEvent, Some("sse"))?;
        crate::events::open(&self.connection, &form.href).await
    }

    /// This Thing's invocations the server keeps (summaries, oldest
    /// first): the TD's `queryallactions` form.
    pub async fn invocations(&self) -> Result<Vec<InvocationState>> {
        let form = self
            .td
            .forms
            .iter()
            .find(|f| f.does(&Operation::QueryAllActions))
            .ok_or_else(|| ClientError::NotFound(format!("{:?} offers no queryallactions form", self.td.title)))?;
        self.connection.get_json(&form.href).await
    }

    /// The bytes of a blob an action returned (at most the connection's
    /// answer limit; [`save`](Self::save) writes larger ones to a file).
    pub async fn download(&self, blob: &RemoteBlob) -> Result<Bytes> {
        let limit = self.connection.limits().answer;
        self.connection
            .download(&blob.href, limit)
            .await
            .map_err(|error| match error {
                ClientError::TooLarge(message) => ClientError::TooLarge(format!("{message}: save it to a file")),
                other => other,
            })
    }

    /// Stream a blob an action returned into the file `path` (without
    /// holding it in memory); the number of bytes written.
    pub async fn save(&self, blob: &RemoteBlob, path: impl AsRef<Path>) -> Result<u64> {
        let mut chunks = self.connection.get_raw(&blob.href).await?;
        let path = path.as_ref();
        let io = |e: std::io::Error| ClientError::Protocol(format!("could not write {}: {e}", path.display()));
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut written: u64 = 0;
        while let Some(chunk) = self.connection.next_part(&mut chunks, &blob.href).await? {
            file.write_all(&chunk).await.map_err(io)?;
            written = written.saturating_add(chunk.len() as u64);
        }
        file.flush().await.map_err(io)?;
        Ok(written)
    }
}

/// The form of `affordance` for `op`, or an error naming what is missing.
fn need<'a>(affordance: &'a Affordance, op: &Operation, subprotocol: Option<&str>) -> Result<&'a Form> {
    affordance.form(op, subprotocol).ok_or_else(|| no_form(affordance, op))
}

/// The request method for `op` on `form` (a method name the server made up
/// is sent as it is written).
fn method(form: &Form, op: &Operation) -> Method {
    Method::from_bytes(form.method_for(op).as_bytes()).unwrap_or(Method::GET)
}

fn no_form(affordance: &Affordance, op: &Operation) -> ClientError {
    ClientError::NotFound(format!(
        "`{}` has no HTTP form for {op} this client can use",
        affordance.name
    ))
}

fn to_json<V: Serialize + ?Sized>(value: &V) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| ClientError::Protocol(format!("the value cannot be written as JSON: {e}")))
}
