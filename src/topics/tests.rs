//! Table-driven tests of the topic rules, Chinese and English.

use super::*;
use crate::config::{FeedConfig, FeedSource};

fn topic(name: &str) -> Topic {
    Topic::named(name)
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| normalize(k)).collect()
}

fn text(title: &str, body: &str) -> ArticleText {
    ArticleText::new(title, body, &[])
}

fn feed(topics: &[&str]) -> FeedConfig {
    FeedConfig {
        key: "f".to_owned(),
        source: FeedSource::File("f.xml".into()),
        name: Some("Example Feed".to_owned()),
        interval: None,
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        strip: Default::default(),
    }
}

#[track_caller]
fn check(rule: &Topic, title: &str, text: &str, categories: &[&str], expected: bool) {
    let categories: Vec<String> = categories.iter().map(|c| (*c).to_owned()).collect();
    let found = !classify(
        std::slice::from_ref(rule),
        feed(&[]).topic_source(),
        &ArticleText::new(title, text, &categories),
    )
    .is_empty();
    assert_eq!(
        found, expected,
        "{:?} on title {title:?} text {text:?}",
        rule.name
    );
}

#[test]
fn keywords_any_of() {
    let korea = Topic {
        keywords: words(&["朝鲜", "North Korea", "AI"]),
        ..topic("k")
    };
    let cases: &[(&str, &str, bool)] = &[
        ("朝鲜与邻国会谈", "", true),
        ("", "正文提到朝鲜半岛局势", true),
        ("Talks with north korea", "", true),
        ("NORTH KOREA launches", "", true),
        ("New AI model", "", true),
        ("He said so", "", false),            // English matches whole words
        ("ＡＩ 新模型发布", "", true),        // full-width folds to half-width
        ("Ｎｏｒｔｈ　Ｋｏｒｅａ", "", true), // full-width letters and space
        ("韩国大选", "", false),
        ("朝鮮與鄰國會談", "", true),         // traditional folds to simplified
        ("", "北韓稱朝鮮半島局勢緊張", true), // in the text too
    ];
    for (title, text, expected) in cases {
        check(&korea, title, text, &[], *expected);
    }
}

#[test]
fn traditional_keywords_match_simplified_text() {
    let rule = Topic {
        keywords: words(&["臺灣", "經濟"]),
        ..topic("t")
    };
    check(&rule, "台湾选举", "", &[], true);
    check(&rule, "经济数据公布", "", &[], true);
    check(&rule, "臺灣經濟", "", &[], true);
    check(&rule, "香港新闻", "", &[], false);
}

#[test]
fn all_and_exclude() {
    let rule = Topic {
        keywords: words(&["rust"]),
        all: words(&["compiler"]),
        exclude: words(&["game", "游戏"]),
        ..topic("r")
    };
    check(&rule, "Rust compiler gets faster", "", &[], true);
    check(&rule, "Rust 2026 roadmap", "", &[], false); // no "compiler"
    check(&rule, "Rust compiler in a game engine", "", &[], false);
    check(&rule, "Rust compiler 用于游戏开发", "", &[], false);
    let only_all = Topic {
        all: words(&["美联储", "利率"]),
        ..topic("a")
    };
    check(&only_all, "美联储维持利率不变", "", &[], true);
    check(&only_all, "美联储主席讲话", "", &[], false);
}

#[test]
fn regex_is_case_insensitive_over_normalized_text() {
    let rule = Topic {
        regex: vec![
            regex::RegexBuilder::new(r"\bCVE-\d{4}-\d+")
                .case_insensitive(true)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        ],
        ..topic("security")
    };
    check(&rule, "Patch for cve-2026-12345 released", "", &[], true);
    check(&rule, "Patch for ＣＶＥ－２０２６－１２３４５", "", &[], true);
    check(&rule, "No identifiers here", "", &[], false);
}

#[test]
fn fields_limit_where_keywords_are_looked_for() {
    let title_only = Topic {
        keywords: words(&["rust"]),
        fields: Fields {
            title: true,
            text: false,
            categories: false,
            feed: false,
        },
        ..topic("t")
    };
    check(&title_only, "Rust news", "", &[], true);
    check(&title_only, "News", "about rust", &["rust"], false);
    let by_feed = Topic {
        keywords: words(&["example feed"]),
        fields: Fields {
            title: false,
            text: false,
            categories: false,
            feed: true,
        },
        ..topic("f")
    };
    check(&by_feed, "anything", "", &[], true);
}

#[test]
fn feed_categories_map_to_topics() {
    let world = Topic {
        categories: words(&["World", "国际"]),
        ..topic("World")
    };
    check(&world, "Anything", "", &["world"], true);
    check(&world, "Anything", "", &["国际"], true);
    check(&world, "Anything", "", &["Worldwide"], false);
}

#[test]
fn priority_beats_config_order_and_feed_topics_always_apply() {
    let general = Topic {
        keywords: words(&["朝鲜"]),
        ..topic("国际")
    };
    let urgent = Topic {
        keywords: words(&["导弹"]),
        priority: 10,
        ..topic("安全")
    };
    let topics = [general, urgent, topic("来源")];
    let found = classify(&topics, feed(&["来源"]).topic_source(), &text("朝鲜发射导弹", ""));
    assert_eq!(found, ["安全", "国际", "来源"]);
    let why = explain(&topics, feed(&["来源"]).topic_source(), &text("朝鲜发射导弹", ""));
    assert_eq!(why[0].reason, "keyword \"导弹\"");
    assert_eq!(why[2].reason, "feed \"Example Feed\" assigns it");
}

#[test]
fn subscribers_can_exclude_topics_and_keywords() {
    let subscriber = Filter {
        exclude_topics: vec!["Sports".to_owned()],
        exclude_keywords: words(&["足球", "Crypto"]),
        ..Filter::default()
    };
    assert!(wants(
        &subscriber,
        "f",
        &["World".to_owned()],
        &text("Talks resume", "")
    ));
    assert!(!wants(
        &subscriber,
        "f",
        &["World".to_owned(), "Sports".to_owned()],
        &text("Match report", "")
    ));
    assert!(!wants(&subscriber, "f", &[], &text("国家队足球赛", "")));
    assert!(!wants(
        &subscriber,
        "f",
        &[],
        &text("News", "about ＣＲＹＰＴＯ markets")
    ));
    assert!(
        wants(&subscriber, "f", &[], &text("Cryptography lecture", "")),
        "whole words only"
    );
}

#[test]
fn one_article_text_serves_topics_with_different_fields() {
    let title_only = Topic {
        keywords: words(&["go"]),
        fields: Fields {
            title: true,
            text: false,
            categories: false,
            feed: false,
        },
        ..topic("title")
    };
    let everywhere = Topic {
        keywords: words(&["go"]),
        fields: Fields {
            title: true,
            text: true,
            categories: true,
            feed: true,
        },
        ..topic("everywhere")
    };
    let by_feed = Topic {
        keywords: words(&["example feed"]),
        fields: Fields {
            title: false,
            text: false,
            categories: false,
            feed: true,
        },
        ..topic("feed")
    };
    let categories = vec!["Go".to_owned()];
    let article = ArticleText::new("News", "nothing", &categories);
    let found = classify(
        &[title_only, everywhere, by_feed],
        feed(&[]).topic_source(),
        &article,
    );
    assert_eq!(found, ["everywhere", "feed"]);
}
