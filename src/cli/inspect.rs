//! `feed-digest fetch URL-or-PATH`: what feed-digest sees in one feed, for
//! debugging a feed. Nothing is stored and no validators are sent.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use feed_digest::article;
use feed_digest::boilerplate::StripRules;
use feed_digest::config::{Config, FeedSource, FetchSettings};
use feed_digest::fetch::{Connection, Fetcher, Validators};
use feed_digest::parse;

use super::exit;

/// How much of each item's cleaned text is shown.
const TEXT_CHARS: usize = 160;

#[derive(Serialize)]
struct Report {
    source: String,
    /// The HTTP status; `None` for a local file.
    status: Option<u16>,
    final_url: Option<String>,
    redirects: Vec<Redirect>,
    headers: Vec<(String, String)>,
    encoding: &'static str,
    encoding_from: &'static str,
    undecodable_bytes: bool,
    repairs: Vec<String>,
    /// The format and version the document declares ("Atom 0.3", "RSS 2.0").
    format: String,
    /// What was read as something else so it could be read at all.
    degradations: Vec<String>,
    /// Why a document that holds items yielded none.
    empty: Option<String>,
    title: Option<String>,
    /// How long the server and the feed ask us to wait between polls.
    server_cache_seconds: Option<i64>,
    feed_update_seconds: Option<i64>,
    /// Items whose guid or link repeats in the document, told apart by more.
    told_apart: usize,
    /// Items listed twice (same guid, link, title and date): one article each.
    listed_twice: usize,
    items: Vec<ItemReport>,
}

#[derive(Serialize)]
struct Redirect {
    status: u16,
    to: String,
}

#[derive(Serialize)]
struct ItemReport {
    identity: String,
    /// Why the guid or link alone did not identify it.
    told_apart: Option<article::Ambiguity>,
    listed_twice: bool,
    title: String,
    link: Option<String>,
    published: Option<DateTime<Utc>>,
    categories: Vec<String>,
    text: String,
}

/// The source as the config would read it: an http(s) URL, `file://`, or a path.
fn source_of(target: &str) -> FeedSource {
    match url::Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => FeedSource::Http(url),
        _ => FeedSource::File(Path::new(target.strip_prefix("file://").unwrap_or(target)).to_path_buf()),
    }
}

