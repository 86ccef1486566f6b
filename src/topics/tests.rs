//! Table-driven tests of the topic rules, Chinese and English.

use super::*;
use crate::config::{FeedConfig, FeedSource};

fn topic(name: &str) -> Topic {
    Topic::named(name)
}

fn words(list: &[&str]) -> Vec<Keyword> {
    list.iter().map(|k| Keyword::new(k)).collect()
}

fn categories(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| normalize(k)).collect()
}

fn text<'a>(title: &'a str, body: &'a str) -> ArticleText<'a> {
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
        keywords: words(&["朝鲜", "north korea", "AI"]),
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
        categories: categories(&["World", "国际"]),
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
        exclude_keywords: words(&["足球", "crypto"]),
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
fn a_keyword_with_a_capital_is_case_sensitive() {
    for (written, sensitive, as_matched) in [
        ("Go", true, "Go"),
        ("GO", true, "GO"),
        ("AI", true, "AI"),
        ("iOS", true, "iOS"),
        ("WWDC", true, "WWDC"),
        ("ＡＩ", true, "AI"),        // full-width folds first, then has capitals
        ("ｒｕｓｔ", false, "rust"), // full-width lower case: any case
        ("rust", false, "rust"),
        ("kubernetes", false, "kubernetes"),
        ("朝鲜", false, "朝鲜"),
        ("朝鮮", false, "朝鲜"), // traditional folds to simplified either way
        ("5g", false, "5g"),
        ("5G", true, "5G"),
    ] {
        let keyword = Keyword::new(written);
        assert_eq!(keyword.is_case_sensitive(), sensitive, "{written:?}");
        assert_eq!(keyword.as_str(), as_matched, "{written:?}");
    }
}

#[test]
fn case_sensitive_keywords_match_that_case_only() {
    let go = Topic {
        keywords: words(&["Go"]),
        ..topic("programming")
    };
    let cases: &[(&str, &str, bool)] = &[
        ("Go 1.24 released", "", true),
        ("", "Written in Go, it compiles fast", true),
        ("Apple's new Mac is ready to go", "", false), // the verb
        ("GO!", "", false),                            // exact case: `Go` is not `GO`
        ("Ｇｏ 1.24 released", "", true),              // full-width folds, case kept
        ("Gopher day", "", false),                     // still whole words
        ("Google I/O", "", false),
    ];
    for (title, text, expected) in cases {
        check(&go, title, text, &[], *expected);
    }
    let shouting = Topic {
        keywords: words(&["GO"]),
        ..topic("shouting")
    };
    check(&shouting, "GO!", "", &[], true);
    check(&shouting, "Go 1.24 released", "", &[], false);
    check(&shouting, "ready to go", "", &[], false);
}

#[test]
fn lower_case_keywords_match_any_case() {
    let rule = Topic {
        keywords: words(&["rust", "go"]),
        ..topic("r")
    };
    check(&rule, "Rust 1.90 released", "", &[], true);
    check(&rule, "RUST everywhere", "", &[], true);
    check(&rule, "ready to GO", "", &[], true);
    check(&rule, "Trusted builds", "", &[], false);
}

#[test]
fn full_width_capital_keywords_are_case_sensitive() {
    let rule = Topic {
        keywords: words(&["ＡＩ"]),
        ..topic("ai")
    };
    check(&rule, "New AI model", "", &[], true);
    check(&rule, "ＡＩ 新模型发布", "", &[], true);
    check(&rule, "ai 新模型发布", "", &[], false);
    check(&rule, "ａｉ 新模型发布", "", &[], false);
    check(&rule, "He said so", "", &[], false);
}

#[test]
fn chinese_keywords_are_unchanged_by_case_rules() {
    let rule = Topic {
        keywords: words(&["人工智能", "臺灣"]),
        ..topic("zh")
    };
    check(&rule, "人工智能新规出台", "", &[], true);
    check(&rule, "人工智慧", "", &[], false);
    check(&rule, "臺灣大選", "", &[], true); // traditional text, traditional keyword
    check(&rule, "台湾大选", "", &[], true); // simplified text
    let simplified = Topic {
        keywords: words(&["经济"]),
        ..topic("economy")
    };
    check(&simplified, "經濟數據公布", "", &[], true); // traditional text
    // A case-sensitive keyword folds traditional text too.
    let mixed = Topic {
        keywords: words(&["AI芯片"]),
        ..topic("chips")
    };
    assert!(mixed.keywords.iter().all(Keyword::is_case_sensitive));
    check(&mixed, "新款AI芯片發布", "", &[], true);
    check(&mixed, "新款ＡＩ芯片", "", &[], true); // full-width folds, case kept
    check(&mixed, "新款ai芯片发布", "", &[], false);
}

#[test]
fn all_and_exclude_follow_the_same_case_rule() {
    let rule = Topic {
        keywords: words(&["release"]),
        all: words(&["Go"]),
        exclude: words(&["WWDC"]),
        ..topic("r")
    };
    check(&rule, "Go 1.24 release notes", "", &[], true);
    check(&rule, "A release ready to go", "", &[], false); // `all` wants "Go"
    check(&rule, "Go release shown at WWDC", "", &[], false);
    check(&rule, "Go release, not at wwdc", "", &[], true); // `exclude` wants "WWDC"
    let lower = Topic {
        keywords: words(&["release"]),
        all: words(&["go"]),
        exclude: words(&["wwdc"]),
        ..topic("l")
    };
    check(&lower, "A release ready to GO", "", &[], true);
    check(&lower, "Go release shown at WWDC", "", &[], false);
}

#[test]
fn subscriber_exclude_keywords_follow_the_same_case_rule() {
    let subscriber = Filter {
        exclude_keywords: words(&["Go", "crypto"]),
        ..Filter::default()
    };
    assert!(!wants(&subscriber, "f", &[], &text("Go 1.24 released", "")));
    assert!(!wants(&subscriber, "f", &[], &text("News", "written in Ｇｏ")));
    assert!(wants(&subscriber, "f", &[], &text("Ready to go", "")));
    assert!(wants(&subscriber, "f", &[], &text("GO!", "")));
    assert!(!wants(&subscriber, "f", &[], &text("CRYPTO crash", "")));
}

#[test]
fn explain_names_the_case_mode() {
    let topics = [
        Topic {
            keywords: words(&["Go"]),
            ..topic("programming")
        },
        Topic {
            keywords: words(&["rust"]),
            all: words(&["compiler", "LLVM"]),
            ..topic("rust")
        },
        Topic {
            keywords: words(&["导弹"]),
            exclude: words(&["Game"]),
            ..topic("安全")
        },
    ];
    let why = explain(
        &topics,
        feed(&[]).topic_source(),
        &text("Go and Rust compiler share LLVM; 导弹", ""),
    );
    let reasons: Vec<&str> = why.iter().map(|m| m.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "keyword \"Go\" (case-sensitive)",
            "keyword \"rust\" (any case), all of [\"compiler\" (any case), \"LLVM\" (case-sensitive)]",
            "keyword \"导弹\", none of [\"Game\" (case-sensitive)]",
        ]
    );
}

