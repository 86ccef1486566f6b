//! Commands: run, poll, send, preview, check, status, demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use feed_digest::config::{self, Config, ConfigError, Delivery};
use feed_digest::deliver::{self, Delivered};
use feed_digest::fetch::Fetcher;
use feed_digest::mail::Mailer;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::store::Store;
use feed_digest::{demo, service};

const EX_CONFIG: u8 = 78;

/// Turns news feeds into one digest email per subscriber, on each subscriber's schedule.
#[derive(Parser)]
#[command(name = "feed-digest", version, about, long_about = None)]
struct Cli {
    /// The config file [default: /etc/feed-digest/config.toml]
    #[arg(long, short, global = true, env = "FEED_DIGEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll feeds and send digests on schedule until SIGTERM.
    Run,
    /// Poll every feed once now and store what is new.
    Poll,
    /// Build and deliver pending digests now, whatever the schedule.
    Send {
        /// Only these subscribers (repeatable); default: all.
        #[arg(long = "subscriber", value_name = "EMAIL")]
        subscribers: Vec<String>,
    },
    /// Render the next digest (HTML) without sending it or consuming anything.
    Preview {
        #[arg(long, value_name = "EMAIL")]
        subscriber: String,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate the config and show what it defines.
    Check,
    /// Show feeds and subscribers as the store knows them.
    Status,
    /// Check, back up or restore the store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Run poll and send on the bundled sample feeds, delivering into files.
    Demo {
        /// Where to put the sample feeds, the store and the mail.
        #[arg(long, short, default_value = "demo-output")]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Verify that every record decodes and the store's invariants hold.
    Check,
    /// Write every record as JSON lines (a readable backup).
    Export {
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Restore an export into an empty store.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            if let Some(config_error) = err.downcast_ref::<ConfigError>() {
                eprintln!("error: invalid configuration\n{config_error}");
                return ExitCode::from(EX_CONFIG);
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FEED_DIGEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn config_path(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from(config::DEFAULT_PATH), Path::to_path_buf)
}

fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    Config::load(&config_path(path))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Demo { output } = &cli.command {
        return run_demo(output).await;
    }
    let config = load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Check => check(&config),
        Command::Run => run_daemon(config, config_path(cli.config.as_deref())).await,
        Command::Poll => {
            let store = open_store(&config)?;
            poll_once(&config, &store).await
        }
        Command::Send { subscribers } => {
            let store = open_store(&config)?;
            send_now(&config, &store, &subscribers).await
        }
        Command::Preview { subscriber, output } => {
            let store = open_store(&config)?;
            preview(&config, &store, &subscriber, output.as_deref())
        }
        Command::Status => {
            let store = open_store(&config)?;
            status(&config, &store)
        }
        Command::Store { command } => store_command(&config, command).await,
        Command::Demo { .. } => Ok(ExitCode::SUCCESS),
    }
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state directory {}", config.state_dir.display()))?;
    let store = Store::open(&config.state_dir)?;
    service::register_subscribers(config, &store)?;
    Ok(store)
}

async fn run_daemon(config: Config, path: PathBuf) -> anyhow::Result<ExitCode> {
    let store = open_store(&config)?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    tracker.spawn(handle_signals(cancel.clone(), reload_tx));
    let reload: service::Reload = Box::new(move || Config::load(&path));
    let service = tracker.spawn(service::run(config, store, cancel.clone(), reload_rx, reload));
    tracker.close();
    // The service ends on its own only on error; otherwise on cancellation.
    tokio::select! {
        result = service => {
            cancel.cancel();
            result.context("the service task panicked")??;
        }
        () = cancel.cancelled() => {}
    }
    if tokio::time::timeout(service::SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        anyhow::bail!(
            "shutdown took longer than {:?}; exiting anyway",
            service::SHUTDOWN_GRACE
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM/SIGINT cancel the service; SIGHUP asks it to reload its config.
async fn handle_signals(cancel: CancellationToken, reload: tokio::sync::mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
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

async fn poll_once(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    let fetcher = Fetcher::new(&config.fetch)?;
    let reports = poll::poll_all(config, store, &fetcher, &CancellationToken::new()).await?;
    let mut failed = 0;
    for report in &reports {
        match &report.result {
            Ok(FeedOutcome::NotModified) => println!("{}: not modified", report.name),
            Ok(FeedOutcome::Fetched {
                new_articles,
                baseline,
                held_back,
                items,
            }) => {
                let mut notes = String::new();
                if *baseline > 0 {
                    notes.push_str(&format!(
                        " ({baseline} older ones recorded as seen on first poll)"
                    ));
                }
                if *held_back > 0 {
                    notes.push_str(&format!(
                        " ({held_back} more held back for later polls: flood cap)"
                    ));
                }
                println!("{}: {new_articles} new of {items} items{notes}", report.name);
            }
            Err(err) => {
                failed += 1;
                println!("{}: ERROR {err}", report.name);
            }
        }
    }
    println!("{} feeds polled, {failed} failed", reports.len());
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn send_now(config: &Config, store: &Store, only: &[String]) -> anyhow::Result<ExitCode> {
    for email in only {
        if config.subscriber(email).is_none() {
            anyhow::bail!("no subscriber {email:?} in the config");
        }
    }
    let mailer = Mailer::new(&config.delivery)?;
    let mut failed = 0;
    for subscriber in &config.subscribers {
        let email = subscriber.email();
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(&email)) {
            continue;
        }
        match deliver::deliver(config, store, &mailer, subscriber, Utc::now()).await {
            Ok(Delivered::NothingPending) => println!("{email}: nothing pending"),
            Ok(Delivered::Sent {
                message_id,
                articles,
                resent,
            }) => {
                let how = if resent { "resent" } else { "sent" };
                println!("{email}: {how} {articles} articles ({message_id})");
            }
            Err(err) => {
                failed += 1;
                println!("{email}: ERROR {err}");
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn preview(config: &Config, store: &Store, email: &str, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let subscriber = config
        .subscriber(email)
        .with_context(|| format!("no subscriber {email:?} in the config"))?;
    let html = match store.outbox(&subscriber.email())? {
        Some(entry) => entry.html,
        None => match deliver::prepare(config, store, subscriber, Utc::now())? {
            Some(prepared) => prepared.rendered.html,
            None => {
                eprintln!("{email}: nothing pending, no digest would be sent");
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    match output {
        Some(path) => {
            std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("preview written to {}", path.display());
        }
        None => print!("{html}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn store_command(config: &Config, command: StoreCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state directory {}", config.state_dir.display()))?;
    let store = Store::open(&config.state_dir)?;
    match command {
        StoreCommand::Check => {
            let report = store.check()?;
            println!(
                "schema {}; {} seen ids, {} article bodies, {} links, {} pending, {} in outbox, {} feeds, {} subscribers",
                report.schema_version,
                report.seen,
                report.articles,
                report.links,
                report.pending,
                report.outbox,
                report.feeds,
                report.subscribers
            );
            for problem in &report.problems {
                println!("PROBLEM: {problem}");
            }
            if report.problems.is_empty() {
                println!("store OK");
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::FAILURE)
            }
        }
        StoreCommand::Export { output } => {
            let count = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut writer = std::io::BufWriter::new(file);
                    let count = store.export(&mut writer)?;
                    std::io::Write::flush(&mut writer)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    count
                }
                None => store.export(&mut std::io::stdout().lock())?,
            };
            eprintln!("{count} records exported");
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Import { file } => {
            let reader =
                std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let count = store
                .import(&mut std::io::BufReader::new(reader))
                .with_context(|| format!("cannot import {}", file.display()))?;
            store.flush().await?;
            println!("{count} records imported into {}", store.path().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(config: &Config) -> anyhow::Result<ExitCode> {
    println!("config OK");
    println!("state_dir: {}", config.state_dir.display());
    match &config.delivery {
        Delivery::Smtp(smtp) => println!(
            "delivery: SMTP {}:{} ({:?}{})",
            smtp.host,
            smtp.port,
            smtp.security,
            if smtp.credentials.is_some() {
                ", with AUTH"
            } else {
                ""
            }
        ),
        Delivery::File { dir } => println!("delivery: files in {}", dir.display()),
    }
    println!("feeds ({}):", config.feeds.len());
    for feed in &config.feeds {
        let topics = if feed.topics.is_empty() {
            String::new()
        } else {
            format!(" [topics: {}]", feed.topics.join(", "))
        };
        println!(
            "  {}{}{topics}",
            feed.name.as_deref().map(|n| format!("{n}: ")).unwrap_or_default(),
            feed.key
        );
    }
    println!("topics ({}):", config.topics.len());
    for topic in &config.topics {
        if topic.keywords.is_empty() {
            println!("  {} (assigned by feeds)", topic.name);
        } else {
            println!("  {}: {}", topic.name, topic.keywords.join(", "));
        }
    }
    println!("subscribers ({}):", config.subscribers.len());
    let now = Utc::now();
    for subscriber in &config.subscribers {
        let next = subscriber
            .schedule
            .next_after(now, subscriber.timezone)
            .map(|t| local(t, subscriber.timezone))
            .unwrap_or_else(|| "never".to_owned());
        println!(
            "  {} ({}, {}): next digest {next}",
            subscriber.mailbox,
            subscriber.schedule.describe(),
            subscriber.timezone
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn local(time: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    time.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
}

fn status(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    let when = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    };
    println!("feeds:");
    for feed in &config.feeds {
        let state = store.feed_state(&feed.key)?.unwrap_or_default();
        let name = feed_digest::digest::feed_display_name(feed, state.title.as_deref());
        println!("  {name}");
        println!("    last success: {}", when(state.last_success));
        if let Some(err) = &state.last_error {
            println!("    last error:   {} ({err})", when(state.last_error_at));
        }
        println!("    items known:  {}", state.items_known);
        if state.held_back > 0 {
            println!(
                "    held back:    {} new items wait for later polls (flood cap)",
                state.held_back
            );
        }
    }
    println!("subscribers:");
    let now = Utc::now();
    for subscriber in &config.subscribers {
        let email = subscriber.email();
        let state = store.ensure_subscriber(&email, now)?;
        let pending = store.pending(&email)?.len();
        let next = subscriber
            .schedule
            .next_after(state.since(), subscriber.timezone)
            .map(|t| local(t.max(now), subscriber.timezone))
            .unwrap_or_else(|| "never".to_owned());
        println!("  {email}");
        println!("    pending:      {pending}");
        println!("    last sent:    {}", when(state.last_sent));
        println!("    next due:     {next}");
        if let Some(err) = &state.last_error {
            println!("    last failure: {} ({err})", when(state.last_attempt));
            println!(
                "    retry:        after {} ({} failed attempts; `feed-digest send` tries now)",
                when(state.retry_at()),
                state.failures
            );
        }
        if store.outbox(&email)?.is_some() {
            println!("    outbox:       a digest awaits resending");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_demo(output: &Path) -> anyhow::Result<ExitCode> {
    let config = demo::prepare(output)?;
    let store = open_store(&config)?;
    println!("Polling the bundled sample feeds…");
    let code = poll_once(&config, &store).await?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    println!("\nDelivering every subscriber's digest with the file transport…");
    let code = send_now(&config, &store, &[]).await?;
    if let Delivery::File { dir } = &config.delivery {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml" || e == "html"))
            .collect();
        files.sort();
        println!("\nThe digests are in {}:", dir.display());
        for file in files {
            println!("  {}", file.display());
        }
    }
    Ok(code)
}
