//! Story folding measured on the labelled pairs in
//! `tests/fixtures/stories/pairs.jsonl`: precision and recall of "same
//! story?", on the held-out half ("test") and in all. `cargo test stories --
//! --nocapture` prints the figures and a threshold sweep over the tuning half.
//!
//! Precision is the promise: a wrong fold hides an article. The issue's
//! recall target (0.85) is not reached: most missed pairs share almost no
//! words (rewrites, synonyms such as 降准 / 存款准备金率), which lexical
//! similarity cannot see (docs/stories.md). The floor below guards what we
//! have against regressions.

use std::collections::BTreeMap;

use serde::Deserialize;

use feed_digest::stories::{self, Corpus, Terms};

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

/// Every pair's terms, and the corpus of all items (the IDF a digest of a
/// few hundred articles would give).
fn prepared(pairs: &[Pair]) -> (Vec<(Terms, Terms)>, Corpus) {
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
    (terms, corpus)
}

#[test]
fn the_labelled_set_is_large_balanced_and_hard() {
    let pairs = pairs();
    let count = |f: &dyn Fn(&Pair) -> bool| pairs.iter().filter(|p| f(p)).count();
    let zh = count(&|p| p.lang == "zh");
    let en = count(&|p| p.lang == "en");
    assert!(zh + en >= 200 && zh >= 100 && en >= 100, "zh {zh}, en {en}");
    for lang in ["zh", "en"] {
        let same = count(&|p| p.lang == lang && p.same);
        let hard = count(&|p| p.lang == lang && p.kind == "hard-negative");
        let different = count(&|p| p.lang == lang && !p.same);
        assert!(
            same >= 40 && different >= 40,
            "{lang}: {same} same, {different} different"
        );
        assert!(
            hard * 2 >= different,
            "{lang}: {hard} hard negatives of {different}"
        );
    }
    let mut ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), pairs.len(), "ids are unique");
}

/// What the current method reaches on the held-out half (0.40 measured).
const RECALL_FLOOR: f64 = 0.35;

#[test]
fn same_story_is_precise_and_recall_does_not_regress() {
    let pairs = pairs();
    let (terms, corpus) = prepared(&pairs);
    let mut by_group: BTreeMap<String, Counts> = BTreeMap::new();
    let mut mistakes = Vec::new();
    for (pair, (a, b)) in pairs.iter().zip(&terms) {
        let (predicted, score) = stories::same_story(&corpus.vector(a), &corpus.vector(b));
        for group in [
            format!("{} {}", pair.split, pair.lang),
            format!("{} zh+en", pair.split),
            format!("all {}", pair.lang),
            "all zh+en".to_owned(),
        ] {
            if group.ends_with("zh+en") && pair.lang == "mixed" {
                continue;
            }
            by_group.entry(group).or_default().add(pair.same, predicted);
        }
        if predicted != pair.same {
            mistakes.push(format!(
                "{} ({}, {:.2}): {} | {}",
                pair.id, pair.kind, score, pair.a.title, pair.b.title
            ));
        }
    }
    for (group, counts) in &by_group {
        println!("{group:<14} {}", counts.line());
    }
    println!("{} mistakes:\n  {}", mistakes.len(), mistakes.join("\n  "));
    for group in ["test zh+en", "all zh+en"] {
        let counts = by_group[group];
        assert!(counts.precision() >= 0.95, "{group}: {}", counts.line());
        assert!(counts.recall() >= RECALL_FLOOR, "{group}: {}", counts.line());
    }
    // Pairs in different languages are judged on shared names and numbers only.
    assert!(
        by_group["all mixed"].precision() >= 0.95,
        "{}",
        by_group["all mixed"].line()
    );
}

#[test]
fn thresholds_are_the_ones_the_tuning_half_supports() {
    let pairs = pairs();
    let (terms, corpus) = prepared(&pairs);
    for (lang, chosen) in [("zh", stories::SAME_STORY_CJK), ("en", stories::SAME_STORY)] {
        let scored: Vec<(bool, f32)> = pairs
            .iter()
            .zip(&terms)
            .filter(|(p, _)| p.split == "tune" && p.lang == lang)
            .map(|(p, (a, b))| (p.same, stories::cosine(&corpus.vector(a), &corpus.vector(b))))
            .collect();
        // The lowest threshold (best recall) whose precision on tuning data is >= 0.97.
        let mut best = None;
        for step in (10..=80).rev() {
            let threshold = step as f32 / 100.0;
            let mut counts = Counts::default();
            for (truth, score) in &scored {
                counts.add(*truth, *score >= threshold);
            }
            if step % 5 == 0 {
                println!("{lang} cosine >= {threshold:.2}: {}", counts.line());
            }
            if counts.precision() >= 0.97 && counts.tp > 0 {
                best = Some(threshold);
            }
        }
        let best = best.unwrap_or(1.0);
        println!("{lang}: chosen {chosen:.2}, lowest precise threshold on tuning data {best:.2}");
        assert!(
            (chosen - best).abs() <= 0.05,
            "{lang}: threshold {chosen} is not what the tuning half supports ({best})"
        );
    }
}
