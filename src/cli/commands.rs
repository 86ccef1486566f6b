//! The one-shot commands: poll, send, preview, store, demo. Each produces an
//! [`Output`], so the same code answers on the terminal and, while the daemon
//! holds the store, over its control socket.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use feed_digest::config::{Config, Delivery};
use feed_digest::deliver::{self, Delivered};
use feed_digest::fetch::Fetcher;
use feed_digest::mail::Mailer;
use feed_digest::meaning::Meaning;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::store::any::AnyStore;
use feed_digest::store::{Backend, Maintenance, Storage};
use feed_digest::text::count;
use feed_digest::{demo, opml};

use super::{exit, open_store};

/// What a command prints on standard output, and its exit code.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Output {
    pub text: String,
    pub code: u8,
}

impl Output {
    pub fn print(self) -> anyhow::Result<ExitCode> {
        out!("{}", self.text)?;
        Ok(ExitCode::from(self.code))
    }
}

/// Progress on standard error, only when a person watches it (a terminal);
/// under systemd or in a pipe, the output is the plain lines alone.
fn progress(verb: &'static str, visible: bool) -> impl FnMut(usize, usize) + Send {
    move |done, total| {
        if visible {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r{verb} [{}{}] {done}/{total}",
                "#".repeat(filled),
                "-".repeat(width - filled)
            );
            if done == total {
                eprint!("\r{}\r", " ".repeat(width + verb.len() + 24));
            }
        }
    }
}

fn on_terminal(visible: bool) -> bool {
    use std::io::IsTerminal as _;
    visible && std::io::stderr().is_terminal()
}

pub async fn poll_once<S: Backend>(config: &Config, store: &S) -> anyhow::Result<Output> {
    poll_once_with(config, store, poll::Scope::All { force: false }, false).await
}

/// `force`: also feeds in backoff or gone (never one under Retry-After);
/// `show_progress`: draw a bar when standard error is a terminal.
pub async fn poll_once_with<S: Backend>(
    config: &Config,
    store: &S,
    scope: poll::Scope,
    show_progress: bool,
) -> anyhow::Result<Output> {
    poll_cancellable(config, store, scope, show_progress, &CancellationToken::new()).await
}

/// As [`poll_once_with`], ending early (what is stored stays) on `cancel`.
pub async fn poll_cancellable<S: Backend>(
    config: &Config,
    store: &S,
    scope: poll::Scope,
    show_progress: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<Output> {
    let fetcher = Fetcher::new(&config.fetch)?;
    let mut bar = progress("polling", on_terminal(show_progress));
    let reports = poll::poll_with_progress(config, store, &fetcher, cancel, scope, &mut bar).await?;
    let mut out = Output::default();
    let (mut failed, mut skipped, mut skipped_failing) = (0, 0, 0);
    for report in &reports {
        let _ = match &report.result {
            Ok(FeedOutcome::NotModified) => writeln!(out.text, "{}: not modified", report.name),
            Ok(FeedOutcome::Skipped { reason }) => {
                skipped += 1;
                // In backoff or gone: still failing, though not fetched now.
                let state = store.feed_state(&report.feed_key).await.ok().flatten();
                if state.is_some_and(|s| s.gone || s.failures > 0) {
                    skipped_failing += 1;
                }
                writeln!(out.text, "{}: skipped: {reason}", report.name)
            }
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
                writeln!(
                    out.text,
                    "{}: {new_articles} new of {}{notes}",
                    report.name,
                    count(*items, "item", "items")
                )
            }
            Err(err) => {
                failed += 1;
                writeln!(out.text, "{}: ERROR {err}", report.name)
            }
        };
    }
    let polled = count(reports.len() - skipped, "feed polled", "feeds polled");
    let _ = match (skipped, skipped_failing) {
        (0, _) => writeln!(out.text, "{polled}, {failed} failed"),
        (_, 0) => writeln!(out.text, "{polled}, {failed} failed, {skipped} skipped"),
        _ => writeln!(
            out.text,
            "{polled}, {failed} failed, {skipped} skipped ({skipped_failing} still failing)"
        ),
    };
    // A feed skipped while it backs off has not recovered: not a success.
    out.code = if failed + skipped_failing > 0 {
        exit::TEMPFAIL
    } else {
        0
    };
    Ok(out)
}

