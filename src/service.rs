//! The daemon: tokio-cron-scheduler ticks, this module decides. Once a minute
//! (or on the `poll` cron line) it polls the feeds whose own next-poll time has
//! come (see [`crate::cadence`]), and once a minute sends each subscriber whose
//! slot (in their own zone, see [`crate::schedule`]) has passed since their
//! last digest.
//!
//! Work runs one step at a time on the service task, so a poll and a send never
//! race on the store. The scheduler only posts ticks into a channel; SIGTERM
//! cancels the token, the in-flight step finishes or is abandoned safely (a
//! fetch is dropped before anything is stored; a send is committed only after
//! the server's 2xx), and the store is flushed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, PollSchedule};
use crate::deliver::{self, Delivered};
use crate::fetch::Fetcher;
use crate::mail::Mailer;
use crate::notify;
use crate::poll;
use crate::store::{Backend, StoreError};
use crate::subscriber::SubscriberState;

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
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

/// Records every configured subscriber in the store; a new one starts now.
pub async fn register_subscribers<S: Backend>(config: &Config, store: &S) -> Result<(), StoreError> {
    let emails: Vec<String> = config.subscribers.iter().map(|s| s.email()).collect();
    store
        .register_subscribers(&emails, &SubscriberState::new(Utc::now()))
        .await
}

/// Produces a freshly validated config, for SIGHUP.
pub type Reload = Box<dyn Fn() -> Result<Config, crate::config::ConfigError> + Send + Sync>;

/// What the daemon shares with the commands it answers on its control socket:
/// the running config (replaced on reload) and the work lock, held during each
/// poll and each round of digests so a command's poll or send never overlaps them.
pub struct Shared {
    pub config: tokio::sync::watch::Sender<Config>,
    pub work: std::sync::Arc<tokio::sync::Mutex<()>>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// What the daemon talks to, rebuilt from the config on reload.
struct Clients {
    fetcher: Fetcher,
    mailer: Mailer,
}

impl Clients {
    fn new(config: &Config) -> Result<Clients, ServiceError> {
        Ok(Clients {
            fetcher: Fetcher::new(&config.fetch)?,
            mailer: Mailer::new(&config.delivery)?,
        })
    }
}

/// Runs until `cancel` fires. The caller owns the signals: each message on
/// `reloads` (SIGHUP) re-reads the config through `reload`; an invalid new
/// config is logged and the running one kept.
pub async fn run<S: Backend>(
    mut config: Config,
    store: S,
    cancel: CancellationToken,
    mut reloads: mpsc::Receiver<()>,
    reload: Reload,
    shared: Shared,
) -> Result<(), ServiceError> {
    register_subscribers(&config, &store).await?;
    let mut clients = Clients::new(&config)?;
    let (ticks, mut tick_rx) = mpsc::channel::<Tick>(8);
    let mut scheduler = JobScheduler::new().await?;
    let mut poll_job_id = scheduler.add(poll_job(&config.poll, ticks.clone())?).await?;
    scheduler
        .add(Job::new_async(
            "0 * * * * *",
            tick_job!(ticks.clone(), Tick::Digests),
        )?)
        .await?;
    scheduler.start().await?;
    notify::ready();
    announce(&config, &store).await;
    // After READY and STATUS, so systemd sees them in that order.
    let tasks = TaskTracker::new();
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tasks.spawn(watchdog(store.clone(), interval / 2, cancel.child_token()));
    }
    tasks.close();

