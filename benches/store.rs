//! Store benchmark: ingest throughput through dedup and enqueue, lookup cost
//! with many seen ids, size on disk, and a churn simulation proving that
//! pruning keeps the store bounded. Run in release:
//!
//! ```sh
//! cargo bench --bench store                          # 1M ids, short churn
//! cargo bench --bench store -- --ids 200000 --churn-days 60
//! cargo bench --bench store -- --ids 0 --churn-days 0 --tombstones 0 --sled-writes
//! ```
//!
//! Figures are printed; docs/benchmarks.md records them.

use std::time::Instant;

use chrono::{DateTime, Duration, TimeDelta, Utc};

use feed_digest::article::Item;
use feed_digest::config::Config;
use feed_digest::feed_state::FeedState;
use feed_digest::ingest;
use feed_digest::parse::ParsedFeed;
use feed_digest::store::Store;

struct Args {
    ids: usize,
    feeds: usize,
    churn_feeds: usize,
    churn_per_day: usize,
    churn_days: usize,
    churn_retention_days: i64,
    tombstones: usize,
}

fn args() -> Args {
    let mut args = Args {
        ids: 1_000_000,
        feeds: 1000,
        churn_feeds: 200,
        churn_per_day: 50,
        churn_days: 120,
        churn_retention_days: 30,
        tombstones: 300_000,
    };
    let raw: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        raw.iter()
            .position(|a| a == name)
            .and_then(|i| raw.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    args.ids = value("--ids").unwrap_or(args.ids);
    args.feeds = value("--feeds").unwrap_or(args.feeds);
    args.churn_feeds = value("--churn-feeds").unwrap_or(args.churn_feeds);
    args.churn_per_day = value("--churn-per-day").unwrap_or(args.churn_per_day);
    args.churn_days = value("--churn-days").unwrap_or(args.churn_days);
    args.tombstones = value("--tombstones").unwrap_or(args.tombstones);
    args.churn_retention_days =
        value("--churn-retention-days").map_or(args.churn_retention_days, |v| v as i64);
    args
}

fn config(feeds: usize, dir: &std::path::Path) -> Config {
    let mut text = String::from(
        "state_dir = \"state\"\nfirst_poll_window = \"all\"\nmax_new_per_poll = 100000\n\
         [delivery]\ntransport = \"file\"\ndir = \"mail\"\n\
         [[topics]]\nname = \"Korea\"\nkeywords = [\"korea\", \"朝鲜\"]\n\
         [[subscribers]]\nemail = \"all@example.org\"\n\
         [[subscribers]]\nemail = \"korea@example.org\"\ntopics = [\"Korea\"]\n",
    );
    for i in 0..feeds {
        text.push_str(&format!("[[feeds]]\nurl = \"https://feed{i}.example.org/rss\"\n"));
    }
    match Config::parse(&text, None, dir, &[]) {
        Ok(config) => config,
        Err(err) => panic!("bench config: {err}"),
    }
}

fn items(feed: usize, start: usize, count: usize, now: DateTime<Utc>) -> ParsedFeed {
    let items = (start..start + count)
        .map(|n| Item {
            guid: Some(format!("feed{feed}-item{n}")),
            link: Some(format!("https://feed{feed}.example.org/articles/{n}?utm_source=rss")),
            title: if n % 10 == 0 { format!("朝鲜 Korea story {n}") } else { format!("Story number {n} from feed {feed}") },
            text: "A paragraph of article text that stands in for a real excerpt, about two hundred characters long, \
                   so the stored body has a realistic size for a digest entry. 这是一段中文正文。"
                .to_owned(),
            published: Some(now - Duration::minutes(n as i64 % 600)),
            updated: None,
            categories: vec!["World".to_owned()],
            image: None,
        })
        .collect();
    ParsedFeed {
        title: Some(format!("Feed {feed}")),
        items,
        update_hint: None,
        reading: Default::default(),
    }
}

/// One poll of one feed through the real plan and the real transaction.
fn ingest(config: &Config, store: &Store, feed: usize, parsed: &ParsedFeed, now: DateTime<Utc>) -> usize {
    let feed_config = &config.feeds[feed];
    let document = ingest::Document::new(feed_config, parsed);
    let known = match store.known(&feed_config.key, &document.questions()) {
        Ok(known) => known,
        Err(err) => panic!("known: {err}"),
    };
    let batch = ingest::plan(config, &document, false, now, &known);
    let state = FeedState {
        baselined: true,
        ..FeedState::default()
    };
    if let Err(err) = store.ingest(&feed_config.key, &state, &batch, now) {
        panic!("ingest: {err}");
    }
    batch.deliver.len()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn throughput_and_lookups(args: &Args) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("temp dir: {err}"),
    };
    let config = config(args.feeds, dir.path());
    let store = match Store::open(dir.path()) {
        Ok(store) => store,
        Err(err) => panic!("open: {err}"),
    };
    let now = Utc::now();
    let per_poll = 50;
    let polls = args.ids.div_ceil(per_poll);
    let started = Instant::now();
    let mut ingested = 0;
    for poll in 0..polls {
        let feed = poll % args.feeds;
        let start = (poll / args.feeds) * per_poll;
        ingested += ingest(&config, &store, feed, &items(feed, start, per_poll, now), now);
    }
    if let Err(err) = store.flush_blocking() {
        panic!("flush: {err}");
    }
    let elapsed = started.elapsed();
    println!(
        "ingest: {ingested} new articles in {:.1} s = {:.0} articles/s (dedup + topic routing + enqueue for 2 subscribers, one transaction per 50-item poll)",
        elapsed.as_secs_f64(),
        ingested as f64 / elapsed.as_secs_f64()
    );
    let size = store.size_on_disk().unwrap_or(0);
    println!(
        "size on disk: {:.1} MiB for {} seen ids (with article bodies, links and pending) = {:.1} MiB per million",
        mib(size),
        store.seen_count().unwrap_or(0),
        mib(size) * 1_000_000.0 / store.seen_count().unwrap_or(0).max(1) as f64
    );

    // Lookups: a re-poll of known items (hits) and of unknown ones (misses).
    let lookups = 100_000;
    let started = Instant::now();
    let mut hits = 0;
    for n in 0..lookups {
        let feed = n % args.feeds;
        let parsed = items(feed, (n / args.feeds) % (args.ids / args.feeds).max(1), 1, now);
        let id = feed_digest::article::ArticleId::for_item(&config.feeds[feed].key, &parsed.items[0], false);
        hits += usize::from(matches!(store.seen(&config.feeds[feed].key, &id), Ok(Some(_))));
    }
    let elapsed = started.elapsed();
    println!(
        "lookup: {lookups} seen ids looked up one by one among {}: {:.2} µs each ({hits} hits)",
        store.seen_count().unwrap_or(0),
        elapsed.as_secs_f64() * 1e6 / lookups as f64
    );
    let started = Instant::now();
    let repoll: usize = (0..200)
        .map(|feed| ingest(&config, &store, feed, &items(feed, 0, per_poll, now), now))
        .sum();
    println!(
        "re-poll of 200 feeds × 50 known items: {:.2} ms per feed ({repoll} new)",
        started.elapsed().as_secs_f64() * 1e3 / 200.0
    );
}