pub async fn send_now<S: Backend>(config: &Config, store: &S, only: &[String]) -> anyhow::Result<Output> {
    send_now_with(config, store, only, false).await
}

pub async fn send_now_with<S: Backend>(
    config: &Config,
    store: &S,
    only: &[String],
    show_progress: bool,
) -> anyhow::Result<Output> {
    let mut bar = progress("sending", on_terminal(show_progress));
    for email in only {
        if config.subscriber(email).is_none() {
            anyhow::bail!("no subscriber {email:?} in the config");
        }
    }
    let mailer = Mailer::new(&config.delivery)?;
    let mut out = Output::default();
    let mut failed = 0;
    let mut chosen: Vec<_> = config
        .subscribers
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(&s.email())))
        .collect();
    let meaning = Meaning::new(config);
    feed_digest::store::in_round_order(store, &mut chosen);
    for (index, subscriber) in chosen.iter().enumerate() {
        let email = subscriber.email();
        bar(index, chosen.len());
        let delivered = deliver::deliver(config, store, &mailer, subscriber, &meaning, Utc::now()).await;
        bar(index + 1, chosen.len());
        let _ = match delivered {
            Ok(Delivered::NothingPending) => writeln!(out.text, "{email}: nothing pending"),
            Ok(Delivered::Elsewhere) => writeln!(out.text, "{email}: another instance is sending it"),
            Ok(Delivered::OptedOut { since }) => writeln!(
                out.text,
                "{email}: unsubscribed since {} (`feed-digest subscribers resubscribe {email}` undoes it)",
                since.format("%Y-%m-%d %H:%M UTC")
            ),
            Ok(Delivered::Sent {
                message_id,
                articles,
                resent,
            }) => {
                let how = if resent { "resent" } else { "sent" };
                let articles = count(articles, "article", "articles");
                writeln!(out.text, "{email}: {how} {articles} ({message_id})")
            }
            Err(err) => {
                failed += 1;
                writeln!(out.text, "{email}: ERROR {err}")
            }
        };
    }
    // In the daemon (a control-socket send), its memory goes back too.
    meaning.release().await;
    out.code = if failed > 0 { exit::TEMPFAIL } else { 0 };
    Ok(out)
}

/// The next digest's HTML (an outbox leftover first), or with `json` its
/// structure; empty when nothing is pending. Nothing is consumed.
pub async fn preview<S: Backend>(
    config: &Config,
    store: &S,
    email: &str,
    json: bool,
) -> anyhow::Result<Output> {
    let subscriber = config
        .subscriber(email)
        .with_context(|| format!("no subscriber {email:?} in the config"))?;
    let leftover = if json {
        None
    } else {
        store.outbox(&subscriber.email()).await?
    };
    if let Some(entry) = leftover {
        return Ok(Output {
            text: entry.html,
            code: 0,
        });
    }
    // In the daemon (a control-socket preview) the model's memory goes back after.
    let meaning = Meaning::new(config);
    let prepared = deliver::prepare(config, store, subscriber, &meaning, Utc::now()).await;
    meaning.release().await;
    let text = match prepared? {
        Some(prepared) if json => serde_json::to_string_pretty(&prepared.model)? + "\n",
        Some(prepared) => prepared.rendered.html,
        None => String::new(),
    };
    Ok(Output { text, code: 0 })
}

