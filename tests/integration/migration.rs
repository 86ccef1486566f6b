//! A store of schema 2, written by feed-digest itself before schema 3
//! (`tests/fixtures/store-v2/make.sh`), opened by this one: every record
//! survives the migration, every id stays known under its feed, and the
//! documents its feeds served last bring nothing new.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;
use feed_digest::article::ArticleId;
use feed_digest::config::Config;
use feed_digest::ingest;
use feed_digest::store::{ExportedRecord, SeenRecord, Store};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v2");

const FEEDS: [&str; 4] = ["world-zh.xml", "tech-en.atom", "notes.json", "copies.xml"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The config `make.sh` wrote, with its feed keys.
fn config(dir: &Path) -> Config {
    Config::parse(&config_text(), None, dir, &[]).expect("fixture config")
}

fn config_text() -> String {
    let mut text = String::from(
        "state_dir = \"state\"\nfirst_poll_window = \"all\"\n\
         [delivery]\ntransport = \"file\"\ndir = \"mail\"\n\
         [smtp]\nfrom = \"Digest <digest@example.org>\"\n",
    );
    for (i, feed) in FEEDS.iter().enumerate() {
        text.push_str(&format!("[[feeds]]\nurl = \"http://127.0.0.1:18733/{feed}\"\n"));
        if i == 0 {
            text.push_str("topics = [\"国际\"]\n");
        }
    }
    text.push_str(
        "[[topics]]\nname = \"Rust\"\nkeywords = [\"rust\"]\n\
         [[subscribers]]\nemail = \"alice@example.org\"\n\
         [[subscribers]]\nemail = \"bob@example.org\"\ntopics = [\"Rust\"]\n",
    );
    text
}

/// An export's records by tree, each tree's as key → value.
fn by_tree(lines: &str) -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
    let mut trees: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let record: ExportedRecord = serde_json::from_str(line).expect("export line");
        trees
            .entry(record.tree)
            .or_default()
            .insert(record.key, record.value);
    }
    trees
}

fn open_migrated() -> (tempfile::TempDir, Config, Store) {
    open_copy_of(FIXTURE)
}

/// A copy of `fixture`'s store, opened (and so migrated) with its config.
fn open_copy_of(fixture: &str) -> (tempfile::TempDir, Config, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&Path::new(fixture).join("store"), &dir.path().join("state/store"));
    let config = config(dir.path());
    let store = Store::open(&config.state_dir).expect("the fixture's store opens");
    (dir, config, store)
}