    // Start with a poll and a catch-up round: a digest missed while the daemon
    // was down goes out now, once.
    let mut queue = vec![Tick::Poll, Tick::Digests];
    let mut reschedule = false;
    let mut memory = crate::memory::Trimmer::default();
    loop {
        for tick in queue.drain(..) {
            if cancel.is_cancelled() {
                break;
            }
            let _working = shared.work.lock().await;
            match tick {
                Tick::Poll => {
                    if std::mem::take(&mut reschedule) {
                        match crate::poll::reschedule(&config, &store).await {
                            Ok(0) => {}
                            Ok(feeds) => tracing::info!(feeds, "next polls follow the new intervals"),
                            Err(err) => tracing::warn!("could not reschedule the feeds' next polls: {err}"),
                        }
                    }
                    let fetched = run_poll(&config, &store, &clients.fetcher, &cancel, &shared.metrics).await;
                    let pruned = prune_if_due(&config, &store).await;
                    memory.after_round(fetched, pruned).await;
                }
                Tick::Digests => {
                    run_due_digests(&config, &store, &clients.mailer, &cancel, &shared.metrics).await;
                    // The next digest may have moved on.
                    announce_quietly(&config, &store).await;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = memory.settle() => {}
            tick = tick_rx.recv() => match tick {
                Some(tick) => queue.push(tick),
                None => break,
            },
            Some(()) = reloads.recv() => {
                notify::reloading();
                match reconfigure(&config, reload(), &store).await {
                    Ok((new_config, new_clients)) => {
                        scheduler.remove(&poll_job_id).await?;
                        poll_job_id = scheduler.add(poll_job(&new_config.poll, ticks.clone())?).await?;
                        config = new_config;
                        clients = new_clients;
                        shared.config.send_replace(config.clone());
                        tracing::info!("config reloaded");
                        // A changed interval applies now, not after each feed's next
                        // poll: at the poll queued below, under the work lock.
                        reschedule = true;
                        // New feeds are polled and new schedules checked at once.
                        queue.extend([Tick::Poll, Tick::Digests]);
                    }
                    Err(message) => tracing::error!("config reload rejected, keeping the running config: {message}"),
                }
                notify::ready();
                announce(&config, &store).await;
            }
        }
    }
    notify::stopping();
    tracing::info!("shutting down");
    scheduler.shutdown().await?;
    tasks.wait().await;
    store.flush().await?;
    Ok(())
}

/// Checks a reloaded config against the running one and builds its clients.
async fn reconfigure<S: Backend>(
    running: &Config,
    loaded: Result<Config, crate::config::ConfigError>,
    store: &S,
) -> Result<(Config, Clients), String> {
    let new = loaded.map_err(|err| err.to_string())?;
    if new.state_dir != running.state_dir {
        return Err(format!(
            "state_dir cannot change while running ({} → {}); restart the service",
            running.state_dir.display(),
            new.state_dir.display()
        ));
    }
    let clients = Clients::new(&new).map_err(|err| err.to_string())?;
    register_subscribers(&new, store)
        .await
        .map_err(|err| err.to_string())?;
    Ok((new, clients))
}

/// `STATUS=` for systemd: what runs, and the next digest; logged too.
async fn announce<S: Backend>(config: &Config, store: &S) {
    let status = status_line(config, store).await;
    notify::status(&status);
    tracing::info!(
        feeds = config.feeds.len(),
        subscribers = config.subscribers.len(),
        "{status}"
    );
}

/// `STATUS=` only: the minute tick must not fill the journal.
async fn announce_quietly<S: Backend>(config: &Config, store: &S) {
    notify::status(&status_line(config, store).await);
}

async fn status_line<S: Backend>(config: &Config, store: &S) -> String {
    let now = Utc::now();
    let mut next = None;
    for s in &config.subscribers {
        let since = store
            .subscriber_state(&s.email())
            .await
            .ok()
            .flatten()
            .map_or(now, |st| st.since(now));
        if let Some(at) = s.schedule.next_after(since, s.timezone).map(|at| at.max(now))
            && next.is_none_or(|(first, _)| at < first)
        {
            next = Some((at, s));
        }
    }
    let mut status = format!(
        "polling {} for {}",
        crate::text::count(config.feeds.len(), "feed", "feeds"),
        crate::text::count(config.subscribers.len(), "subscriber", "subscribers")
    );
    if let Some((at, subscriber)) = next {
        // Never the whole address in logs: the local part is enough to recognise it.
        let who = format!("{}@…", subscriber.mailbox.email.user());
        let local = at.with_timezone(&subscriber.timezone).format("%H:%M");
        status.push_str(&format!(
            "; next digest {local} {} for {who}",
            subscriber.timezone
        ));
    }
    status
}

/// Sends `WATCHDOG=1` every `every`, but only while the store answers: a hung
/// store makes systemd restart the service.
async fn watchdog<S: Backend>(store: S, every: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {
                match store.ping().await {
                    Ok(()) => notify::watchdog(),
                    Err(err) => tracing::error!(error = %err, "store ping failed; withholding the watchdog"),
                }
            }
        }
    }
}

