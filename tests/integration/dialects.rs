//! Every real feed read right, none silently empty: Atom 0.3 in legacy
//! encodings, undeclared GB2312, MacCyrillic, namespaced and prefixed RSS,
//! RSS 0.90 and 0.91 oddities, JSON Feed's first version URL and wrong-typed
//! fields, an Atom entry feed-rs refuses, gzip files, and a document whose
//! items cannot be read saying so (fixtures in `tests/fixtures/feeds/dialects/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use feed_digest::boilerplate::StripRules;
use feed_digest::parse::{ParsedFeed, parse_response};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds/dialects")
        .join(name)
}

fn parse(name: &str, base: &str) -> ParsedFeed {
    let bytes = std::fs::read(fixture(name)).expect("read the fixture");
    parse_response(&bytes, None, Some(base), &StripRules::default())
        .unwrap_or_else(|err| panic!("{name} does not parse: {err}"))
}

fn titles(parsed: &ParsedFeed) -> Vec<&str> {
    parsed.items.iter().map(|i| i.title.as_str()).collect()
}

#[test]
fn atom_0_3_in_big5_and_shift_jis_reads_every_entry() {
    let big5 = parse("atom03-big5.xml", "https://blog.example.tw/atom.xml");
    assert_eq!(big5.reading.format, "Atom 0.3");
    assert_eq!(big5.reading.encoding, "Big5");
    assert_eq!(big5.title.as_deref(), Some("臺北生活筆記"));
    assert_eq!(titles(&big5), ["捷運新路線通車", "夜市美食地圖"]);
    assert_eq!(big5.items[0].text, "新路線今天正式通車，沿線居民期待已久。");
    assert_eq!(big5.items[1].text, "整理了十家值得一試的攤位。");
    assert_eq!(big5.items[0].link.as_deref(), Some("https://blog.example.tw/1"));
    assert_eq!(big5.items[0].guid.as_deref(), Some("tag:blog.example.tw,2026:1"));
    // issued → published, modified → updated (later, so kept).
    assert_eq!(
        big5.items[0].published.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-11-30T00:00:00+00:00")
    );
    assert!(big5.items[0].updated.is_some());
    assert!(
        big5.reading
            .degradations
            .iter()
            .any(|d| d == "Atom 0.3 read as Atom 1.0")
    );

    let sjis = parse("atom03-shift_jis.xml", "https://blog.example.jp/atom.xml");
    assert_eq!(sjis.reading.encoding, "Shift_JIS");
    assert_eq!(titles(&sjis), ["新しい駅が開業しました", "紅葉の季節"]);
}

#[test]
fn an_undeclared_gb2312_feed_is_detected_not_mojibake() {
    let parsed = parse("rss-gb2312-undeclared.xml", "https://news.example.cn/rss.xml");
    assert_eq!(parsed.reading.how, "detected from the bytes (no usable label)");
    assert_eq!(parsed.reading.encoding, "gb18030");
    assert_eq!(
        titles(&parsed),
        ["国务院常务会议部署稳经济措施", "铁路部门增开列车应对客流高峰"]
    );
    assert_eq!(parsed.title.as_deref(), Some("新闻中心"));
}

#[test]
fn a_mac_cyrillic_label_is_understood() {
    let parsed = parse("rss-maccyrillic.xml", "https://news.example.ru/rss");
    assert_eq!(parsed.reading.encoding, "x-mac-cyrillic");
    assert_eq!(titles(&parsed), ["В Москве открылась новая станция метро"]);
}

#[test]
fn namespaced_and_prefixed_rss_read_as_plain_rss() {
    let parsed = parse("rss-namespaced.xml", "http://scripting.example/rss.xml");
    assert_eq!(titles(&parsed), ["Namespaced item one", "Namespaced item two"]);
    assert_eq!(
        parsed.items[1].link.as_deref(),
        Some("http://scripting.example/2")
    );
    let prefixed = parse("rss-prefixed.xml", "http://prefixed.example/rss.xml");
    assert_eq!(titles(&prefixed), ["Prefixed item"]);
    assert_eq!(prefixed.title.as_deref(), Some("Prefixed"));
}

