//! Signal handling: the first SIGINT/SIGTERM starts a graceful shutdown (stop reading, drain,
//! flush every sink); a second one exits at once.

use tokio_util::sync::CancellationToken;

/// Exit status used when a second signal cuts a graceful shutdown short.
pub const FORCED_EXIT_CODE: i32 = 130;

/// Cancels `token` on the first SIGINT or SIGTERM and exits the process on the second.
/// Must be called inside a tokio runtime.
pub fn install_signal_handlers(token: CancellationToken) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
                seen += 1;
                if seen == 1 {
                    tracing::info!(
                        "shutting down: draining the pipeline (signal again to exit now)"
                    );
                    token.cancel();
                } else {
                    tracing::warn!("second signal: exiting without draining");
                    std::process::exit(FORCED_EXIT_CODE);
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            let mut seen = 0;
            while tokio::signal::ctrl_c().await.is_ok() {
                seen += 1;
                if seen == 1 {
                    token.cancel();
                } else {
                    std::process::exit(FORCED_EXIT_CODE);
                }
            }
        });
    }
    Ok(())
}
