//! The accept loop. axum's own `serve` has no header read timeout and no
//! cap on connections, so a client that opens connections and sends half
//! a request could hold the server; this loop bounds both.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::metrics;
use super::slots::{Refused, Slots};

pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers; an idle
    /// kept-alive connection is closed after as long.
    pub header_timeout: Duration,
    pub slots: Arc<Slots>,
}

/// How long open connections get to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(30);

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .max_concurrent_streams(100);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match limits.slots.take(remote.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                tokio::spawn(refuse(tcp, refused));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let service = tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Answers a refused connection without parsing its request: a fixed
/// response, then the connection is closed.
async fn refuse(mut tcp: TcpStream, refused: Refused) {
    let (status, reason, message) = match refused {
        Refused::Full => (
            "503 Service Unavailable",
            "full",
            "the server holds its maximum of connections",
        ),
        Refused::ClientFull => (
            "429 Too Many Requests",
            "client",
            "too many connections from your address",
        ),
    };
    metrics::refused("connection", reason);
    let body = format!("{{\"error\":\"{message}; retry after 1 s\"}}");
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Bounded: a refused client gets one second, whatever it does.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        // Closing with the request unread would reset the connection and
        // could discard the answer before the client reads it.
        let mut sink = [0u8; 4096];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