fn churn(args: &Args) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("temp dir: {err}"),
    };
    let config = config(args.churn_feeds, dir.path());
    let store = match Store::open(dir.path()) {
        Ok(store) => store,
        Err(err) => panic!("open: {err}"),
    };
    let retention = TimeDelta::days(args.churn_retention_days);
    let start = Utc::now();
    println!(
        "churn: {} feeds × {} new items a day, each feed shows its last 50 items, retention {} days, daily prune",
        args.churn_feeds, args.churn_per_day, args.churn_retention_days
    );
    for day in 0..args.churn_days {
        let now = start + TimeDelta::days(day as i64);
        for feed in 0..args.churn_feeds {
            let first = day * args.churn_per_day;
            ingest(
                &config,
                &store,
                feed,
                &items(feed, first, args.churn_per_day, now),
                now,
            );
        }
        // Everyone got their digest: nothing stays pending.
        for email in ["all@example.org", "korea@example.org"] {
            let ids = store.pending(email).unwrap_or_default();
            drain(&store, email, ids, now);
        }
        if let Err(err) = store.prune(now, retention, TimeDelta::days(7)) {
            panic!("prune: {err}");
        }
        if let Err(err) = store.flush_blocking() {
            panic!("flush: {err}");
        }
        if day % 10 == 9 || day + 1 == args.churn_days {
            // The articles' day files, beside sled's own (schema 7).
            let bodies: u64 = std::fs::read_dir(dir.path().join("bodies"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum();
            println!(
                "  day {:>4}: {:>8} seen ids, {:>7.1} MiB on disk ({:.1} MiB of it the body files)",
                day + 1,
                store.seen_count().unwrap_or(0),
                mib(store.size_on_disk().unwrap_or(0)),
                mib(bodies)
            );
            if let Ok(footprint) = store.footprint() {
                let parts: Vec<String> = footprint
                    .iter()
                    .filter(|(_, records, _)| *records > 0)
                    .map(|(kind, records, bytes)| format!("{kind} {records} = {:.1} MiB", mib(*bytes)))
                    .collect();
                println!(
                    "             records (keys and values; articles as records, not pointers): {}",
                    parts.join(", ")
                );
            }
        }
    }
}

fn drain(store: &Store, email: &str, ids: Vec<feed_digest::article::ArticleId>, now: DateTime<Utc>) {
    let entry = feed_digest::outbox::OutboxEntry {
        message_id: String::new(),
        article_ids: ids,
        created_at: now,
        message: String::new(),
        html: String::new(),
        dropped: Vec::new(),
    };
    // What deliver remembers of each article for follow-ups, as it does.
    let sent: Vec<_> = entry
        .article_ids
        .iter()
        .filter_map(|id| {
            let article = store.article(id).ok().flatten()?;
            Some((id.clone(), feed_digest::digest::SentStory::of(&article, now)))
        })
        .collect();
    let state = feed_digest::subscriber::SubscriberState::new(now).sent(now);
    if let Err(err) = store.commit_sent(email, &entry, &state, &sent) {
        panic!("commit: {err}");
    }
}

/// What a remembered id costs on disk once its body is gone: `count` ids
/// recorded without bodies (as a first poll's baseline is), over 200 feeds
/// and as many days as it takes.
fn tombstones(count: usize) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("temp dir: {err}"),
    };
    let feeds = 200;
    let config = config(feeds, dir.path());
    let store = match Store::open(dir.path()) {
        Ok(store) => store,
        Err(err) => panic!("open: {err}"),
    };
    let now = Utc::now();
    let per_poll = 50;
    let state = FeedState {
        baselined: true,
        ..FeedState::default()
    };
    // A poll of every feed a day, each bringing 50 new ids.
    for poll in 0..count.div_ceil(per_poll) {
        let feed = poll % feeds;
        let now = now + Duration::days((poll / feeds) as i64);
        let parsed = items(feed, (poll / feeds) * per_poll, per_poll, now);
        let batch = ingest::IngestBatch {
            baseline: parsed
                .items
                .iter()
                .map(|item| {
                    let id = feed_digest::article::ArticleId::for_item(&config.feeds[feed].key, item, false);
                    (id, None)
                })
                .collect(),
            ..ingest::IngestBatch::default()
        };
        if let Err(err) = store.ingest(&config.feeds[feed].key, &state, &batch, now) {
            panic!("ingest: {err}");
        }
    }
    if let Err(err) = store.flush_blocking() {
        panic!("flush: {err}");
    }
    let ids = store.seen_count().unwrap_or(0);
    let size = store.size_on_disk().unwrap_or(0);
    println!(
        "remembered ids without bodies: {ids} take {:.1} MiB on disk = {:.0} bytes an id",
        mib(size),
        size as f64 / ids.max(1) as f64
    );
}

