//! Feeds in every encoding and state of sloppiness: our own fixtures
//! (`tests/fixtures/feeds/encodings/`, see its README), a charset that only
//! HTTP gives, an HTML page instead of a feed, `feed-digest fetch`, and the
//! feedparser corpus fetched by `scripts/test-data.sh` (never a panic).

use std::path::Path;

use feed_digest::boilerplate::StripRules;
use feed_digest::parse;

use crate::support;
use crate::support::cli::BIN;
use crate::support::http::{Extra, FeedServer};
use crate::support::world::World;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds/encodings")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (file, HTTP content type, first item's title, encoding used, a repair expected)
const FIXTURES: &[(&str, Option<&str>, &str, &str, bool)] = &[
    ("gb2312.xml", None, "长江流域迎来今年首场春雨", "gb18030", false),
    (
        "gbk-http-only.xml",
        Some("application/rss+xml; charset=gbk"),
        "新开的喆园茶馆推出秋季菜单",
        "gb18030",
        false,
    ),
    ("big5.xml", None, "臺北捷運環狀線今日全線通車", "Big5", false),
    (
        "shift_jis.xml",
        None,
        "東京で今年初めての桜の開花を観測",
        "Shift_JIS",
        false,
    ),
    (
        "euc-kr.xml",
        None,
        "서울에 올겨울 첫눈이 내렸습니다",
        "EUC-KR",
        false,
    ),
    (
        "windows-1251.xml",
        None,
        "Москва готовится к весеннему марафону",
        "windows-1251",
        false,
    ),
    (
        "koi8-r.xml",
        None,
        "В Казани открылась новая библиотека",
        "KOI8-R",
        false,
    ),
    (
        "iso-8859-2.xml",
        None,
        "Źródła wody w Łodzi zostały oczyszczone",
        "ISO-8859-2",
        false,
    ),
    (
        "iso-8859-7.xml",
        None,
        "Νέο μουσείο ανοίγει στην Αθήνα",
        "ISO-8859-7",
        false,
    ),
    (
        "iso-2022-jp.xml",
        None,
        "大阪の天気は晴れのち曇り",
        "ISO-2022-JP",
        false,
    ),
    (
        "utf-16le-bom.xml",
        None,
        "Ünïcödé-Grüße aus Köln — 日本語も",
        "UTF-16LE",
        false,
    ),
    (
        "utf-16be-no-bom.xml",
        None,
        "Ελληνικά και 한국어 χωρίς BOM",
        "UTF-16BE",
        false,
    ),
    (
        "utf8-declared-latin1.xml",
        Some("text/xml; charset=iso-8859-1"),
        "Café crème à Zürich : les résumés naïfs",
        "UTF-8",
        false,
    ),
    (
        "utf8-declared-gb2312.xml",
        None,
        "港口扩建工程周一正式启动",
        "UTF-8",
        false,
    ),
    (
        "windows-1252-undeclared.xml",
        None,
        "The café’s “best” dishes – ranked",
        "windows-1252",
        false,
    ),
    (
        "jsonfeed-utf8.json",
        Some("application/feed+json; charset=iso-8859-1"),
        "Речной трамвай снова ходит по Неве",
        "UTF-8",
        false,
    ),
    (
        "sloppy-bare-ampersand.xml",
        None,
        "Tom & Jerry return to the big screen",
        "UTF-8",
        true,
    ),
    (
        "sloppy-html-entities.xml",
        None,
        "Prix Nobel — l’annonce du jury",
        "UTF-8",
        true,
    ),
    (
        "sloppy-control-chars.xml",
        None,
        "Unwetter-Warnung für Dienstag",
        "UTF-8",
        true,
    ),
    (
        "sloppy-junk-after-root.xml",
        None,
        "El puerto de Valencia bate su récord",
        "UTF-8",
        true,
    ),
    (
        "sloppy-rss-no-version.xml",
        None,
        "Havenfestival begint op vrijdag",
        "UTF-8",
        true,
    ),
    (
        "sloppy-html-in-title.xml",
        None,
        "Markets rally after rate cut",
        "UTF-8",
        true,
    ),
    (
        "sloppy-windows-1251-mixed.xml",
        None,
        "Рынки & облигации — итоги недели",
        "windows-1251",
        true,
    ),
];

