//! Rendering benchmark: 1,000 digests of 50 articles, half of them Chinese,
//! through the real model builder and templates (with the size budget).
//!
//! ```sh
//! cargo bench --bench render
//! ```
//!
//! Figures are printed; docs/benchmarks.md records them.

use std::time::Instant;

use chrono::{Duration, Utc};

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::config::Config;
use feed_digest::digest::render::{HTML_BUDGET, render_within};
use feed_digest::digest::{self, Context};

const ZH: &str = "https://news.example.cn/world.xml";
const EN: &str = "https://tech.example.org/atom.xml";

fn config() -> Config {
    let text = r#"
state_dir = "/tmp/unused"
[delivery]
transport = "file"
dir = "/tmp/unused"
[[feeds]]
url = "https://news.example.cn/world.xml"
name = "示例新闻"
[[feeds]]
url = "https://tech.example.org/atom.xml"
name = "Tech Weekly"
[[topics]]
name = "朝鲜半岛"
keywords = ["朝鲜", "North Korea"]
[[topics]]
name = "Rust"
keywords = ["rust", "compiler"]
[[subscribers]]
email = "alice@example.org"
timezone = "Asia/Shanghai"
language = "zh-CN"
"#;
    match Config::parse(text, None, std::path::Path::new("/"), &[]) {
        Ok(config) => config,
        Err(err) => panic!("bench config: {err}"),
    }
}

fn articles(n: usize) -> Vec<Article> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let chinese = i % 2 == 0;
            let (feed, title, text) = if chinese {
                (
                    ZH,
                    format!("朝鲜与邻国举行第{i}轮高层会谈，双方同意扩大铁路合作"),
                    "本周二，朝鲜代表团抵达边境城市，与邻国官员就跨境铁路项目举行了为期两天的会谈。双方在联合声明中表示，将在明年春季之前完成一段线路的检修工作。分析人士认为，这次会谈显示出两国在经济领域寻求更紧密合作的意愿。".repeat(3),
                )
            } else {
                (
                    EN,
                    format!("The Rust compiler gets faster, part {i}"),
                    "The compiler team merged a rewrite of the borrow checker's liveness analysis. Early numbers show check builds on large crates finishing noticeably faster, with no change to what the checker accepts. ".repeat(3),
                )
            };
            let item = Item {
                guid: Some(format!("item-{i}")),
                link: Some(format!("https://example.org/articles/{i}")),
                title,
                text,
                published: Some(now - Duration::minutes(i as i64)),
                updated: None,
                categories: vec!["World".to_owned()],
                image: (i % 3 == 0).then(|| format!("https://images.example.org/{i}.jpg")),
            };
            Article {
                id: ArticleId::for_item(feed, &item, false),
                feed_key: feed.to_owned(),
                title: item.title.clone(),
                link: item.link.clone(),
                text: item.text.clone(),
                published: item.published,
                categories: item.categories.clone(),
                first_seen: now,
                also_in: if i % 7 == 0 { vec![EN.to_owned()] } else { Vec::new() },
                routed: Vec::new(),
                updated: None,
                image: item.image,
                meaning: None,
            }
        })
        .collect()
}

fn main() {
    let config = config();
    let Some(subscriber) = config.subscribers.first() else {
        panic!("bench config has no subscriber");
    };
    let articles = articles(50);
    let context = Context {
        feed_names: config
            .feeds
            .iter()
            .map(|f| (f.key.clone(), f.name.clone().unwrap_or_default()))
            .collect(),
        ..Context::default()
    };
    let digests = 1000;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..digests {
        let model = digest::build(&config, subscriber, &articles, &context, Utc::now());
        match render_within(&model, HTML_BUDGET) {
            Ok(rendered) => bytes += rendered.html.len() + rendered.text.len(),
            Err(err) => panic!("render: {err}"),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "render: {digests} digests of 50 articles (half Chinese) in {:.2} s = {:.0} µs per digest (model + HTML + text; {} KB HTML+text each)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / digests as f64,
        bytes / digests / 1024
    );
}
