//! The admin endpoint's accept loop: hyper's HTTP/1 connection builder
//! rather than `axum::serve`, for what `axum::serve` cannot set: a header
//! read timeout (slow or idle clients are closed after
//! [`HEADER_READ_TIMEOUT`]), a small read buffer, and a cap on the
//! connections served at once (a semaphore taken before `accept`, so an
//! idle-connection flood cannot take every descriptor of the process). The
//! bounds are in `bounds.rs`.

use super::bounds::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS, READ_BUFFER};
use crate::retry::Backoff;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Accepts and serves connections on `listener` until the task is dropped;
/// at most [`MAX_CONNECTIONS`] at once.
pub(super) async fn accept_loop(listener: TcpListener, app: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failed = Backoff::ADMIN_ACCEPT;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "admin endpoint: cannot accept a connection");
                tokio::time::sleep(failed.next()).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(stream, app).await;
            drop(slot);
        });
    }
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(READ_BUFFER);
    let service = TowerToHyperService::new(app);
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "admin endpoint: a connection ended");
    }
}
