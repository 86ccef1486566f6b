//! The daemon: tokio-cron-scheduler ticks, this module decides. Polls on the
//! configured `poll`, and once a minute sends each subscriber whose slot (in
//! their own zone, see [`crate::schedule`]) has passed since their last digest.
//!
//! Work runs one step at a time on the service task, so a poll and a send never
//! race on the store. The scheduler only posts ticks into a channel; SIGTERM
//! cancels the token, the in-flight step finishes or is abandoned safely (a
//! fetch is dropped before anything is stored; a send is committed only after
//! the server's 2xx), and the store is flushed.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PollSchedule};
use crate::deliver::{self, Delivered};
use crate::fetch::Fetcher;
use crate::mail::Mailer;
use crate::notify;
use crate::poll;
use crate::store::{Store, StoreError};

/// A scheduler job body that only posts `tick`; a full queue means the same
/// work is already waiting, so a dropped tick loses nothing.
macro_rules! tick_job {
    ($ticks:expr, $tick:expr) => {{
        let ticks = $ticks;
        move |_, _| {
            let ticks = ticks.clone();
            Box::pin(async move {
                let _ = ticks.try_send($tick);
            })
        }
    }};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    Poll,
    Digests,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records every configured subscriber in the store; a new one starts now.
pub fn register_subscribers(config: &Config, store: &Store) -> Result<(), StoreError> {
    let now = Utc::now();
    for subscriber in &config.subscribers {
        store.ensure_subscriber(&subscriber.email(), now)?;
    }
    Ok(())
}

/// Runs until `cancel` fires. The caller owns the signals and the token.
pub async fn run(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    mailer: Mailer,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    register_subscribers(&config, &store)?;
    let (ticks, mut tick_rx) = mpsc::channel::<Tick>(8);
    let mut scheduler = JobScheduler::new().await?;
    scheduler.add(poll_job(&config.poll, ticks.clone())?).await?;
    scheduler
        .add(Job::new_async(
            "0 * * * * *",
            tick_job!(ticks.clone(), Tick::Digests),
        )?)
        .await?;
    scheduler.start().await?;
    notify::ready();
    notify::status(&format!(
        "polling {} feeds for {} subscribers",
        config.feeds.len(),
        config.subscribers.len()
    ));
    tracing::info!(
        feeds = config.feeds.len(),
        subscribers = config.subscribers.len(),
        "feed-digest running"
    );

    // Start with a poll and a catch-up round: a digest missed while the daemon
    // was down goes out now, once.
    let mut queue = vec![Tick::Poll, Tick::Digests];
    loop {
        for tick in queue.drain(..) {
            if cancel.is_cancelled() {
                break;
            }
            match tick {
                Tick::Poll => {
                    run_poll(&config, &store, &fetcher, &cancel).await;
                    prune_if_due(&config, &store).await;
                }
                Tick::Digests => run_due_digests(&config, &store, &mailer, &cancel).await,
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            tick = tick_rx.recv() => match tick {
                Some(tick) => queue.push(tick),
                None => break,
            },
        }
    }
    notify::stopping();
    tracing::info!("shutting down");
    scheduler.shutdown().await?;
    store.flush().await?;
    Ok(())
}

fn poll_job(
    poll: &PollSchedule,
    ticks: mpsc::Sender<Tick>,
) -> Result<Job, tokio_cron_scheduler::JobSchedulerError> {
    match poll {
        PollSchedule::Every(every) => Job::new_repeated_async(*every, tick_job!(ticks, Tick::Poll)),
        // The scheduler's cron lines carry seconds.
        PollSchedule::Cron(line) => {
            Job::new_async(format!("0 {line}").as_str(), tick_job!(ticks, Tick::Poll))
        }
    }
}

async fn run_poll(config: &Config, store: &Store, fetcher: &Fetcher, cancel: &CancellationToken) {
    match poll::poll_all(config, store, fetcher, cancel).await {
        Ok(reports) => {
            let failed = reports.iter().filter(|r| r.result.is_err()).count();
            for report in &reports {
                if let Err(err) = &report.result {
                    tracing::warn!(feed = %report.name, error = %err, "feed failed");
                }
            }
            tracing::info!(feeds = reports.len(), failed, "poll done");
        }
        Err(err) => tracing::error!(error = %err, "poll could not be stored"),
    }
}

/// Article bodies nobody has pending are kept this long (for "also in" and follow-ups).
const KEEP_BODIES: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Once a day, forget what left its feed longer than `retention` ago.
async fn prune_if_due(config: &Config, store: &Store) {
    let now = Utc::now();
    match store.last_prune() {
        Ok(Some(last)) if now - last < chrono::TimeDelta::days(1) => return,
        Ok(_) => {}
        Err(err) => {
            tracing::error!(error = %err, "cannot read the last prune time");
            return;
        }
    }
    let retention = chrono::TimeDelta::from_std(config.retention).unwrap_or(chrono::TimeDelta::MAX);
    // A full scan of the store: off the async threads.
    let pruning = store.clone();
    let result = tokio::task::spawn_blocking(move || pruning.prune(now, retention, KEEP_BODIES)).await;
    match result {
        Ok(Ok(report)) => {
            tracing::info!(
                seen_removed = report.seen_removed,
                bodies_removed = report.bodies_removed,
                links_removed = report.links_removed,
                "store pruned"
            );
            if let Err(err) = store.flush().await {
                tracing::error!(error = %err, "cannot flush the store after pruning");
            }
        }
        Ok(Err(err)) => tracing::error!(error = %err, "pruning failed"),
        Err(err) => tracing::error!(error = %err, "pruning task failed"),
    }
}

async fn run_due_digests(config: &Config, store: &Store, mailer: &Mailer, cancel: &CancellationToken) {
    let now = Utc::now();
    for subscriber in &config.subscribers {
        if cancel.is_cancelled() {
            return;
        }
        let email = subscriber.email();
        let state = match store.ensure_subscriber(&email, now) {
            Ok(state) => state,
            Err(err) => {
                tracing::error!(recipient_domain = subscriber.mailbox.email.domain(), error = %err, "cannot read subscriber state");
                continue;
            }
        };
        if !subscriber
            .schedule
            .is_due(state.since(), subscriber.timezone, now)
            || state.in_retry_backoff(now)
        {
            continue;
        }
        // A send is bounded by the SMTP timeout; it is never cut in half.
        match deliver::deliver(config, store, mailer, subscriber, now).await {
            Ok(Delivered::NothingPending) => {
                // An empty slot is still this slot: the next article waits for the next one.
                if let Err(err) = store.mark_slot(&email, now) {
                    tracing::error!(error = %err, "cannot record the schedule slot");
                }
            }
            Ok(Delivered::Sent { .. }) => {}
            Err(err) => tracing::warn!(error = %err, "digest failed; will retry"),
        }
    }
}

/// How long SIGTERM waits for the in-flight step before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