#[test]
fn a_schema_2_store_keeps_every_record_and_every_id_through_the_migration() {
    let before = by_tree(&std::fs::read_to_string(Path::new(FIXTURE).join("export.jsonl")).expect("export"));
    let (_dir, config, store) = open_migrated();
    let check = store.check().expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.schema_version, feed_digest::store::SCHEMA_VERSION);
    let seen_before = &before["seen"];
    assert_eq!(check.seen, seen_before.len(), "every id, once");
    assert!(seen_before.len() >= 12, "the fixture has ids of every sort");

    // Every id is known with its own times, under a feed of the config (its
    // own, where a body or a link told which).
    for (id, value) in seen_before {
        let id = ArticleId::from_stored(id).expect("an id");
        let record: SeenRecord = serde_json::from_value(value.clone()).expect("a seen record");
        let found: Vec<SeenRecord> = config
            .feeds
            .iter()
            .filter_map(|feed| store.seen(&feed.key, &id).expect("lookup"))
            .collect();
        assert!(!found.is_empty(), "{id} forgotten");
        assert!(
            found.iter().all(|r| *r == record),
            "{id}: {found:?} vs {record:?}"
        );
    }
    let mut exported = Vec::new();
    store.export(&mut exported).expect("export");
    let after = by_tree(&String::from_utf8(exported).expect("utf-8"));
    // Some ids had no body and no link: their feed is not known, they stay by id.
    let legacy = after.get("seen_legacy").map_or(0, BTreeMap::len);
    assert!(legacy >= 2, "{legacy} ids without body or link");
    assert!(legacy < seen_before.len());
    // Everything but the ids and the links is as it was, record for record.
    for tree in ["articles", "pending", "outbox", "subscribers", "feeds"] {
        assert!(!before[tree].is_empty(), "the fixture has {tree}");
        assert_eq!(after.get(tree), before.get(tree), "{tree}");
    }
    // What was sent: the same stories, a record per digest (schema 5)
    // instead of one per article, each under its own digest's key.
    let mut sent_before: Vec<(String, String)> = before["sent"]
        .iter()
        .map(|(key, story)| {
            // The key without its article id (32 characters, 64 in hex).
            let digest = key.get(..key.len() - 64).expect("an old key ends in an id");
            (digest.to_owned(), story.to_string())
        })
        .collect();
    let mut sent_after: Vec<(String, String)> = after["sent"]
        .iter()
        .flat_map(|(key, stories)| {
            let stories = stories.as_array().expect("a digest's stories").clone();
            stories
                .into_iter()
                .map(move |story| (key.clone(), story.to_string()))
        })
        .collect();
    assert!(
        sent_before.len() >= 2 && after["sent"].len() < sent_before.len(),
        "{after:?}"
    );
    sent_before.sort();
    sent_after.sort();
    assert_eq!(sent_after, sent_before);
    // Each body with a link is found by it, from its own feed.
    let mut linked = 0;
    for value in before["articles"].values() {
        let article: feed_digest::article::Article = serde_json::from_value(value.clone()).expect("article");
        let Some(link) = &article.link else { continue };
        let owner = store
            .link_owner(&article.feed_key, &feed_digest::article::canonical_link(link))
            .expect("lookup")
            .expect("the link is indexed");
        assert_eq!(owner.id, article.id);
        assert!(owner.same_feed && owner.has_body);
        linked += 1;
    }
    assert_eq!(after["links"].len(), linked);
}

#[test]
fn after_the_migration_the_documents_last_served_bring_nothing_new() {
    let (_dir, config, store) = open_migrated();
    let now = Utc::now();
    for (feed, file) in config.feeds.iter().zip(FEEDS) {
        let bytes = std::fs::read(Path::new(FIXTURE).join("feeds").join(file)).expect("feed file");
        let parsed = feed_digest::parse::parse_response(&bytes, None, None, &feed.strip).expect("parse");
        let document = ingest::Document::new(feed, &parsed);
        let known = store.known(&feed.key, &document.questions()).expect("known");
        let batch = ingest::plan(&config, &document, false, now, &known);
        let new: Vec<&str> = batch.deliver.iter().map(|n| n.article.title.as_str()).collect();
        assert!(new.is_empty(), "{file}: {new:?} again");
        assert!(
            batch.baseline.is_empty() && batch.renamed.is_empty(),
            "{file}: {batch:?}"
        );
        // The poll moves its ids into the feed's sets; a second one agrees.
        let state = store.feed_state(&feed.key).expect("state").unwrap_or_default();
        store.ingest(&feed.key, &state, &batch, now).expect("ingest");
        let known = store.known(&feed.key, &document.questions()).expect("known");
        let again = ingest::plan(&config, &document, false, now, &known);
        assert!(again.deliver.is_empty(), "{file}: {:?}", again.deliver);
    }
    let check = store.check().expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

#[test]
fn a_migrated_store_opens_again_unchanged() {
    let (dir, config, store) = open_migrated();
    let mut first = Vec::new();
    store.export(&mut first).expect("export");
    drop(store);
    let store = Store::open(&config.state_dir).expect("reopen");
    let mut second = Vec::new();
    store.export(&mut second).expect("export again");
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(&second));
    drop(dir);
}

