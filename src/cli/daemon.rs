//! `feed-digest run`: the daemon with its signals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use feed_digest::config::Config;
use feed_digest::service;

use super::{control, open_store};

pub(super) async fn run_daemon(config: Config, path: PathBuf) -> anyhow::Result<ExitCode> {
    // Installed first, before anything is opened, served or logged as
    // ready: installed in the spawned task instead, a SIGTERM right after
    // start-up could come before it first ran and kill the daemon uncleanly.
    let signals = Signals::install()?;
    let store = open_store(&config).await?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    tracker.spawn(handle_signals(signals, cancel.clone(), reload_tx));
    let reload: service::Reload = Box::new(move || Config::load(&path));
    let (config_tx, config_rx) = tokio::sync::watch::channel(config.clone());
    let work = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    let listener = control::bind(&config.state_dir)?;
    let control_shared = control::Shared {
        store: store.clone(),
        config: config_rx,
        work: work.clone(),
    };
    tracker.spawn(control::serve(listener, control_shared, cancel.clone()));
    if let Some((web, listen)) = config.web.as_ref().and_then(|w| Some((w, w.listen?))) {
        let listener = feed_digest::web::bind(listen)
            .await
            .with_context(|| format!("cannot listen for [web] on {listen}"))?;
        let bound = listener.local_addr().context("web listener address")?;
        tracing::info!(base_url = %web.base_url, "web endpoint listening on http://{bound}/");
        tracker.spawn(feed_digest::web::serve(
            listener,
            config_tx.subscribe(),
            store.clone(),
            feed_digest::web::WebLimits::default(),
            cancel.clone(),
        ));
    }
    let metrics = std::sync::Arc::new(feed_digest::metrics::Metrics::default());
    if let Some(addr) = config.metrics_listen {
        let listener = feed_digest::metrics::bind(addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        let bound = listener.local_addr().context("metrics listener address")?;
        tracing::info!("metrics listening on http://{bound}/metrics");
        tracker.spawn(feed_digest::metrics::serve(
            listener,
            metrics.clone(),
            config_tx.subscribe(),
            store.clone(),
            cancel.clone(),
        ));
    }
    let shared = service::Shared {
        config: config_tx,
        work,
        metrics,
    };
    let socket = control::socket_path(&config.state_dir);
    let grace = config.shutdown_timeout;
    // The service runs on this thread, as a one-shot `poll` does, rather than
    // as a task the runtime moves between its workers: each thread that
    // allocates gets its own glibc arena, and a poll spread over all of them
    // kept about 20 MB more resident (docs/benchmarks.md, "Daemon memory").
    let service = service::run(config, store, cancel.clone(), reload_rx, reload, shared);
    tokio::pin!(service);
    tracker.close();
    // The service ends on its own only on error; otherwise on cancellation.
    let finished = tokio::select! {
        result = &mut service => {
            cancel.cancel();
            result?;
            true
        }
        () = cancel.cancelled() => false,
    };
    let in_flight = async {
        if !finished {
            service.await?;
        }
        tracker.wait().await;
        anyhow::Ok(())
    };
    match tokio::time::timeout(grace, in_flight).await {
        Ok(result) => result?,
        // What was in flight is safe: a fetch stored nothing yet, a send
        // stays in the outbox and is resent with the same Message-ID.
        Err(_) => anyhow::bail!("shutdown took longer than {grace:?}; exiting anyway"),
    }
    let _ = std::fs::remove_file(&socket);
    Ok(ExitCode::SUCCESS)
}

/// The daemon's signal streams: from their creation on, the signals are
/// queued for [`handle_signals`] rather than acted on by the default action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let handler = |kind| signal(kind).context("cannot install the signal handlers");
        Ok(Signals {
            term: handler(SignalKind::terminate())?,
            int: handler(SignalKind::interrupt())?,
            hup: handler(SignalKind::hangup())?,
        })
    }
}

/// SIGTERM/SIGINT cancel the service; SIGHUP asks it to reload its config.
async fn handle_signals(signals: Signals, cancel: CancellationToken, reload: tokio::sync::mpsc::Sender<()>) {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
            _ = hup.recv() => {
                tracing::info!("SIGHUP received: reloading the config");
                // A reload already queued covers this one too.
                let _ = reload.try_send(());
                continue;
            }
            () = cancel.cancelled() => return,
        }
        cancel.cancel();
        return;
    }
}