fn poll_job(
    poll: &PollSchedule,
    ticks: mpsc::Sender<Tick>,
) -> Result<Job, tokio_cron_scheduler::JobSchedulerError> {
    match poll {
        // Each feed has its own next-poll time (interval, server hints,
        // jitter); a minute tick polls the feeds that are due.
        PollSchedule::Every(_) => Job::new_async("30 * * * * *", tick_job!(ticks, Tick::Poll)),
        // The scheduler's cron lines carry seconds.
        PollSchedule::Cron(line) => {
            Job::new_async(format!("0 {line}").as_str(), tick_job!(ticks, Tick::Poll))
        }
    }
}

/// One poll of the due feeds, logged and counted; returns how many feeds sent a new body.
async fn run_poll<S: Backend>(
    config: &Config,
    store: &S,
    fetcher: &Fetcher,
    cancel: &CancellationToken,
    metrics: &crate::metrics::Metrics,
) -> usize {
    let started = std::time::Instant::now();
    let result =
        poll::poll_with_progress(config, store, fetcher, cancel, poll::Scope::Due, &mut |_, _| {}).await;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    metrics
        .last_poll_millis
        .store(millis, std::sync::atomic::Ordering::Relaxed);
    crate::metrics::Metrics::add(&metrics.polls, 1);
    match result {
        Ok(reports) => {
            let new: usize = reports
                .iter()
                .map(|r| match &r.result {
                    Ok(poll::FeedOutcome::Fetched { new_articles, .. }) => *new_articles,
                    _ => 0,
                })
                .sum();
            crate::metrics::Metrics::add(&metrics.articles_ingested, new as u64);
            let failed = reports.iter().filter(|r| r.result.is_err()).count();
            for report in &reports {
                if let Err(err) = &report.result {
                    tracing::warn!(feed = %report.name, error = %err, "feed failed");
                }
            }
            // The minute tick usually finds nothing due: say so only when it did work.
            if !reports.is_empty() {
                tracing::info!(feeds = reports.len(), failed, "poll done");
            }
            reports
                .iter()
                .filter(|r| matches!(r.result, Ok(poll::FeedOutcome::Fetched { .. })))
                .count()
        }
        Err(err) => {
            tracing::error!(error = %err, "poll could not be stored");
            0
        }
    }
}