#[test]
fn regexes_see_the_case_and_can_ask_for_it() {
    let build = |pattern: &str| {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let any_case = Topic {
        regex: vec![build(r"\bgo\s+\d")],
        ..topic("any")
    };
    check(&any_case, "GO 1.24", "", &[], true);
    check(&any_case, "Go 1.24", "", &[], true);
    let exact = Topic {
        regex: vec![build(r"(?-i)\bGo\b")],
        ..topic("exact")
    };
    check(&exact, "Go 1.24 released", "", &[], true);
    check(&exact, "Ｇｏ 1.24 released", "", &[], true);
    check(&exact, "ready to go", "", &[], false);
    check(&exact, "GO!", "", &[], false);
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

#[test]
fn folding_is_one_pass_over_both_variant_kinds() {
    // Full-width letters, the ideographic space and traditional characters,
    // mixed, each folded where it stands; the case is kept.
    assert_eq!(fold_forms("ＡＩ　朝鮮 Go"), "AI 朝鲜 Go");
    assert_eq!(fold_forms("plain ascii"), "plain ascii");
    assert_eq!(normalize("ＡＩ　經濟 ÉTÉ"), "ai 经济 été");
}

#[test]
fn lower_case_is_a_character_at_a_time_even_for_sigma() {
    // The standard lower-casing gives a final sigma (ς) at the end of a
    // word; one character at a time gives σ, so a text's parts lower-case
    // as the whole does.
    assert_eq!(normalize("ΣΟΦΟΣ"), "σοφοσ");
    assert_eq!(
        normalize("ΣΟΦΟΣ ΑΙ"),
        format!("{} {}", normalize("ΣΟΦΟΣ"), normalize("ΑΙ"))
    );
    assert_eq!(normalize("Ünïcode ÄÖ"), "ünïcode äö");
}

#[test]
fn nothing_is_folded_until_a_rule_reads_it() {
    let labels = vec!["Tech".to_owned()];
    let article = ArticleText::new("Title", "Body", &labels);
    let topic_on_titles = Topic {
        keywords: words(&["title"]),
        fields: Fields {
            title: true,
            text: false,
            categories: false,
            feed: false,
        },
        ..topic("titles")
    };
    // No topics and no subscriber keywords: no field folded.
    assert!(classify(&[], feed(&[]).topic_source(), &article).is_empty());
    let anyone = Filter::default();
    assert!(wants(&anyone, "f", &[], &article));
    assert!(article.title.forms.get().is_none());
    assert!(article.text.forms.get().is_none());
    assert!(article.folded_categories.get().is_none());
    // A topic of feed categories folds the categories only.
    let by_category = Topic {
        categories: categories(&["tech"]),
        ..topic("tech")
    };
    let found = classify(&[by_category], feed(&[]).topic_source(), &article);
    assert_eq!(found, ["tech"]);
    assert!(article.title.forms.get().is_none());
    assert!(article.text.forms.get().is_none());
    assert!(article.folded_categories.get().is_some());
    // A rule on titles folds the title only.
    let found = classify(&[topic_on_titles], feed(&[]).topic_source(), &article);
    assert_eq!(found, ["titles"]);
    assert!(article.title.forms.get().is_some());
    assert!(article.text.forms.get().is_none());
}

#[test]
fn a_regex_in_traditional_characters_or_full_width_matches_the_folded_text() {
    for (pattern, folded) in [
        ("朝鮮", "朝鲜"),
        ("北韓", "北韩"),
        ("ＡＩ", "AI"),
        ("（重要）", r"\(重要\)"),
        (r"\bCVE-\d+", r"\bCVE-\d+"),
    ] {
        assert_eq!(fold_pattern(pattern), folded, "{pattern}");
        let regex = regex::RegexBuilder::new(&fold_pattern(pattern))
            .case_insensitive(true)
            .build()
            .unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let text = fold_forms("朝鮮發射導彈 北韓 ＡＩ 監測（重要） CVE-2026");
        assert!(regex.is_match(&text), "{pattern} on {text}");
    }
}