#[test]
fn every_encoding_and_sloppy_feed_comes_out_right() {
    for (file, content_type, title, encoding, repaired) in FIXTURES {
        let parsed = parse::parse_response(&fixture(file), *content_type, None, &StripRules::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let first = parsed.items.first().map(|i| i.title.as_str()).unwrap_or_default();
        // `&nbsp;` becomes a no-break space, shown as a space.
        assert_eq!(first.replace('\u{a0}', " "), *title, "{file}");
        assert_eq!(parsed.reading.encoding, *encoding, "{file}");
        assert!(!parsed.reading.had_errors, "{file}: undecodable bytes");
        assert_eq!(
            !parsed.reading.repairs.is_empty(),
            *repaired,
            "{file}: {:?}",
            parsed.reading.repairs
        );
        assert_eq!(parsed.items.len(), 2, "{file}");
    }
}

#[tokio::test]
async fn the_http_charset_reaches_the_store_and_an_html_page_names_its_feed() {
    let server = FeedServer::start().await;
    server.set_with(
        "/gbk.xml",
        fixture("gbk-http-only.xml"),
        Extra {
            headers: vec![("content-type".into(), "application/rss+xml; charset=gbk".into())],
            ..Extra::default()
        },
    );
    server.set(
        "/blog/",
        "<!DOCTYPE html><html><head><title>Blog</title>\
         <link rel=\"alternate\" type=\"application/rss+xml\" title=\"Posts\" href=\"/blog/feed.xml\">\
         </head><body>Hello</body></html>",
    );
    let urls = [server.url("/gbk.xml"), server.url("/blog/")];
    let world = World::with_feeds(server, &urls, "").await;
    let results = world.poll().await;
    assert!(results[0].is_ok(), "{results:?}");
    let found = world.store.find_articles("喆园", 5).expect("search");
    assert_eq!(found.len(), 1, "the GBK title is stored as UTF-8");
    let error = results[1].as_ref().err().cloned().unwrap_or_default();
    let advertised = world.feeds.url("/blog/feed.xml");
    assert!(
        error.contains("HTML page, not a feed") && error.contains(&advertised),
        "{error}"
    );
}

#[tokio::test]
async fn fetch_shows_status_encoding_repairs_and_items_without_a_store() {
    let server = FeedServer::start().await;
    server.set_with(
        "/w.xml",
        fixture("sloppy-windows-1251-mixed.xml"),
        Extra {
            headers: vec![("cache-control".into(), "max-age=900".into())],
            ..Extra::default()
        },
    );
    let url = server.url("/w.xml");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::process::Command::new(BIN)
        .args(["fetch", &url, "--json"])
        .current_dir(dir.path())
        .env_remove("FEED_DIGEST_CONFIG")
        .output()
        .await
        .expect("run feed-digest fetch");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["status"], 200);
    assert_eq!(report["encoding"], "windows-1251");
    assert_eq!(report["server_cache_seconds"], 900);
    let repairs = report["repairs"].as_array().cloned().unwrap_or_default();
    assert!(
        repairs
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains('&'))),
        "{repairs:?}"
    );
    let items = report["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["title"], "Рынки & облигации — итоги недели");
    assert!(
        items[0]["identity"]
            .as_str()
            .is_some_and(|id| id.starts_with("guid:")),
        "{:?}",
        items[0]
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(1),
        0,
        "fetch writes nothing"
    );
    // The plain form names the same things.
    let text = tokio::process::Command::new(BIN)
        .args(["fetch", &url])
        .env_remove("FEED_DIGEST_CONFIG")
        .output()
        .await
        .expect("run feed-digest fetch");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("HTTP 200") && text.contains("encoding: windows-1251"),
        "{text}"
    );
    assert!(
        text.contains("repaired: ") && text.contains("id: guid:"),
        "{text}"
    );
}

#[test]
fn every_corpus_feed_parses_or_fails_cleanly_never_panics() {
    let root = support::test_data("feedparser/tests");
    let mut files = Vec::new();
    support::files(&root, &mut files);
    support::files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds"),
        &mut files,
    );
    files.sort();
    assert!(files.len() > 2000, "{} files", files.len());
    let (mut parsed, mut failed, mut panicked) = (0, 0, Vec::new());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        let result = std::panic::catch_unwind(|| {
            parse::parse_response(
                &bytes,
                None,
                Some("http://example.org/feed"),
                &StripRules::default(),
            )
        });
        match result {
            Ok(Ok(_)) => parsed += 1,
            Ok(Err(err)) => {
                let message = err.to_string();
                assert!(!message.trim().is_empty(), "{}: an empty error", file.display());
                failed += 1;
            }
            Err(_) => panicked.push(file.display().to_string()),
        }
    }
    println!(
        "{} files: {parsed} parsed, {failed} failed cleanly, {} panicked",
        files.len(),
        panicked.len()
    );
    assert!(panicked.is_empty(), "panics on: {panicked:?}");
    // The corpus is mostly feeds a reader should read (measured: 2,141 of 2,275
    // with feedparser 6.0.12 and our fixtures).
    assert!(
        parsed * 100 >= files.len() * 90,
        "only {parsed} of {} parsed",
        files.len()
    );
}