#[test]
fn a_schema_2_backup_restores_through_the_binary_as_the_migrated_store() {
    // Restored from the export with `store import`, as a user would...
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config_text()).expect("write config");
    let export = Path::new(FIXTURE).join("export.jsonl");
    let export = export.to_string_lossy();
    let imported = crate::support::cli::feed_digest(&config_path, &["store", "import", &export], &[]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let checked = crate::support::cli::feed_digest(&config_path, &["store", "check"], &[]);
    let report = crate::support::cli::stdout(&checked);
    assert!(
        checked.status.success() && report.contains("store OK"),
        "{report}"
    );
    let head = format!("schema {}; 13 seen ids", feed_digest::store::SCHEMA_VERSION);
    assert!(report.starts_with(&head), "{report}");
    let restored = Store::open(&dir.path().join("state")).expect("open the restored store");
    let mut restored_export = Vec::new();
    restored.export(&mut restored_export).expect("export");
    // ...holds what the schema 2 store itself migrates to, kind by kind.
    let (_other, _, migrated) = open_migrated();
    let mut migrated_export = Vec::new();
    migrated.export(&mut migrated_export).expect("export");
    let restored = by_tree(&String::from_utf8(restored_export).expect("utf-8"));
    let migrated = by_tree(&String::from_utf8(migrated_export).expect("utf-8"));
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        migrated.keys().collect::<Vec<_>>()
    );
    for (tree, records) in &migrated {
        assert_eq!(restored.get(tree), Some(records), "{tree}");
    }
}

/// A store of schema 6 (every article whole in sled), written by the
/// feed-digest before schema 7 (`tests/fixtures/store-v6/make.sh`).
mod schema_6 {
    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v6");

    fn open_migrated() -> (tempfile::TempDir, Config, Store) {
        open_copy_of(FIXTURE)
    }

    fn export_of(store: &Store) -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
        let mut exported = Vec::new();
        store.export(&mut exported).expect("export");
        by_tree(&String::from_utf8(exported).expect("utf-8"))
    }

    #[test]
    fn its_articles_move_to_the_day_files_and_every_record_stays_as_it_was() {
        let before =
            by_tree(&std::fs::read_to_string(Path::new(FIXTURE).join("export.jsonl")).expect("export"));
        let (dir, config, store) = open_migrated();
        let check = store.check().expect("check");
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(check.schema_version, feed_digest::store::SCHEMA_VERSION);
        assert!(before["articles"].len() >= 10, "the fixture has articles");
        // Record for record what schema 6 held, but for the version.
        let after = export_of(&store);
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
        for (tree, records) in &before {
            if tree != "meta" {
                assert_eq!(after.get(tree), Some(records), "{tree}");
            }
        }
        assert_eq!(
            after["meta"]["schema_version"],
            feed_digest::store::SCHEMA_VERSION
        );
        // Reopened, nothing moves again.
        drop(store);
        let store = Store::open(&config.state_dir).expect("reopen");
        assert_eq!(export_of(&store), after);
        // The records are read from the day files now: without them every
        // article is a problem that names its file, and nothing else is.
        drop(store);
        let bodies = config.state_dir.join("bodies");
        let files: Vec<_> = std::fs::read_dir(&bodies).expect("bodies/").flatten().collect();
        assert_eq!(files.len(), 1, "one day's file");
        for file in files {
            std::fs::remove_file(file.path()).expect("remove");
        }
        let store = Store::open(&config.state_dir).expect("open without the day files");
        let problems = store.check().expect("check").problems;
        assert_eq!(problems.len(), before["articles"].len(), "{problems:?}");
        assert!(problems.iter().all(|p| p.contains("body file")), "{problems:?}");
        drop(dir);
    }

    #[test]
    fn after_the_migration_its_feeds_bring_nothing_new() {
        let (_dir, config, store) = open_migrated();
        let now = Utc::now();
        for (feed, file) in config.feeds.iter().zip(FEEDS) {
            let bytes = std::fs::read(Path::new(FIXTURE).join("feeds").join(file)).expect("feed file");
            let parsed = feed_digest::parse::parse_response(&bytes, None, None, &feed.strip).expect("parse");
            let document = ingest::Document::new(feed, &parsed);
            let known = store.known(&feed.key, &document.questions()).expect("known");
            let batch = ingest::plan(&config, &document, false, now, &known);
            let new: Vec<&str> = batch.deliver.iter().map(|n| n.article.title.as_str()).collect();
            assert!(new.is_empty(), "{file}: {new:?} again");
        }
        let check = store.check().expect("check");
        assert!(check.problems.is_empty(), "{:?}", check.problems);
    }
}
