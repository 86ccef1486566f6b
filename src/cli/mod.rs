//! The command line: parse arguments, load the config, run one command, and
//! turn errors into messages and sysexits codes. Errors are reported here
//! (anyhow); the library's errors carry their context.

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
use feed_digest::store::{Store, StoreError};

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
        #[arg(long)]
        force: bool,
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
enum TopicsCommand {
    /// Show which topics a stored article matches and which rule matched
    /// (by its link, or a piece of its title).
    Explain {
        #[arg(value_name = "URL-OR-TITLE")]
        query: String,
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
    let cli = Cli::parse();
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("FEED_DIGEST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::try_new(config_filter.unwrap_or("info"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    });
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
            clap_complete::generate(*shell, &mut Cli::command(), "feed-digest", &mut std::io::stdout());
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
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the man page")?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let path = config_path(cli.config.as_deref());
    let config = Config::load(&path)?;
    init_logging(config.log.as_deref());
    // While the daemon holds the store, these go through its control socket.
    let remote = |request: control::Request| {
        let state_dir = config.state_dir.clone();
        async move { control::ask(&state_dir, &request).await }
    };
    match cli.command {
        Command::Check { connect } => report::check(&config, connect).await,
        Command::Run => daemon::run_daemon(config, path).await,
        Command::Poll { force } => match try_open_store(&config)? {
            Some(store) => Ok(commands::poll_once_with(&config, &store, force, true)
                .await?
                .print()),
            None => Ok(remote(control::Request::Poll { force }).await?.print()),
        },
        Command::Send { subscribers } => match try_open_store(&config)? {
            Some(store) => Ok(commands::send_now_with(&config, &store, &subscribers, true)
                .await?
                .print()),
            None => Ok(remote(control::Request::Send { subscribers }).await?.print()),
        },
        Command::Preview {
            subscriber,
            output,
            json,
        } => {
            let preview = match try_open_store(&config)? {
                Some(store) => commands::preview(&config, &store, &subscriber, json)?,
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
        Command::Status { json } => match try_open_store(&config)? {
            Some(store) => Ok(report::status(&config, &store, json)?.print()),
            None => Ok(remote(control::Request::Status { json }).await?.print()),
        },
        Command::Topics {
            command: TopicsCommand::Explain { query },
        } => match try_open_store(&config)? {
            Some(store) => Ok(report::explain(&config, &store, &query)?.print()),
            None => Ok(remote(control::Request::TopicsExplain { query }).await?.print()),
        },
        Command::Store { command } => match command {
            StoreCommand::Check => match try_open_store(&config)? {
                Some(store) => Ok(commands::store_check(&store)?.print()),
                None => Ok(remote(control::Request::StoreCheck).await?.print()),
            },
            StoreCommand::Export { output } => {
                let export = match try_open_store(&config)? {
                    Some(store) => commands::store_export(&store)?,
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

/// The store, or `None` when another process (the daemon) holds it.
fn try_open_store(config: &Config) -> anyhow::Result<Option<Store>> {
    match open_store(config) {
        Ok(store) => Ok(Some(store)),
        Err(err) if matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Locked { .. })) => Ok(None),
        Err(err) => Err(err),
    }
}

pub(crate) fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state directory {}", config.state_dir.display()))?;
    let store = Store::open(&config.state_dir)?;
    service::register_subscribers(config, &store)?;
    Ok(store)
}
