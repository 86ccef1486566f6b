//! feedparser's own test suite as a yardstick: every case whose `Expect:`
//! speaks of the feed's title, an entry's title or link, or the number of
//! entries, read by feed-digest and checked, reported by folder (see
//! docs/parsing.md for the families that do not pass and why). The suite
//! comes from feedparser's PyPI sdist (`scripts/test-data.sh`).

use std::collections::BTreeMap;

use feed_digest::boilerplate::StripRules;
use feed_digest::parse::{ParsedFeed, parse_response};
use feed_digest::text;

use crate::support::expect::{Check, checks};
use crate::support::{self, test_data};

/// The share of counted cases that must pass: 97.3 % measured (see
/// docs/parsing.md), a floor that catches a regression in reading.
const FLOOR: f64 = 0.95;

/// The target for legacy-encoded feeds (feedparser's `encoding`
/// folder): titles decoded right in at least 98 % of them (111 of 111 measured).
const ENCODING_FLOOR: f64 = 0.98;

/// As feedparser compares it: text, one line (its titles may be HTML).
fn normal(value: &str) -> String {
    text::one_line(&text::html_to_text(value))
}

fn passes(check: &Check, parsed: &ParsedFeed) -> bool {
    match check {
        // Ours are text already; feedparser's may be HTML.
        Check::FeedTitle(want) => text::one_line(parsed.title.as_deref().unwrap_or_default()) == normal(want),
        Check::EntryTitle(i, want) => parsed
            .items
            .get(*i)
            .is_some_and(|item| text::one_line(&item.title) == normal(want)),
        Check::EntryLink(i, want) => parsed.items.get(*i).is_some_and(|item| {
            let canonical = |l: &str| url::Url::parse(l).map_or_else(|_| l.to_owned(), |u| u.to_string());
            item.link.as_deref().map(canonical) == Some(canonical(want))
        }),
        Check::EntryCount(n) => parsed.items.len() == *n,
    }
}

/// The `Content-Type` a case is served with (`Header: Content-Type: …`).
fn content_type(text: &str) -> Option<String> {
    text.lines().take(20).find_map(|line| {
        let value = line.trim_start().strip_prefix("Header:")?.trim();
        let (name, value) = value.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_owned())
    })
}

#[test]
fn feedparser_cases_on_titles_links_and_counts_pass() {
    let root = test_data("feedparser/tests");
    let mut paths = Vec::new();
    support::files(&root, &mut paths);
    paths.retain(|p| p.extension().is_some_and(|e| e == "xml"));
    paths.sort();
    // folder → (passed, counted, failed cases)
    let mut by_folder: BTreeMap<String, (usize, usize, Vec<String>)> = BTreeMap::new();
    for path in &paths {
        let bytes = std::fs::read(path).unwrap_or_default();
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        let wanted = checks(&head);
        if wanted.is_empty() {
            continue;
        }
        let relative = path.strip_prefix(&root).unwrap_or(path);
        let folder = relative
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // feedparser serves its cases from this address.
        let base = format!("http://127.0.0.1:8097/tests/{}", relative.display());
        let parsed = parse_response(
            &bytes,
            content_type(&head).as_deref(),
            Some(&base),
            &StripRules::default(),
        );
        let ok = parsed
            .as_ref()
            .is_ok_and(|parsed| wanted.iter().all(|check| passes(check, parsed)));
        let entry = by_folder.entry(folder).or_default();
        entry.1 += 1;
        if ok {
            entry.0 += 1;
        } else {
            entry.2.push(relative.display().to_string());
        }
    }
    let (mut passed, mut counted) = (0, 0);
    println!("feedparser cases with an Expect on titles, links or counts, by folder:");
    // Every failing case with FEED_DIGEST_CORPUS_ALL=1, else three a folder.
    let all = std::env::var_os("FEED_DIGEST_CORPUS_ALL").is_some();
    for (folder, (ok, n, failed)) in &by_folder {
        passed += ok;
        counted += n;
        let shown = if all { failed.len() } else { failed.len().min(3) };
        println!("  {folder:<28} {ok:>4} / {n:<4} {}", failed[..shown].join(" "));
    }
    let (encoded_ok, encoded, _) = by_folder.get("encoding").cloned().unwrap_or_default();
    let encoded_share = encoded_ok as f64 / encoded.max(1) as f64;
    assert!(
        encoded > 100 && encoded_share >= ENCODING_FLOOR,
        "legacy encodings: {encoded_ok} of {encoded} titles decoded right, below {:.0} %",
        ENCODING_FLOOR * 100.0
    );
    let share = passed as f64 / counted.max(1) as f64;
    println!(
        "  {:<28} {passed:>4} / {counted:<4} ({:.1} %)",
        "all",
        share * 100.0
    );
    assert!(
        counted > 500,
        "only {counted} cases counted: the suite is not all there"
    );
    assert!(
        share >= FLOOR,
        "{passed} of {counted} pass ({:.1} %), below {:.0} %",
        share * 100.0,
        FLOOR * 100.0
    );
}
