//! One way for the daemon's listeners (the control socket, metrics, the web
//! endpoint) to accept connections: each on a task of its own, at most
//! `max_connections` at once, each cut off after its timeout, and all of them
//! ended when the daemon's token is cancelled. A silent client costs one
//! task until its timeout, never the listener or the shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A listener the helper can accept from.
pub trait Accept: Send + 'static {
    type Connection: Send + 'static;
    fn accept_one(&self) -> impl Future<Output = std::io::Result<Self::Connection>> + Send;
}

impl Accept for TcpListener {
    type Connection = TcpStream;
    async fn accept_one(&self) -> std::io::Result<TcpStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Accept for UnixListener {
    type Connection = UnixStream;
    async fn accept_one(&self) -> std::io::Result<UnixStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection still open after this is closed; `None` for one whose
    /// work may take long (a control-socket poll), which then bounds its own
    /// reads.
    pub connection_timeout: Option<Duration>,
    pub max_connections: usize,
    /// After cancellation, how long connections in flight may finish.
    pub drain: Duration,
}

/// Accepts from `listener` until `cancel`, running `handle` for each
/// connection with a token that is cancelled with the daemon's. Returns when
/// every connection has ended (or was cut off after the drain).
pub async fn serve<A, H, F>(
    name: &'static str,
    listener: A,
    limits: Limits,
    cancel: CancellationToken,
    handle: H,
) where
    A: Accept,
    H: Fn(A::Connection, CancellationToken) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // Back-pressure: a connection is accepted only when a slot is free.
        let slot = tokio::select! {
            () = cancel.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let connection = tokio::select! {
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept_one() => match accepted {
                Ok(connection) => connection,
                Err(err) => {
                    // EMFILE and the like: pause rather than spin.
                    tracing::warn!(listener = name, error = %err, "accept failed");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let work = handle(connection, cancel.child_token());
        let timeout = limits.connection_timeout;
        connections.spawn(async move {
            let _slot = slot;
            match timeout {
                Some(limit) => {
                    if tokio::time::timeout(limit, work).await.is_err() {
                        tracing::debug!(listener = name, "connection cut off after {limit:?}");
                    }
                }
                None => work.await,
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            listener = name,
            left = connections.len(),
            "connections cut off at shutdown"
        );
        connections.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(timeout: Option<Duration>, max: usize) -> Limits {
        Limits {
            connection_timeout: timeout,
            max_connections: max,
            drain: Duration::from_millis(200),
        }
    }

    async fn echo_once(mut stream: TcpStream, _cancel: CancellationToken) {
        let mut byte = [0u8; 1];
        if stream.read_exact(&mut byte).await.is_ok() {
            let _ = stream.write_all(&byte).await;
        }
    }

    #[tokio::test]
    async fn a_silent_client_does_not_stall_the_next_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(
            "test",
            listener,
            limits(None, 4),
            cancel.clone(),
            echo_once,
        ));
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut talker = TcpStream::connect(addr).await.unwrap();
        talker.write_all(b"x").await.unwrap();
        let mut answer = [0u8; 1];
        talker.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"x");
        cancel.cancel();
        // The silent client is cut off by the drain: serve returns.
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_past_its_timeout_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(
            "test",
            listener,
            limits(Some(Duration::from_millis(50)), 4),
            cancel.clone(),
            echo_once,
        ));
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut rest = Vec::new();
        // EOF comes from the server's side: the handler was dropped.
        let read = silent.read_to_end(&mut rest).await.unwrap();
        assert_eq!(read, 0);
        cancel.cancel();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn at_most_max_connections_are_served_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (a, p) = (active.clone(), peak.clone());
        let handler = move |stream: TcpStream, cancel: CancellationToken| {
            let (active, peak) = (a.clone(), p.clone());
            async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                echo_once(stream, cancel).await;
                active.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let server = tokio::spawn(serve("test", listener, limits(None, 1), cancel.clone(), handler));
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let byte = [b'a' + u8::try_from(i).unwrap()];
            client.write_all(&byte).await.unwrap();
            let mut answer = [0u8; 1];
            client.read_exact(&mut answer).await.unwrap();
            assert_eq!(answer, byte);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        cancel.cancel();
        server.await.unwrap();
    }
}