/// Prints a preview, or writes it to `path`.
pub fn show_preview(email: &str, preview: Output, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    if preview.text.is_empty() {
        eprintln!("{email}: nothing pending, no digest would be sent");
        return Ok(ExitCode::SUCCESS);
    }
    match path {
        Some(path) => {
            std::fs::write(path, preview.text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("preview written to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => preview.print(),
    }
}

pub async fn store_check<S: Backend>(store: &S) -> anyhow::Result<Output> {
    let report = store.check().await?;
    let mut out = Output::default();
    let _ = writeln!(
        out.text,
        "schema {}; {} seen ids, {} article bodies, {} links, {} pending, {} in outbox, {} feeds, {} subscribers, {} sent stories, {} unsubscribed",
        report.schema_version,
        report.seen,
        report.articles,
        report.links,
        report.pending,
        report.outbox,
        report.feeds,
        report.subscribers,
        report.sent,
        report.opt_outs
    );
    for file in &report.unreferenced_files {
        let _ = writeln!(
            out.text,
            "note: {} holds no record anything points to (left by a crash between a write and its commit); the next prune deletes it",
            file.display()
        );
    }
    for problem in &report.problems {
        let _ = writeln!(out.text, "PROBLEM: {problem}");
    }
    if report.problems.is_empty() {
        let _ = writeln!(out.text, "store OK");
    } else {
        out.code = 1;
    }
    Ok(out)
}

pub async fn store_export<S: Backend>(store: &S) -> anyhow::Result<Output> {
    let mut bytes = Vec::new();
    store.export(&mut bytes).await?;
    let text = String::from_utf8(bytes).context("the export is not UTF-8")?;
    Ok(Output { text, code: 0 })
}

/// Writes an export to `path`, or standard output.
pub fn show_export(export: Output, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let records = export.text.lines().count();
    match path {
        Some(path) => {
            std::fs::write(path, &export.text).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => out!("{}", export.text)?,
    }
    eprintln!("{records} records exported");
    Ok(ExitCode::from(export.code))
}

pub async fn store_import(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    // Not `open_store`: registering the config's subscribers first would make
    // the new store non-empty, and a restore must start from nothing.
    let store = AnyStore::open(config).await?;
    let reader = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let count = Maintenance::import(&store, &mut std::io::BufReader::new(reader))
        .await
        .with_context(|| format!("cannot import {}", file.display()))?;
    Storage::flush(&store).await?;
    outln!("{count} records imported into {}", store.describe())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run_demo(output: &Path) -> anyhow::Result<ExitCode> {
    let config = demo::prepare(output)?;
    let store = open_store(&config).await?;
    // prepare() emptied the state and mail folders: every run starts afresh.
    outln!(
        "Starting afresh in {} (its state and mail folders emptied).",
        output.display()
    )?;
    outln!("Polling the bundled sample feeds…")?;
    let polled = poll_once(&config, &store).await?;
    if polled.code != 0 {
        return polled.print();
    }
    polled.print()?;
    outln!("\nDelivering every subscriber's digest with the file transport…")?;
    let code = send_now(&config, &store, &[]).await?.print()?;
    if let Delivery::File { dir } = &config.delivery {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml" || e == "html"))
            .collect();
        files.sort();
        outln!("\nThe digests are in {}:", dir.display())?;
        for file in files {
            outln!("  {}", file.display())?;
        }
    }
    Ok(code)
}

pub fn opml_import(file: &Path, into: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut feeds = opml::parse(&text).with_context(|| format!("cannot import {}", file.display()))?;
    let Some(config_path) = into else {
        out!("{}", opml::to_config_entries(&feeds))?;
        eprintln!("{} feeds", feeds.len());
        return Ok(ExitCode::SUCCESS);
    };
    let existing = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let table: toml::Table = existing
        .parse()
        .with_context(|| format!("{} is not valid TOML", config_path.display()))?;
    let known: Vec<&str> = table
        .get("feeds")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|feed| feed.get("url").and_then(toml::Value::as_str))
        .collect();
    let before = feeds.len();
    feeds.retain(|feed| !known.contains(&feed.url.as_str()));
    if !feeds.is_empty() {
        let mut appended = existing;
        if !appended.ends_with('\n') {
            appended.push('\n');
        }
        appended.push_str(&format!("\n# Imported from {}\n", file.display()));
        appended.push_str(&opml::to_config_entries(&feeds));
        std::fs::write(config_path, appended)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
    }
    outln!(
        "{} feeds added to {} ({} already there)",
        feeds.len(),
        config_path.display(),
        before - feeds.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn opml_export(config: &Config, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let feeds: Vec<opml::OpmlFeed> = config
        .feeds
        .iter()
        .map(|feed| opml::OpmlFeed {
            url: feed.key.clone(),
            name: feed.name.clone(),
            topics: feed.topics.clone(),
        })
        .collect();
    let document = opml::render(&config.digest.title, &feeds);
    match output {
        Some(path) => {
            std::fs::write(path, document).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => out!("{document}")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `subscribers list|resubscribe|unsubscribe`.
pub async fn subscribers<S: Backend>(
    config: &Config,
    store: &S,
    request: super::control::Request,
) -> anyhow::Result<Output> {
    use super::control::Request;
    use feed_digest::subscriber::{OptOut, OptOutWay};
    let mut out = Output::default();
    let known = |email: &str| {
        config
            .subscriber(email)
            .map(|s| s.email())
            .with_context(|| format!("{email} is not a subscriber in the config"))
    };
    match request {
        Request::Resubscribe { email } => {
            let email = known(&email)?;
            if store.opt_in(&email).await? {
                store.flush().await?;
                let _ = writeln!(
                    out.text,
                    "{email}: subscribed again; the next digest comes on schedule"
                );
            } else {
                let _ = writeln!(out.text, "{email}: was not unsubscribed");
            }
        }
        Request::Unsubscribe { email } => {
            let email = known(&email)?;
            let opt_out = OptOut {
                since: Utc::now(),
                by: OptOutWay::Operator,
            };
            if store.opt_out(&email, &opt_out).await? {
                store.flush().await?;
                let _ = writeln!(
                    out.text,
                    "{email}: unsubscribed; `feed-digest subscribers resubscribe {email}` undoes it"
                );
            } else {
                let _ = writeln!(out.text, "{email}: was already unsubscribed");
            }
        }
        _ => {
            let opt_outs: std::collections::HashMap<String, OptOut> =
                store.opt_outs().await?.into_iter().collect();
            for subscriber in &config.subscribers {
                let email = subscriber.email();
                let pending = store.pending(&email).await?.len();
                let last = store
                    .subscriber_state(&email)
                    .await?
                    .and_then(|s| s.last_sent)
                    .map_or_else(
                        || "never".to_owned(),
                        |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    );
                let status = match opt_outs.get(&email.to_lowercase()) {
                    Some(opt_out) => format!(
                        "unsubscribed since {} (by {})",
                        opt_out.since.format("%Y-%m-%d %H:%M UTC"),
                        opt_out.by
                    ),
                    None => "receiving".to_owned(),
                };
                let _ = writeln!(
                    out.text,
                    "{email}: {status}; {pending} pending; last digest {last}"
                );
            }
            for (email, opt_out) in &opt_outs {
                if config.subscriber(email).is_none() {
                    let _ = writeln!(
                        out.text,
                        "{email}: not in the config; unsubscribed since {}",
                        opt_out.since.format("%Y-%m-%d %H:%M UTC")
                    );
                }
            }
        }
    }
    Ok(out)
}

/// `subscribers link EMAIL`: the reader's page, from the config and key alone.
pub fn subscriber_link(config: &Config, email: &str) -> anyhow::Result<ExitCode> {
    let subscriber = config
        .subscriber(email)
        .with_context(|| format!("{email} is not a subscriber in the config"))?;
    let web = config
        .web
        .as_ref()
        .context("the config has no [web] section: digests carry no signed links")?;
    let key = web.key.as_ref().with_context(|| {
        format!(
            "no key in {} yet: it is made when `feed-digest run` first starts",
            web.key_file.display()
        )
    })?;
    let url = feed_digest::links::unsubscribe_url(&web.base_url, key, &subscriber.email())
        .context("the base_url cannot take a path")?;
    outln!("{url}")?;
    Ok(ExitCode::SUCCESS)
}