/// Article bodies nobody has pending are kept this long (for "also in" and follow-ups).
const KEEP_BODIES: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What waits for a subscriber who unsubscribed is kept this long (they may
/// change their mind), then dropped by the daily prune.
pub const KEEP_FOR_OPTED_OUT: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Drops what waits for subscribers who unsubscribed over
/// [`KEEP_FOR_OPTED_OUT`] ago; returns how many articles.
pub async fn drop_for_opted_out<S: Backend>(store: &S, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut dropped = 0;
    for (email, opt_out) in store.opt_outs().await? {
        if now - opt_out.since > KEEP_FOR_OPTED_OUT {
            dropped += store.drop_waiting(&email).await?;
        }
    }
    Ok(dropped)
}

/// Once a day, forget what left its feed longer than `retention` ago.
/// Returns whether it ran (it scans the whole store).
async fn prune_if_due<S: Backend>(config: &Config, store: &S) -> bool {
    let now = Utc::now();
    match store.last_prune().await {
        Ok(Some(last)) if now - last < chrono::TimeDelta::days(1) => return false,
        Ok(_) => {}
        Err(err) => {
            tracing::error!(error = %err, "cannot read the last prune time");
            return false;
        }
    }
    let retention = chrono::TimeDelta::from_std(config.retention).unwrap_or(chrono::TimeDelta::MAX);
    match store.prune(now, retention, KEEP_BODIES).await {
        Ok(report) => {
            tracing::info!(
                seen_removed = report.seen_removed,
                bodies_removed = report.bodies_removed,
                links_removed = report.links_removed,
                "store pruned"
            );
            match drop_for_opted_out(store, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    articles = n,
                    "dropped what waited for subscribers who unsubscribed"
                ),
                Err(err) => {
                    tracing::error!(error = %err, "cannot drop what waits for unsubscribed subscribers")
                }
            }
            if let Err(err) = store.flush().await {
                tracing::error!(error = %err, "cannot flush the store after pruning");
            }
        }
        Err(err) => tracing::error!(error = %err, "pruning failed"),
    }
    true
}

async fn run_due_digests<S: Backend>(
    config: &Config,
    store: &S,
    mailer: &Mailer,
    cancel: &CancellationToken,
    metrics: &crate::metrics::Metrics,
) {
    // Loaded by the first digest that folds, dropped when the round ends.
    let meaning = crate::meaning::Meaning::new(config);
    send_due(config, store, mailer, cancel, metrics, &meaning).await;
    meaning.release().await;
}

async fn send_due<S: Backend>(
    config: &Config,
    store: &S,
    mailer: &Mailer,
    cancel: &CancellationToken,
    metrics: &crate::metrics::Metrics,
    meaning: &crate::meaning::Meaning,
) {
    let now = Utc::now();
    let mut order: Vec<&crate::config::Subscriber> = config.subscribers.iter().collect();
    crate::store::in_round_order(store, &mut order);
    for subscriber in order {
        if cancel.is_cancelled() {
            return;
        }
        let email = subscriber.email();
        let state = match store
            .register_subscriber(&email, &SubscriberState::new(now))
            .await
        {
            Ok(state) => state,
            Err(err) => {
                tracing::error!(recipient_domain = subscriber.mailbox.email.domain(), error = %err, "cannot read subscriber state");
                continue;
            }
        };
        if !subscriber
            .schedule
            .is_due(state.since(now), subscriber.timezone, now)
            || state.in_retry_backoff(now)
        {
            continue;
        }
        // A send is bounded (three SMTP timeouts, `mail.rs`); a cut one is
        // uncertain, and the same message goes again.
        match deliver::deliver(config, store, mailer, subscriber, meaning, now).await {
            Ok(Delivered::NothingPending | Delivered::OptedOut { .. }) => {
                // An empty slot is still this slot: the next article waits
                // for the next one. On the state as it is now: another
                // instance may have sent since this round read it.
                let fresh = store.register_subscriber(&email, &state).await;
                let handled = fresh.map(|fresh| fresh.slot_handled(now));
                let recorded = match handled {
                    Ok(handled) => store.put_subscriber_state(&email, &handled).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = recorded {
                    tracing::error!(error = %err, "cannot record the schedule slot");
                }
            }
            Ok(Delivered::Sent { .. }) => crate::metrics::Metrics::add(&metrics.digests_sent, 1),
            // Another instance sharing the store delivers it.
            Ok(Delivered::Elsewhere) => {}
            Err(err) => {
                crate::metrics::Metrics::add(&metrics.digests_failed, 1);
                // The subscriber by local part only: logs never carry whole addresses.
                let cause =
                    std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string);
                tracing::warn!(recipient = %format!("{}@…", subscriber.mailbox.email.user()), error = %cause, "digest failed; will retry");
            }
        }
    }
}