pub async fn fetch(config: Option<&Config>, target: &str, json: bool) -> anyhow::Result<ExitCode> {
    let settings = config.map_or_else(FetchSettings::default, |c| c.fetch.clone());
    let source = source_of(target);
    // A configured feed is read with its own strip rules.
    let strip = config
        .and_then(|c| c.feeds.iter().find(|f| f.source == source || f.key == target))
        .map_or_else(StripRules::default, |f| f.strip.clone());
    let fetcher = Fetcher::new(&settings)?;
    // Read as polls read it. The error's text already names its cause;
    // anyhow's chain would repeat it.
    let read = feed_digest::poll::fetch_and_parse(
        &fetcher,
        &source,
        &Validators::default(),
        Connection::Close,
        &strip,
    )
    .await
    .map_err(|err| match err {
        feed_digest::poll::ReadError::Parse(err) => anyhow::anyhow!("{target}: {err}"),
        feed_digest::poll::ReadError::Fetch(err) => anyhow::anyhow!("{err}"),
    })?;
    let (parsed, info) = match read {
        feed_digest::poll::Read::Parsed { parsed, info, .. } => (parsed, info),
        // Without validators only an unchanged local file can say this: read it as empty.
        feed_digest::poll::Read::NotModified(info) => (
            Box::new(
                parse::parse_response(&[], None, None, &strip)
                    .map_err(|err| anyhow::anyhow!("{target}: {err}"))?,
            ),
            info,
        ),
    };
    // The feed key only salts the stored id; the readable identity is what shows.
    let identities = article::identify(target, &parsed.items);
    let report = Report {
        source: target.to_owned(),
        status: info.status,
        final_url: info.final_url.clone(),
        redirects: info
            .redirects
            .iter()
            .map(|(status, to)| Redirect {
                status: *status,
                to: to.clone(),
            })
            .collect(),
        headers: info.headers.clone(),
        encoding: parsed.reading.encoding,
        encoding_from: parsed.reading.how,
        undecodable_bytes: parsed.reading.had_errors,
        repairs: parsed.reading.repairs.clone(),
        format: parsed.reading.format.clone(),
        degradations: parsed.reading.degradations.clone(),
        empty: parsed.reading.empty.clone(),
        title: parsed.title.clone(),
        server_cache_seconds: info.cache_hint.map(|d| d.num_seconds()),
        feed_update_seconds: parsed.update_hint.map(|d| d.num_seconds()),
        told_apart: identities.iter().filter(|i| i.told_apart.is_some()).count(),
        listed_twice: identities.iter().filter(|i| i.duplicate).count(),
        items: parsed
            .items
            .iter()
            .zip(identities)
            .map(|(item, identity)| ItemReport {
                identity: identity.text,
                told_apart: identity.told_apart,
                listed_twice: identity.duplicate,
                title: item.title.clone(),
                link: item.link.clone(),
                published: item.published,
                categories: item.categories.clone(),
                text: feed_digest::text::truncate_chars(&item.text, TEXT_CHARS),
            })
            .collect(),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", text(&report))?;
    }
    // Never silently empty: the cause goes to stderr too, for scripts and pipes.
    if let Some(reason) = &report.empty {
        eprintln!("warning: {target}: {reason}");
    }
    Ok(if report.items.is_empty() {
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", report.source);
    if let Some(status) = report.status {
        let _ = writeln!(out, "  HTTP {status}");
    }
    for redirect in &report.redirects {
        let _ = writeln!(out, "  redirect {} → {}", redirect.status, redirect.to);
    }
    for (name, value) in &report.headers {
        let _ = writeln!(out, "  {name}: {}", feed_digest::text::one_line(value));
    }
    let _ = writeln!(
        out,
        "  encoding: {} ({}){}",
        report.encoding,
        report.encoding_from,
        if report.undecodable_bytes {
            "; some bytes did not decode"
        } else {
            ""
        }
    );
    for repair in &report.repairs {
        let _ = writeln!(out, "  repaired: {repair}");
    }
    let _ = writeln!(out, "  format: {}", report.format);
    for change in &report.degradations {
        let _ = writeln!(out, "  read as: {change}");
    }
    let _ = writeln!(out, "  title: {}", report.title.as_deref().unwrap_or("(none)"));
    if let Some(seconds) = report.server_cache_seconds {
        let _ = writeln!(out, "  server asks to wait: {seconds} s");
    }
    if let Some(seconds) = report.feed_update_seconds {
        let _ = writeln!(out, "  feed updates every: {seconds} s");
    }
    let _ = writeln!(
        out,
        "  {}",
        feed_digest::text::count(report.items.len(), "item", "items")
    );
    if report.told_apart > 0 {
        let _ = writeln!(
            out,
            "  {} a guid or link with another item: told apart by link, title and date",
            feed_digest::text::count(report.told_apart, "item shares", "items share")
        );
    }
    if report.listed_twice > 0 {
        let _ = writeln!(
            out,
            "  {} twice (same guid, link, title and date): one article each",
            feed_digest::text::count(report.listed_twice, "item is listed", "items are listed")
        );
    }
    for item in &report.items {
        let _ = writeln!(out, "\n* {}", item.title);
        // Feed text goes to a terminal: one line each, no control characters.
        let clean = feed_digest::text::one_line;
        let _ = writeln!(out, "  id: {}", clean(&item.identity.replace('\n', " | ")));
        if let Some(why) = item.told_apart {
            let _ = writeln!(out, "  ({})", why.describe());
        }
        if item.listed_twice {
            let _ = writeln!(out, "  (listed twice: the same item as an earlier one)");
        }
        if let Some(link) = &item.link {
            let _ = writeln!(out, "  link: {}", clean(link));
        }
        if let Some(date) = item.published {
            let _ = writeln!(out, "  date: {}", date.to_rfc3339());
        }
        if !item.categories.is_empty() {
            let _ = writeln!(out, "  categories: {}", item.categories.join(", "));
        }
        if !item.text.is_empty() {
            let _ = writeln!(out, "  text: {}", item.text);
        }
    }
    out
}