#[test]
fn rss_0_90_and_items_outside_the_channel_are_read() {
    let old = parse("rss091-items-outside.xml", "http://old.example/rss");
    assert_eq!(titles(&old), ["Outside one", "Outside two"]);
    let netscape = parse("rss090.rdf", "http://ns.example/rss");
    assert_eq!(netscape.reading.format, "RSS 0.90");
    assert_eq!(titles(&netscape), ["RSS 0.90 item", "Item without a link"]);
    assert_eq!(netscape.items[1].link, None, "the marker that kept it is gone");
}

#[test]
fn json_feed_version_1_url_and_wrong_typed_fields_keep_the_feed() {
    let parsed = parse("jsonfeed-version1-url.json", "https://notes.example/feed.json");
    assert_eq!(titles(&parsed), ["First note", "Second note"]);
    assert_eq!(parsed.items[0].guid.as_deref(), Some("1"));
    assert_eq!(parsed.items[0].categories, ["rust", "feeds"]);
    let said = parsed.reading.degradations.join("\n");
    assert!(said.contains("read as 1.1"), "{said}");
    assert!(
        said.contains("item 2: date_published is not text: dropped"),
        "{said}"
    );
}

#[test]
fn one_unreadable_entry_does_not_cost_the_feed() {
    let parsed = parse("atom-one-unreadable-entry.xml", "https://mixed.example/atom");
    assert_eq!(titles(&parsed), ["Readable entry", "Custom typed title"]);
    assert_eq!(parsed.items[1].text, "Encoded body", "base64 content decoded");
    assert!(!parsed.reading.degradations.is_empty());
}

#[test]
fn a_gzip_compressed_file_is_read_and_an_unreadable_one_named() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = std::fs::read(fixture("rss-namespaced.xml")).expect("fixture");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).expect("compress");
    let packed = dir.path().join("feed.xml.gz");
    std::fs::write(&packed, encoder.finish().expect("compress")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_feed-digest"))
        .args(["fetch", &packed.display().to_string(), "--json"])
        .output()
        .expect("run fetch");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["items"].as_array().map(Vec::len), Some(2));
    // Cut short: the message names gzip, not JSON or XML.
    let broken = dir.path().join("broken.xml.gz");
    std::fs::write(&broken, &std::fs::read(&packed).expect("read")[..30]).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_feed-digest"))
        .args(["fetch", &broken.display().to_string()])
        .output()
        .expect("run fetch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("gzip-compressed but does not decompress"),
        "{stderr}"
    );
}

#[test]
fn a_feed_whose_items_cannot_be_read_says_why_never_silently_empty() {
    let out = Command::new(env!("CARGO_BIN_EXE_feed-digest"))
        .args([
            "fetch",
            &fixture("unknown-namespace-atom.xml").display().to_string(),
            "--json",
        ])
        .output()
        .expect("run fetch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("Atom 1.0: the document holds 1 item but none could be read"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["format"], "Atom 1.0");
    assert!(
        report["empty"]
            .as_str()
            .is_some_and(|e| e.contains("none could be read"))
    );
    // A feed that really has no items stays quiet.
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.xml");
    std::fs::write(
        &empty,
        "<rss version=\"2.0\"><channel><title>Quiet</title></channel></rss>",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_feed-digest"))
        .args(["fetch", &empty.display().to_string()])
        .output()
        .expect("run fetch");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn the_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (body, expected) in [
        (
            "<rss version=\"2.0\"></rss>",
            "an <rss> document without a <channel>",
        ),
        (
            "<note><to>Tove</to></note>",
            "an XML document whose root is <note>",
        ),
    ] {
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, body).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        let err = parse_response(&bytes, None, None, &StripRules::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{body}: {err}");
    }
}
