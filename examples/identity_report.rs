//! Never miss an article, measured on real feeds: for every feed file under
//! the given folders, how many items a poll sees against how many distinct
//! articles a fresh store records after one poll with
//! `first_poll_window = "all"` (docs/identity.md).
//!
//! ```sh
//! cargo run --release --example identity_report -- DIR... [--list]
//! ```
//!
//! Each file is polled as a local feed into its own fresh sled store, through
//! the same path as `feed-digest poll`. Items listed twice in a document (the
//! same guid, link, title and date) are one article; every other item must
//! be recorded under an id of its own. The report also counts what the rule
//! before 0.2 (guid, else the link without its fragment, with no look
//! across items) would have recorded, for comparison. `--list` prints every
//! feed that records fewer articles than it has distinct items.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use feed_digest::article::{ArticleId, Item, canonical_link};
use feed_digest::config::Config;
use feed_digest::fetch::Fetcher;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::store::Store;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What the rule before 0.2 recorded for one document: one id per distinct
/// legacy identity, and items of the feed sharing a canonical link (fragment
/// dropped) with an earlier one taken for GUID churn.
fn recorded_before(feed_key: &str, items: &[Item]) -> usize {
    let mut guids = std::collections::HashMap::<&str, usize>::new();
    for guid in items.iter().filter_map(|i| i.guid.as_deref()) {
        *guids.entry(guid).or_default() += 1;
    }
    let (mut ids, mut links, mut recorded) = (HashSet::new(), HashSet::new(), 0);
    for item in items {
        let repeats = item.guid.as_deref().is_some_and(|g| guids[g] > 1);
        if !ids.insert(ArticleId::for_item(feed_key, item, repeats)) {
            continue;
        }
        if let Some(link) = item.link.as_deref().map(canonical_link).filter(|_| !repeats)
            && !links.insert(link)
        {
            // Recorded as seen, but as churn: never delivered.
            continue;
        }
        recorded += 1;
    }
    recorded
}

#[derive(Default)]
struct Totals {
    feeds: usize,
    unreadable: usize,
    empty: usize,
    items: usize,
    listed_twice: usize,
    recorded: usize,
    before: usize,
    feeds_short: usize,
    feeds_short_before: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = args.iter().any(|a| a == "--list");
    let mut paths = Vec::new();
    for dir in args.iter().filter(|a| !a.starts_with("--")) {
        files(Path::new(dir), &mut paths);
    }
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("usage: identity_report DIR... [--list]");
    }
    let mut totals = Totals::default();
    for path in &paths {
        // The config reads a relative path from its own folder.
        let path = &std::fs::canonicalize(path)?;
        let dir = tempfile::tempdir()?;
        let text = format!(
            "state_dir = \"state\"\nfirst_poll_window = \"all\"\nmax_new_per_poll = 1000000\n\
             [delivery]\ntransport = \"file\"\ndir = \"mail\"\n[smtp]\nfrom = \"d@example.org\"\n\
             [[feeds]]\nurl = {:?}\n[[subscribers]]\nemail = \"all@example.org\"\n",
            path.display().to_string()
        );
        let config = Config::parse(&text, None, dir.path(), &[])?;
        let store = Store::open(&config.state_dir)?;
        let fetcher = Fetcher::new(&config.fetch)?;
        let reports = poll::poll_all(&config, &store, &fetcher, &CancellationToken::new()).await?;
        let Some(Ok(FeedOutcome::Fetched { items, .. })) = reports.first().map(|r| &r.result) else {
            totals.unreadable += 1;
            continue;
        };
        if *items == 0 {
            totals.empty += 1;
            continue;
        }
        totals.feeds += 1;
        let state = store.feed_state(&config.feeds[0].key)?.unwrap_or_default();
        let listed_twice = state.not_queued.listed_twice as usize;
        let recorded = store.seen_count()?;
        // The same bytes, parsed once more, for the rule before 0.2.
        let bytes = std::fs::read(path)?;
        let parsed = feed_digest::parse::parse_response(&bytes, None, None, &config.feeds[0].strip)?;
        let before = recorded_before(&config.feeds[0].key, &parsed.items);
        let distinct = items - listed_twice;
        totals.items += items;
        totals.listed_twice += listed_twice;
        totals.recorded += recorded;
        totals.before += before;
        totals.feeds_short += usize::from(recorded < distinct);
        totals.feeds_short_before += usize::from(before < distinct);
        if list && (recorded < distinct || before < distinct) {
            println!(
                "{}: {items} items, {listed_twice} listed twice, {recorded} recorded (before 0.2: {before})",
                path.display()
            );
        }
    }
    let t = &totals;
    let distinct = t.items - t.listed_twice;
    let pct = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    println!(
        "files: {} ({} with items, {} read as empty, {} not read)",
        paths.len(),
        t.feeds,
        t.empty,
        t.unreadable
    );
    println!(
        "items: {} ({} listed twice: {} distinct)",
        t.items, t.listed_twice, distinct
    );
    println!(
        "recorded now:        {} articles ({:.2}% of distinct items); feeds short: {} ({:.2}%)",
        t.recorded,
        pct(t.recorded, distinct),
        t.feeds_short,
        pct(t.feeds_short, t.feeds)
    );
    println!(
        "recorded before 0.2: {} articles ({:.2}%); feeds short: {} ({:.2}%)",
        t.before,
        pct(t.before, distinct),
        t.feeds_short_before,
        pct(t.feeds_short_before, t.feeds)
    );
    Ok(())
}
