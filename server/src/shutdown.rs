//! Graceful shutdown: on SIGTERM (ASG scale-in) or ctrl-c stop accepting connections, let in-flight requests
//! finish, close idle keep-alive connections, and return so the process exits 0. A drain deadline bounds
//! the wait when a client keeps a request open.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Resolves on SIGTERM or ctrl-c.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received; draining"),
        () = term => tracing::info!("SIGTERM received; draining"),
    }
}

/// Serves `app` on `listener` (with TCP_NODELAY) until `shutdown` resolves, then drains for at most `drain`.
///
/// # Errors
/// An I/O error from the listener.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let started = Arc::new(Notify::new());
    let notify = started.clone();
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            notify.notify_one();
        })
        .into_future();
    tokio::select! {
        r = server => {
            tracing::info!("drained; exiting");
            r
        }
        () = async { started.notified().await; tokio::time::sleep(drain).await } => {
            tracing::warn!(drain_s = drain.as_secs_f64(), "drain deadline reached with requests still open; exiting");
            Ok(())
        }
    }
}
