//! The one-shot commands: poll, send, preview, store, demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use feed_digest::config::{Config, Delivery};
use feed_digest::deliver::{self, Delivered};
use feed_digest::demo;
use feed_digest::fetch::Fetcher;
use feed_digest::mail::Mailer;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::store::Store;

use super::{StoreCommand, exit, open_store};

pub(super) async fn poll_once(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
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
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) async fn send_now(config: &Config, store: &Store, only: &[String]) -> anyhow::Result<ExitCode> {
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
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn preview(
    config: &Config,
    store: &Store,
    email: &str,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
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

pub(super) async fn store_command(config: &Config, command: StoreCommand) -> anyhow::Result<ExitCode> {
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

pub(super) async fn run_demo(output: &Path) -> anyhow::Result<ExitCode> {
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
