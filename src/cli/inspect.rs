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
use feed_digest::fetch::{Connection, FetchOutcome, Fetcher, Validators};
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
    title: Option<String>,
    /// How long the server and the feed ask us to wait between polls.
    server_cache_seconds: Option<i64>,
    feed_update_seconds: Option<i64>,
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
    // The error's text already names its cause; anyhow's chain would repeat it.
    let outcome = fetcher
        .fetch(&source, &Validators::default(), Connection::Close)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let (body, info) = match outcome {
        FetchOutcome::Fetched { body, info, .. } => (body, info),
        // Without validators only an unchanged local file can say this.
        FetchOutcome::NotModified(info) => (Vec::new(), info),
    };
    let base = info.base_url(&source);
    let parsed = parse::parse_response(&body, info.content_type.as_deref(), base.as_deref(), &strip)
        .map_err(|err| anyhow::anyhow!("{target}: {err}"))?;
    let repeats =
        |guid: &Option<String>| guid.is_some() && parsed.items.iter().filter(|i| &i.guid == guid).count() > 1;
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
        title: parsed.title.clone(),
        server_cache_seconds: info.cache_hint.map(|d| d.num_seconds()),
        feed_update_seconds: parsed.update_hint.map(|d| d.num_seconds()),
        items: parsed
            .items
            .iter()
            .map(|item| ItemReport {
                identity: article::identity(item, repeats(&item.guid)),
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
    for item in &report.items {
        let _ = writeln!(out, "\n* {}", item.title);
        // Feed text goes to a terminal: one line each, no control characters.
        let clean = feed_digest::text::one_line;
        let _ = writeln!(out, "  id: {}", clean(&item.identity.replace('\n', " | ")));
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