/// What the cold poll's sled writes cost by record layout (schema 7's
/// against a denser one), sled alone, no day files: 1,000 feed polls of 20
/// new articles for one subscriber, as in the polling benchmark. Keys are
/// hashes, as the store's are.
fn sled_writes() {
    use sled::Transactional;
    use sled::transaction::ConflictableTransactionError;
    const FEEDS: u64 = 1000;
    const NEW: u64 = 20;
    fn key(prefix: &[u8], feed: u64, item: u64, len: usize) -> Vec<u8> {
        let mut key = prefix.to_vec();
        // splitmix64's finaliser: keys spread over the tree as hashes do.
        let mut digest = feed * 1000 + item;
        digest = (digest ^ (digest >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        digest = (digest ^ (digest >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        digest ^= digest >> 31;
        key.extend_from_slice(format!("{digest:016x}{:016x}", digest.rotate_left(17)).as_bytes());
        key.truncate(len);
        key
    }
    for layout in ["schema 7", "pointers and pending one value a poll"] {
        let Ok(dir) = tempfile::tempdir() else { return };
        let Ok(db) = sled::open(dir.path()) else { return };
        let trees: Vec<sled::Tree> = ["articles", "pending", "links", "seen", "feeds"]
            .iter()
            .filter_map(|name| db.open_tree(name).ok())
            .collect();
        let [articles, pending, links, seen, feeds] = trees.as_slice() else {
            return;
        };
        let dense = layout != "schema 7";
        let start = Instant::now();
        for feed in 0..FEEDS {
            let committed = (articles, pending, links, seen, feeds).transaction(|(a, p, l, s, f)| {
                if dense {
                    a.insert(key(b"", feed, 0, 32), vec![7u8; 41 * NEW as usize])?;
                    p.insert(
                        key(b"bench@example.org\0", feed, 0, 50),
                        vec![7u8; 16 * NEW as usize],
                    )?;
                } else {
                    for item in 0..NEW {
                        a.insert(key(b"", feed, item, 32), vec![7u8; 25])?;
                        p.insert(key(b"bench@example.org\0", feed, item, 50), vec![7u8; 12])?;
                    }
                }
                for item in 0..NEW {
                    l.insert(key(b"", feed, item, 16), vec![7u8; 24])?;
                }
                s.insert(key(b"", feed, 0, 12), vec![7u8; 25 * NEW as usize])?;
                f.insert(key(b"https://example.org/", feed, 0, 60), vec![7u8; 200])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            });
            if committed.is_err() {
                println!("sled writes, {layout}: a transaction failed");
                return;
            }
        }
        println!(
            "sled writes, {layout}: {FEEDS} feed polls of {NEW} new articles in {:.3} s",
            start.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let args = args();
    if std::env::args().any(|a| a == "--sled-writes") {
        sled_writes();
    }
    if args.tombstones > 0 {
        tombstones(args.tombstones);
    }
    if args.ids > 0 {
        throughput_and_lookups(&args);
    }
    if args.churn_days > 0 {
        churn(&args);
    }
}
