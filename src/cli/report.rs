//! `check` and `status`: what the config defines and what the store knows.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use feed_digest::config::{Config, Delivery, SmtpSecurity};
use feed_digest::digest::feed_display_name;
use feed_digest::feed_state::FeedState;
use feed_digest::fetch::{Connection, Fetcher};
use feed_digest::mail::Mailer;
use feed_digest::meaning::{self, Folding};
use feed_digest::store::Backend;
use feed_digest::subscriber::SubscriberState;
use feed_digest::text::count;

use super::commands::Output;
use super::exit;

pub(super) async fn check(config: &Config, connect: bool) -> anyhow::Result<ExitCode> {
    outln!("config OK")?;
    outln!("state_dir: {}", config.state_dir.display())?;
    match &config.delivery {
        Delivery::Smtp(smtp) => outln!(
            "delivery: SMTP {}:{} ({}{})",
            smtp.host,
            smtp.port,
            match smtp.security {
                SmtpSecurity::StartTls => "STARTTLS",
                SmtpSecurity::Tls => "TLS",
                SmtpSecurity::None => "no TLS",
            },
            if smtp.credentials.is_some() {
                ", with AUTH"
            } else {
                ""
            }
        )?,
        Delivery::File { dir } => outln!("delivery: files in {}", dir.display())?,
    }
    outln!("feeds ({}):", config.feeds.len())?;
    for feed in &config.feeds {
        let topics = if feed.topics.is_empty() {
            String::new()
        } else {
            format!(" [topics: {}]", feed.topics.join(", "))
        };
        // Without a store, an unnamed feed's title is unknown here; say so, as
        // poll and status show it by that title.
        match feed.name.as_deref() {
            Some(name) => outln!("  {name}: {}{topics}", feed.key)?,
            None => outln!(
                "  {}{topics} (no name: poll and status show its feed title)",
                feed.key
            )?,
        }
    }
    outln!("topics ({}):", config.topics.len())?;
    for topic in &config.topics {
        if topic.keywords.is_empty() {
            outln!("  {} (assigned by feeds)", topic.name)?;
        } else {
            let keywords: Vec<String> = topic.keywords.iter().map(ToString::to_string).collect();
            outln!("  {}: {}", topic.name, keywords.join(", "))?;
        }
    }
    outln!("subscribers ({}):", config.subscribers.len())?;
    let now = Utc::now();
    for subscriber in &config.subscribers {
        let next = subscriber
            .schedule
            .next_after(now, subscriber.timezone)
            .map_or_else(|| "never".to_owned(), |t| local(t, subscriber.timezone));
        outln!(
            "  {} ({}, {}): next digest {next}",
            subscriber.mailbox,
            subscriber.schedule.describe(),
            subscriber.timezone
        )?;
    }
    match &config.web {
        Some(web) => outln!(
            "readers' web endpoint: {}, links at {}; archive kept {} in {}; key {} ({})",
            web.listen.map_or_else(
                || "off (serve the archive with another web server)".to_owned(),
                |l| format!("on {l}")
            ),
            web.base_url,
            humantime::format_duration(web.archive_retention),
            web.archive_dir.display(),
            web.key_file.display(),
            if web.key.is_some() {
                "read"
            } else {
                "made at first start"
            }
        )?,
        None => {
            outln!("readers' web endpoint: off (unsubscribe links are the config's [digest] unsubscribe)")?
        }
    }
    // Loading the model is the only way to know it is whole (~0.4 s).
    let folding = match meaning::verify(config) {
        Ok(folding) => folding,
        Err(err) => {
            outln!("story folding: by words only: {err}")?;
            eprintln!("error: the sentence encoder does not load: {err}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
    };
    outln!("story folding: {folding}")?;
    if !connect {
        return Ok(ExitCode::SUCCESS);
    }
    connect_check(config).await
}

/// `check --connect`: opens the relay (TLS, AUTH) and fetches every feed once,
/// without touching the store.
async fn connect_check(config: &Config) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    outln!("connecting:")?;
    match Mailer::new(&config.delivery)?.test_connection().await {
        Ok(()) => outln!("  delivery: OK")?,
        Err(err) => {
            failed += 1;
            outln!("  delivery: FAILED: {err}")?;
        }
    }
    let fetcher = Fetcher::new(&config.fetch)?;
    for feed in &config.feeds {
        // Read as polls read it: the same fetch, charset, base URL and strip rules.
        let read = feed_digest::poll::fetch_and_parse(
            &fetcher,
            &feed.source,
            &Default::default(),
            Connection::Close,
            &feed.strip,
        )
        .await;
        // (title, items): the title names an unnamed feed, as poll and status do.
        let parsed = match read {
            Ok(feed_digest::poll::Read::Parsed { parsed, .. }) => Ok((parsed.title, parsed.items.len())),
            Ok(feed_digest::poll::Read::NotModified(_)) => Ok((None, 0)),
            Err(err) => Err(err.to_string()),
        };
        match parsed {
            Ok((title, items)) => {
                let name = feed_display_name(feed, title.as_deref());
                outln!("  {name}: OK, {}", count(items, "item", "items"))?;
            }
            Err(err) => {
                failed += 1;
                outln!("  {}: FAILED: {err}", feed_display_name(feed, None))?;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

fn local(time: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    time.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[derive(Serialize)]
struct StatusReport {
    /// How stories are folded: by meaning (a model is installed) or words.
    story_folding: Folding,
    /// The readers' web endpoint, when `[web]` is configured.
    web: Option<WebStatus>,
    feeds: Vec<FeedStatus>,
    subscribers: Vec<SubscriberStatus>,
    /// On a shared store, which instance holds which feed or subscriber now.
    leases: Leases,
}

#[derive(Serialize)]
struct Leases {
    feeds: Vec<feed_digest::store::Lease>,
    subscribers: Vec<feed_digest::store::Lease>,
}

#[derive(Serialize)]
struct FeedStatus {
    name: String,
    url: String,
    /// "new" (never polled), "ok", "stale" (nothing new for `fetch.stale_after`),
    /// "failing", or "gone" (410).
    state: &'static str,
    next_poll: Option<DateTime<Utc>>,
    redirected_to: Option<String>,
    /// The new URL adopted after permanent redirects on consecutive polls.
    moved_to: Option<String>,
    /// A permanent redirect seen on this many consecutive polls, not yet adopted.
    permanent_redirect: Option<(String, u32)>,
    last_new_item: Option<DateTime<Utc>>,
    failures: u32,
    /// Why the next routine poll will not fetch it (Retry-After, 410, backoff).
    skipped: Option<String>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    items_known: u64,
    held_back: u64,
    /// Items recorded but queued for nobody, by reason.
    not_queued: feed_digest::feed_state::NotQueued,
    /// Why the last document yielded no items though it holds some.
    empty: Option<String>,
}

#[derive(Serialize)]
struct WebStatus {
    /// Where the daemon serves it; `None`: the archive only, for another server.
    listen: Option<std::net::SocketAddr>,
    base_url: String,
    archive_dir: std::path::PathBuf,
    archive_pages: usize,
}

#[derive(Serialize)]
struct SubscriberStatus {
    email: String,
    /// Since when and how the reader unsubscribed; `None`: receiving.
    unsubscribed: Option<feed_digest::subscriber::OptOut>,
    pending: usize,
    last_sent: Option<DateTime<Utc>>,
    next_due: Option<DateTime<Utc>>,
    last_failure: Option<String>,
    last_attempt: Option<DateTime<Utc>>,
    failures: u32,
    retry_at: Option<DateTime<Utc>>,
    awaiting_resend: bool,
}

async fn status_report<S: Backend>(config: &Config, store: &S) -> anyhow::Result<StatusReport> {
    let mut feeds = Vec::new();
    for feed in &config.feeds {
        let state = store.feed_state(&feed.key).await?.unwrap_or_default();
        feeds.push(FeedStatus {
            name: feed_display_name(feed, state.title.as_deref()),
            url: feed.key.clone(),
            state: state.health(Utc::now(), config.fetch.stale_after()),
            // Never polled, or not since the daemon began keeping next-poll times: at once.
            next_poll: Some(state.next_poll.map_or(Utc::now(), |at| at.max(Utc::now()))),
            redirected_to: state.redirected_to.clone(),
            moved_to: state.moved_to.clone(),
            permanent_redirect: state
                .redirect_candidate
                .clone()
                .map(|url| (url, state.redirect_streak)),
            last_new_item: state.last_new,
            failures: state.failures,
            skipped: state.skip_reason(Utc::now(), false),
            last_success: state.last_success,
            last_error: state.last_error,
            last_error_at: state.last_error_at,
            items_known: state.items_known,
            held_back: state.held_back,
            not_queued: state.not_queued,
            empty: state.empty_reason.clone(),
        });
    }
    let now = Utc::now();
    let mut subscribers = Vec::new();
    for subscriber in &config.subscribers {
        let email = subscriber.email();
        let state = store
            .register_subscriber(&email, &SubscriberState::new(now))
            .await?;
        let unsubscribed = store.opted_out(&email).await?;
        subscribers.push(SubscriberStatus {
            pending: store.pending(&email).await?.len(),
            last_sent: state.last_sent,
            // Nothing is due while the reader is unsubscribed.
            next_due: subscriber
                .schedule
                .next_after(state.since(now), subscriber.timezone)
                .map(|t| t.max(now))
                .filter(|_| unsubscribed.is_none()),
            unsubscribed,
            last_failure: state.last_error.clone(),
            last_attempt: state.last_attempt,
            failures: state.failures,
            retry_at: state.retry_at(),
            awaiting_resend: store.outbox(&email).await?.is_some(),
            email,
        });
    }
    let web = match &config.web {
        Some(web) => Some(WebStatus {
            listen: web.listen,
            base_url: web.base_url.to_string(),
            archive_dir: web.archive_dir.clone(),
            archive_pages: feed_digest::archive::count(&web.archive_dir)?,
        }),
        None => None,
    };
    let (feed_leases, subscriber_leases) = store.leases().await?;
    Ok(StatusReport {
        story_folding: meaning::folding(config),
        web,
        feeds,
        subscribers,
        leases: Leases {
            feeds: feed_leases,
            subscribers: subscriber_leases,
        },
    })
}

pub(super) async fn status<S: Backend>(config: &Config, store: &S, json: bool) -> anyhow::Result<Output> {
    let report = status_report(config, store).await?;
    let mut out = Output::default();
    if json {
        out.text = serde_json::to_string_pretty(&report)? + "\n";
        return Ok(out);
    }
    let when = |t: Option<DateTime<Utc>>| {
        t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    let mut rows = vec![vec![
        "FEED".to_owned(),
        "STATE".to_owned(),
        "LAST SUCCESS (UTC)".to_owned(),
        "NEXT POLL (UTC)".to_owned(),
        "ITEMS".to_owned(),
        "NOTE".to_owned(),
    ]];
    for feed in &report.feeds {
        let mut notes = Vec::new();
        if let (Some(err), "failing" | "gone") = (&feed.last_error, feed.state) {
            notes.push(format!("{}: {err}", when(feed.last_error_at)));
        }
        if let Some(reason) = &feed.skipped {
            notes.push(format!("skipped: {reason}"));
        }
        if feed.held_back > 0 {
            notes.push(format!("{} new items held back (flood cap)", feed.held_back));
        }
        if let Some(reason) = &feed.empty {
            notes.push(format!("empty: {reason}"));
        }
        if let Some(note) = not_queued_note(&feed.not_queued) {
            notes.push(note);
        }
        if let Some(target) = &feed.moved_to {
            notes.push(format!("moved permanently to {target} (update the config)"));
        }
        if let Some((target, polls)) = &feed.permanent_redirect {
            notes.push(format!(
                "permanent redirect to {target} on {polls} of {} polls needed to adopt it",
                FeedState::MOVE_AFTER
            ));
        } else if let Some(target) = feed
            .redirected_to
            .as_ref()
            .filter(|t| feed.moved_to.as_ref() != Some(*t))
        {
            notes.push(format!("redirected to {target}"));
        }
        if feed.failures > 1 {
            notes.push(format!("{} failures in a row", feed.failures));
        }
        if feed.state == "stale" {
            notes.push(format!("nothing new since {}", when(feed.last_new_item)));
        }
        rows.push(vec![
            feed.name.clone(),
            feed.state.to_owned(),
            when(feed.last_success),
            when(feed.next_poll),
            feed.items_known.to_string(),
            notes.join("; "),
        ]);
    }
    print_table(&mut out.text, &rows);
    out.text.push('\n');
    let mut rows = vec![vec![
        "SUBSCRIBER".to_owned(),
        "PENDING".to_owned(),
        "LAST SENT (UTC)".to_owned(),
        "NEXT DUE (UTC)".to_owned(),
        "NOTE".to_owned(),
    ]];
    for sub in &report.subscribers {
        let mut note = match (&sub.last_failure, sub.retry_at) {
            (Some(err), Some(retry)) => format!(
                "{}, retry after {}: {err}",
                count(sub.failures as usize, "failure", "failures"),
                when(Some(retry))
            ),
            (Some(err), None) => err.clone(),
            _ => String::new(),
        };
        if sub.awaiting_resend {
            note.insert_str(0, "a digest awaits resending; ");
        }
        if let Some(opt_out) = &sub.unsubscribed {
            let since = format!(
                "unsubscribed since {} (by {})",
                opt_out.since.format("%Y-%m-%d %H:%M"),
                opt_out.by
            );
            note = if note.is_empty() {
                since
            } else {
                format!("{since}; {note}")
            };
        }
        rows.push(vec![
            sub.email.clone(),
            sub.pending.to_string(),
            when(sub.last_sent),
            when(sub.next_due),
            note,
        ]);
    }
    print_table(&mut out.text, &rows);
    out.text
        .push_str(&format!("\nstory folding: {}\n", report.story_folding));
    for (what, leases) in [
        ("feed", &report.leases.feeds),
        ("subscriber", &report.leases.subscribers),
    ] {
        for lease in leases {
            let since = lease
                .since
                .map(|since| format!(" since {}", since.format("%Y-%m-%d %H:%M:%S")))
                .unwrap_or_default();
            out.text.push_str(&format!(
                "lease: {what} {} held by {}{since} until {} UTC\n",
                lease.key,
                lease.holder.0,
                lease.until.format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    if let Some(web) = &report.web {
        let served = web.listen.map_or_else(
            || "not served by the daemon (no listen)".to_owned(),
            |addr| format!("listening on {addr}"),
        );
        out.text.push_str(&format!(
            "readers' web endpoint: {served}, links at {}; {} in {}\n",
            web.base_url,
            count(web.archive_pages, "archive page", "archive pages"),
            web.archive_dir.display()
        ));
    }
    Ok(out)
}

/// Columns padded by display width: CJK characters take two columns.
fn print_table(out: &mut String, rows: &[Vec<String>]) {
    let width = feed_digest::text::columns;
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| width(c)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i].saturating_sub(width(cell)) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Where a feed's items went when not into a digest, e.g. "not queued: 59
/// baseline (older than first_poll_window), 2 regenerated guids".
fn not_queued_note(counts: &feed_digest::feed_state::NotQueued) -> Option<String> {
    let plural = |n: u64, one: &str, many: &str| {
        feed_digest::text::count(usize::try_from(n).unwrap_or(usize::MAX), one, many)
    };
    let parts: Vec<String> = [
        (
            counts.baseline,
            "baseline (older than first_poll_window)",
            "baseline (older than first_poll_window)",
        ),
        (
            counts.unrouted,
            "wanted by no subscriber",
            "wanted by no subscriber",
        ),
        (counts.regenerated_guid, "regenerated guid", "regenerated guids"),
        (
            counts.copies,
            "copy of another feed's article",
            "copies of other feeds' articles",
        ),
        (counts.listed_twice, "item listed twice", "items listed twice"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many)| plural(n, one, many))
    .collect();
    let mut note = (!parts.is_empty()).then(|| format!("not queued: {}", parts.join(", ")));
    if counts.told_apart > 0 {
        let shared = plural(counts.told_apart, "item shares", "items share");
        let told = format!("{shared} a guid or link, told apart by title and date");
        note = Some(note.map_or(told.clone(), |n| format!("{n}; {told}")));
    }
    note
}

/// `topics explain`: for each stored article matching `query`, the topics it
/// matches (in the order that picks its section) and the rule behind each.
pub(super) async fn explain<S: Backend>(config: &Config, store: &S, query: &str) -> anyhow::Result<Output> {
    use std::fmt::Write as _;
    let mut out = Output::default();
    let articles = store.find_articles(query, 20).await?;
    // Loaded once if a digest is built to show the article's story.
    let meaning = meaning::Meaning::new(config);
    let mut digests = std::collections::HashMap::new();
    if articles.is_empty() {
        let _ = writeln!(
            out.text,
            "no stored article has that link or a title containing {query:?} (article texts are kept 7 days after delivery)"
        );
        out.code = 1;
        return Ok(out);
    }
    for article in &articles {
        let _ = writeln!(out.text, "{}", article.title);
        let _ = writeln!(out.text, "  {}", article.link.as_deref().unwrap_or("(no link)"));
        let Some(feed) = config.feed(&article.feed_key) else {
            let _ = writeln!(
                out.text,
                "  its feed {} is no longer configured",
                article.feed_key
            );
            continue;
        };
        let article_text =
            feed_digest::topics::ArticleText::new(&article.title, &article.text, &article.categories);
        let matches = feed_digest::topics::explain(&config.topics, feed.topic_source(), &article_text);
        if matches.is_empty() {
            let _ = writeln!(out.text, "  no topic matched: it is grouped under its feed");
        }
        if article.routed.is_empty() {
            let _ = writeln!(
                out.text,
                "  queued for nobody: no subscriber's topics or filters wanted it when it arrived"
            );
        }
        for (rank, m) in matches.iter().enumerate() {
            let priority = if m.priority != 0 {
                format!(" (priority {})", m.priority)
            } else {
                String::new()
            };
            let first = if rank == 0 { "  → " } else { "    " };
            let _ = writeln!(out.text, "{first}{}{priority}: {}", m.topic, m.reason);
        }
        for subscriber in &config.subscribers {
            let topics: Vec<String> = matches.iter().map(|m| m.topic.clone()).collect();
            let wants = feed_digest::topics::wants(&subscriber.filter, &feed.key, &topics, &article_text);
            let section =
                feed_digest::topics::section_for(&subscriber.filter, &topics).unwrap_or("(by feed)");
            let verdict = if wants {
                format!("in {section}")
            } else {
                "not sent (filtered)".to_owned()
            };
            let _ = writeln!(out.text, "  {}: {verdict}", subscriber.email());
            if wants
                && let Some(line) =
                    story_line(config, store, subscriber, &meaning, &mut digests, article).await?
            {
                let _ = writeln!(out.text, "    {line}");
            }
        }
    }
    let _ = writeln!(out.text, "story folding: {}", meaning::folding(config));
    meaning.release().await;
    Ok(out)
}

/// Where `article` stands in the subscriber's next digest as a story: the
/// lead of others, or folded under one, with the scores that decided it.
async fn story_line<S: Backend>(
    config: &Config,
    store: &S,
    subscriber: &feed_digest::config::Subscriber,
    meaning: &meaning::Meaning,
    digests: &mut std::collections::HashMap<String, Option<feed_digest::digest::Digest>>,
    article: &feed_digest::article::Article,
) -> anyhow::Result<Option<String>> {
    let email = subscriber.email();
    if !store.pending(&email).await?.contains(&article.id) {
        return Ok(None);
    }
    if !digests.contains_key(&email) {
        let prepared = feed_digest::deliver::prepare(config, store, subscriber, meaning, Utc::now()).await?;
        digests.insert(email.clone(), prepared.map(|p| p.model));
    }
    let Some(Some(digest)) = digests.get(&email) else {
        return Ok(None);
    };
    let entries = digest
        .sections
        .iter()
        .flat_map(|s| &s.entries)
        .chain(&digest.more_links);
    let link = article.link.as_deref();
    for entry in entries {
        if entry.title == article.title && entry.link.as_deref() == link {
            if entry.folded.is_empty() {
                return Ok(Some("its story: alone in the next digest".to_owned()));
            }
            let others: Vec<String> = entry
                .folded
                .iter()
                .map(|f| match &f.scores {
                    Some(scores) => format!("{:?} ({}; {scores})", f.title, f.source),
                    None => format!("{:?} ({})", f.title, f.source),
                })
                .collect();
            return Ok(Some(format!(
                "its story leads in the next digest, with {}",
                others.join("; ")
            )));
        }
        if let Some(f) = entry
            .folded
            .iter()
            .find(|f| f.title == article.title && f.link.as_deref() == link)
        {
            let why = f.scores.map(|s| format!(": {s}")).unwrap_or_default();
            return Ok(Some(format!(
                "folded in the next digest under {:?} ({}){why}",
                entry.title, entry.source
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use feed_digest::feed_state::NotQueued;

    use super::not_queued_note;

    #[test]
    fn the_status_note_names_every_reason_an_item_was_not_queued() {
        assert_eq!(not_queued_note(&NotQueued::default()), None);
        let counts = NotQueued {
            baseline: 59,
            unrouted: 1,
            regenerated_guid: 2,
            copies: 1,
            listed_twice: 0,
            told_apart: 99,
        };
        assert_eq!(
            not_queued_note(&counts).as_deref(),
            Some(
                "not queued: 59 baseline (older than first_poll_window), 1 wanted by no subscriber, \
                 2 regenerated guids, 1 copy of another feed's article; \
                 99 items share a guid or link, told apart by title and date"
            )
        );
    }
}
