//! The daemon's control socket: while `feed-digest run` holds the store, the
//! other commands ask it over `state_dir/control.sock` (mode 0600: the service
//! user only) and print its answer. One JSON request line, one JSON answer line.
//!
//! Poll and send take the daemon's work lock, so they never run at the same
//! time as the daemon's own poll or digests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use feed_digest::config::Config;
use feed_digest::store::any::AnyStore;

use super::{commands, report};
use commands::Output;

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    Status { json: bool },
    Poll { force: bool },
    Send { subscribers: Vec<String> },
    Preview { subscriber: String, json: bool },
    StoreCheck,
    StoreExport,
    TopicsExplain { query: String },
    SubscribersList,
    Resubscribe { email: String },
    Unsubscribe { email: String },
}

#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Done(Output),
    Failed(String),
}

/// The store is locked by a process that does not answer on the socket.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store in {} is in use by another feed-digest process, and its control socket does not answer ({source})",
    state_dir.display()
)]
pub struct Unreachable {
    state_dir: PathBuf,
    source: std::io::Error,
}

/// Asks the running daemon; the error says so when nothing answers.
pub async fn ask(state_dir: &Path, request: &Request) -> anyhow::Result<Output> {
    let path = socket_path(state_dir);
    let stream = UnixStream::connect(&path).await.map_err(|source| Unreachable {
        state_dir: state_dir.to_path_buf(),
        source,
    })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    write
        .write_all(line.as_bytes())
        .await
        .context("cannot write to the control socket")?;
    write
        .shutdown()
        .await
        .context("cannot write to the control socket")?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .context("the daemon did not answer on its control socket")?;
    match serde_json::from_str(&answer).context("the daemon's answer is not valid")? {
        Answer::Done(output) => Ok(output),
        Answer::Failed(message) => anyhow::bail!("{message}"),
    }
}

/// What the daemon shares with the control socket.
pub struct Shared {
    pub store: AnyStore,
    pub config: watch::Receiver<Config>,
    pub work: Arc<tokio::sync::Mutex<()>>,
}

/// Binds the socket (replacing a stale one: we hold the state lock) for the service user only.
pub fn bind(state_dir: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = socket_path(state_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).with_context(|| format!("cannot bind {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    Ok(listener)
}

/// Answers requests until `cancel`, each connection on a task of its own
/// (a silent client waits alone). A request line must come within 10
/// seconds; the work it asks for (a poll) may take longer, and a poll ends
/// with the daemon's cancellation like the daemon's own.
pub async fn serve(listener: UnixListener, shared: Shared, cancel: CancellationToken) {
    let shared = Arc::new(shared);
    let limits = feed_digest::serve::Limits {
        connection_timeout: None,
        max_connections: 8,
        drain: std::time::Duration::from_secs(1),
    };
    feed_digest::serve::serve("control", listener, limits, cancel, move |stream, cancel| {
        let shared = shared.clone();
        async move {
            if let Err(err) = answer(stream, &shared, &cancel).await {
                tracing::warn!(error = %err, "control socket request failed");
            }
        }
    })
    .await;
}

/// How long a client has to send its request line.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn answer(stream: UnixStream, shared: &Shared, cancel: &CancellationToken) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // At most one line of 1 MiB (a request is a few hundred bytes).
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, 1 << 20));
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .with_context(|| format!("no request within {REQUEST_TIMEOUT:?}"))??;
    let request: Request = serde_json::from_str(&line).context("not a control request")?;
    let config = shared.config.borrow().clone();
    let store = &shared.store;
    let result = match request {
        Request::Status { json } => report::status(&config, store, json).await,
        Request::Preview { subscriber, json } => commands::preview(&config, store, &subscriber, json).await,
        // Between the daemon's polls and sends: read kind by kind (sled has
        // no snapshot across trees), a backup taken during a send could hold
        // an article both pending and sent, which a restore would mail again.
        Request::StoreCheck => {
            let _working = shared.work.lock().await;
            commands::store_check(store).await
        }
        Request::StoreExport => {
            let _working = shared.work.lock().await;
            commands::store_export(store).await
        }
        Request::TopicsExplain { query } => report::explain(&config, store, &query).await,
        request @ (Request::SubscribersList | Request::Resubscribe { .. } | Request::Unsubscribe { .. }) => {
            commands::subscribers(&config, store, request).await
        }
        // The config as it is once the daemon's own work is done: a reload
        // may have replaced it (and rescheduled the feeds) meanwhile.
        Request::Poll { force } => {
            let _working = shared.work.lock().await;
            let config = shared.config.borrow().clone();
            commands::poll_cancellable(
                &config,
                store,
                feed_digest::poll::Scope::All { force },
                false,
                cancel,
            )
            .await
        }
        Request::Send { subscribers } => {
            let _working = shared.work.lock().await;
            let config = shared.config.borrow().clone();
            commands::send_now(&config, store, &subscribers).await
        }
    };
    let answer = match result {
        Ok(output) => Answer::Done(output),
        Err(err) => Answer::Failed(format!("{err:#}")),
    };
    let mut text = serde_json::to_string(&answer)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    Ok(())
}
