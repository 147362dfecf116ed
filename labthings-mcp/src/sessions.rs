//! MCP sessions with a bound: rmcp's in-memory session manager, holding at
//! most a number of sessions, each closed once idle for too long.
//!
//! rmcp's manager forgets a session only when its client ends it (an HTTP
//! `DELETE`); a client that goes away leaves it behind. This wrapper notes
//! when each session was last used, and makes room for a new one by
//! closing those idle past the limit; with none to close it refuses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::Stream;
use parking_lot::Mutex;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId, SessionManager};
use rmcp::transport::worker::WorkerTransport;

/// rmcp's [`LocalSessionManager`] holding at most `max` sessions.
#[derive(Debug)]
pub struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    idle: Duration,
    used: Mutex<HashMap<SessionId, Instant>>,
}

/// Why a session could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// As many sessions are open as allowed, none idle.
    #[error("{0} MCP sessions are open, the most this server allows; try again when one has ended")]
    Full(usize),
    /// rmcp's session manager failed.
    #[error(transparent)]
    Session(#[from] LocalSessionManagerError),
}

impl BoundedSessions {
    /// At most `max` sessions, each closed after `idle` without a request.
    pub fn new(max: usize, idle: Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(idle);
        Self {
            inner,
            max,
            idle,
            used: Mutex::default(),
        }
    }

    /// Note that session `id` was used now.
    fn touch(&self, id: &SessionId) {
        if let Some(at) = self.used.lock().get_mut(id) {
            *at = Instant::now();
        }
    }

    /// How many sessions are open.
    pub fn open(&self) -> usize {
        self.used.lock().len()
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let idle: Vec<SessionId> = {
            let used = self.used.lock();
            if used.len() < self.max {
                Vec::new()
            } else {
                used.iter()
                    .filter(|(_, at)| at.elapsed() >= self.idle)
                    .map(|(id, _)| id.clone())
                    .collect()
            }
        };
        for id in idle {
            self.used.lock().remove(&id);
            // A session whose worker has already ended closes without error.
            let _ = self.inner.close_session(&id).await;
        }
        if self.used.lock().len() >= self.max {
            return Err(SessionsError::Full(self.max));
        }
        let (id, transport) = self.inner.create_session().await?;
        self.used.lock().insert(id.clone(), Instant::now());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.used.lock().remove(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.touch(id);
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}
