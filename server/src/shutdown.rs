//! The shutdown signal: SIGTERM (ASG scale-in, systemd stop) or ctrl-c. [`crate::conn::serve`] then stops
//! accepting, lets in-flight requests finish within a drain deadline, and returns so the process exits 0.

/// Resolves on SIGTERM or ctrl-c.
pub(crate) async fn signal() {
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
