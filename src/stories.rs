//! Is this the same story? Articles from different outlets about one event
//! are folded into one digest entry. Pure: no I/O.
//!
//! Text becomes weighted terms: Chinese (and Japanese, Korean) runs give
//! character bigrams, so no segmenter or dictionary is needed; other scripts
//! give words without stop words; numbers stay whole ("7.1", "1000").
//! Traditional characters and full-width forms are folded first. Terms are
//! weighted by inverse document frequency over the articles at hand (a term
//! every article shares says little), the title counts double, and two
//! articles are compared by cosine similarity. That cosine, what the titles
//! name (`evidence`: two quakes of different magnitudes are two stories) and,
//! with the optional sentence encoder, the titles' closeness in meaning are
//! combined by [`judge`]; its weights and thresholds come from the labelled
//! pairs in `tests/fixtures/stories/` (see `docs/stories.md`).

mod encoder;
mod evidence;
mod packed;

pub use encoder::{
    DIM, Embed, Embedding, Encoder, EncoderError, NpzError, SpModelError, TOKENIZER_FILE, WEIGHTS_FILE,
    embedding_cosine, files_from_wheel, near_pairs,
};
pub use evidence::{Relation, Specifics};
pub use packed::Packed;

use std::collections::HashMap;

/// Terms per article used to find candidate stories.
const KEY_TERMS: usize = 16;
/// Leads compared per key term at most (the most recent ones).
const MAX_POSTINGS: usize = 64;

/// Pseudo-documents that smooth document frequencies in small corpora.
const PRIOR_DOCS: f32 = 100.0;

/// How much of an article's text counts (the lede carries the event).
const SUMMARY_CHARS: usize = 400;
const TITLE_WEIGHT: f32 = 2.0;

/// One article's terms: (term hash, count) sorted by hash, split by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    /// Every term with its weight before IDF (title terms count double).
    all: Vec<(u64, f32)>,
    /// Latin-script words and numbers only, for comparing across languages.
    latin: Vec<u64>,
    /// Most of the title is Chinese, Japanese or Korean.
    cjk: bool,
    specifics: Specifics,
}

/// Document frequencies over the articles being compared.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    df: HashMap<u64, u32>,
    docs: u32,
}

/// An article's terms weighted by the corpus, normalised to length 1.
#[derive(Debug, Clone)]
pub struct Vector<'a> {
    weights: Vec<(u64, f32)>,
    terms: &'a Terms,
}

impl Terms {
    /// Most of the title is Chinese, Japanese or Korean.
    pub fn mostly_cjk(&self) -> bool {
        self.cjk
    }
}

pub fn terms(title: &str, summary: &str) -> Terms {
    let mut counts: HashMap<u64, f32> = HashMap::new();
    let mut latin = Vec::new();
    let mut cjk_chars = 0usize;
    let mut title_chars = 0usize;
    for (text, weight) in [(title, TITLE_WEIGHT), (summary, 1.0)] {
        let limited: String = text.chars().take(SUMMARY_CHARS).collect();
        // normalize folds traditional characters and full-width forms too.
        let folded = crate::topics::normalize(&limited);
        for token in tokens(&folded) {
            if weight == TITLE_WEIGHT {
                title_chars += token.text.chars().count();
                if token.cjk {
                    cjk_chars += token.text.chars().count();
                }
            }
            let hash = crate::fnv::fnv1a(token.text.bytes());
            if !token.cjk {
                latin.push(hash);
            }
            *counts.entry(hash).or_default() += weight;
        }
    }
    let mut all: Vec<(u64, f32)> = counts.into_iter().collect();
    all.sort_unstable_by_key(|(hash, _)| *hash);
    latin.sort_unstable();
    latin.dedup();
    let lead: String = summary.chars().take(SUMMARY_CHARS).collect();
    Terms {
        all,
        latin,
        cjk: cjk_chars * 2 > title_chars,
        specifics: evidence::specifics(title, &lead),
    }
}

impl Corpus {
    pub fn new<'a>(documents: impl IntoIterator<Item = &'a Terms>) -> Corpus {
        let mut corpus = Corpus::default();
        for terms in documents {
            corpus.add(terms);
        }
        corpus
    }

    pub fn add(&mut self, terms: &Terms) {
        self.docs += 1;
        for (hash, _) in &terms.all {
            *self.df.entry(*hash).or_default() += 1;
        }
    }

    fn idf(&self, hash: u64) -> f32 {
        let df = self.df.get(&hash).copied().unwrap_or(0) as f32;
        // As if PRIOR_DOCS more documents without the term had been seen: a
        // digest of five articles, three of them one story, must not make that
        // story's own words look common.
        ((self.docs as f32 + PRIOR_DOCS + 1.0) / (df + 0.5)).ln()
    }

    pub fn vector<'a>(&self, terms: &'a Terms) -> Vector<'a> {
        let mut weights: Vec<(u64, f32)> = terms
            .all
            .iter()
            .map(|(hash, tf)| (*hash, (1.0 + tf.ln()) * self.idf(*hash)))
            .collect();
        let norm = weights.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut weights {
                *w /= norm;
            }
        }
        Vector { weights, terms }
    }
}

impl Vector<'_> {
    /// The terms that say most about this article: the highest weights.
    fn key_terms(&self) -> Vec<u64> {
        let mut by_weight: Vec<&(u64, f32)> = self.weights.iter().collect();
        by_weight.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        by_weight.iter().take(KEY_TERMS).map(|(hash, _)| *hash).collect()
    }
}

/// Cosine similarity of two vectors (both of length 1).
pub fn cosine(a: &Vector<'_>, b: &Vector<'_>) -> f32 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.weights.len() && j < b.weights.len() {
        let (ha, wa) = a.weights[i];
        let (hb, wb) = b.weights[j];
        match ha.cmp(&hb) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += wa * wb;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}

/// Across languages: the share of the Chinese side's Latin terms (names,
/// numbers) that the other side has; None when both sides are one script
/// or there are too few such terms to judge.
pub fn across_scripts(a: &Vector<'_>, b: &Vector<'_>) -> Option<f32> {
    let (cjk, other) = match (a.terms.cjk, b.terms.cjk) {
        (true, false) => (a.terms, b.terms),
        (false, true) => (b.terms, a.terms),
        _ => return None,
    };
    if cjk.latin.len() < 2 {
        return None;
    }
    let shared = cjk
        .latin
        .iter()
        .filter(|h| other.latin.binary_search(h).is_ok())
        .count();
    (shared >= 2).then(|| shared as f32 / cjk.latin.len() as f32)
}

/// Everything the decision read, and its verdict: `preview --json` and
/// `topics explain` show it for each folded article.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Which scripts the two titles are mostly in.
    pub scripts: Scripts,
    /// Cosine of the weighted terms of title and lead.
    pub words: f32,
    /// Across scripts: the share of the Chinese side's Latin names and
    /// numbers that the other side has.
    pub across: Option<f32>,
    /// Cosine of the titles' sentence embeddings, when the model is loaded.
    pub meaning: Option<f32>,
    #[serde(flatten)]
    pub relation: Relation,
    /// The evidence combined, 0 to 1.
    pub score: f32,
    pub same: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scripts {
    /// Both mostly Chinese (or Japanese, Korean).
    Chinese = 0,
    /// Both mostly other scripts.
    Other = 1,
    /// One of each.
    Mixed = 2,
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "score {:.2}: words {:.2}", self.score, self.words)?;
        if let Some(share) = self.across {
            write!(f, ", names and numbers shared across languages {share:.2}")?;
        }
        if let Some(meaning) = self.meaning {
            write!(f, ", meaning of titles {meaning:.2}")?;
        }
        let r = &self.relation;
        let conflicts: Vec<&str> = [
            (r.ids_conflict || r.numbers_conflict, "numbers"),
            (r.dates_conflict, "dates"),
            (r.places_conflict, "places"),
            (r.names_conflict, "names"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
        if !conflicts.is_empty() {
            write!(f, ", titles differ in {}", conflicts.join(" and "))?;
        }
        if r.shared_names > 0 {
            write!(f, ", {} shared names", r.shared_names)?;
        }
        Ok(())
    }
}

/// Weights of a logistic rule over the signals, chosen on the tuning half
/// of the labelled pairs (`scripts/tune-stories.py`, docs/stories.md).
#[derive(Debug, Clone, Copy)]
struct Rule {
    bias: f32,
    words: f32,
    words_cjk: f32,
    across: f32,
    meaning: f32,
    meaning_across: f32,
    ids: f32,
    numbers: f32,
    dates: f32,
    places: f32,
    names: f32,
    shared: f32,
    /// The score from which two reports are one story, for Chinese, other
    /// and mixed pairs ([`Scripts`] order): chosen on a digest of the tuning
    /// half, where most comparisons are between unrelated reports.
    thresholds: [f32; 3],
}

const WORDS_ONLY: Rule = Rule {
    bias: -1.71,
    words: 8.30,
    words_cjk: -0.26,
    across: 4.03,
    meaning: 0.0,
    meaning_across: 0.0,
    ids: -6.96,
    numbers: -1.48,
    dates: -5.57,
    places: -2.40,
    names: -1.50,
    shared: -0.09,
    thresholds: [0.65, 0.80, 0.50],
};

const WITH_MEANING: Rule = Rule {
    bias: -3.03,
    words: 7.03,
    words_cjk: -0.03,
    across: 2.13,
    meaning: 3.07,
    meaning_across: 1.49,
    ids: -7.65,
    numbers: -1.53,
    dates: -6.10,
    places: -2.62,
    names: -1.48,
    shared: -0.11,
    thresholds: [0.65, 0.80, 0.45],
};

/// The score at which two reports are one story (by words only, or with
/// the titles' meaning).
pub fn threshold(with_meaning: bool, scripts: Scripts) -> f32 {
    let rule = if with_meaning { WITH_MEANING } else { WORDS_ONLY };
    rule.thresholds[scripts as usize]
}

/// Is `b` the same story as `a`? `meaning`: the cosine of their titles'
/// embeddings, when the model is loaded.
pub fn judge(a: &Vector<'_>, b: &Vector<'_>, meaning: Option<f32>) -> Scores {
    let across = across_scripts(a, b);
    let same_script = a.terms.cjk == b.terms.cjk;
    let relation = evidence::relate(&a.terms.specifics, &b.terms.specifics, same_script);
    let words = cosine(a, b);
    let rule = if meaning.is_some() {
        WITH_MEANING
    } else {
        WORDS_ONLY
    };
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    let m = meaning.unwrap_or(0.0);
    let z = rule.bias
        + rule.words * words
        + rule.words_cjk * words * flag(a.terms.cjk && b.terms.cjk)
        + rule.across * across.unwrap_or(0.0)
        + rule.meaning * m
        + rule.meaning_across * m * flag(!same_script)
        + rule.ids * flag(relation.ids_conflict)
        + rule.numbers * flag(relation.numbers_conflict)
        + rule.dates * flag(relation.dates_conflict)
        + rule.places * flag(relation.places_conflict)
        + rule.names * flag(relation.names_conflict)
        + rule.shared * f32::from(relation.shared_names);
    let score = 1.0 / (1.0 + (-z).exp());
    let scripts = match (a.terms.cjk, b.terms.cjk) {
        (true, true) => Scripts::Chinese,
        (false, false) => Scripts::Other,
        _ => Scripts::Mixed,
    };
    Scores {
        scripts,
        words,
        across,
        meaning,
        relation,
        score,
        same: score >= rule.thresholds[scripts as usize],
    }
}

struct Token<'a> {
    text: std::borrow::Cow<'a, str>,
    cjk: bool,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Bigrams of CJK runs, words and numbers of the rest.
fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if is_cjk(c) {
            // (`start` is for words; CJK runs index `chars`.)
            let mut end = i;
            while end < chars.len() && is_cjk(chars[end].1) {
                end += 1;
            }
            let run = &chars[i..end];
            // Single characters catch rewordings (降准 / 准备金), pairs catch words.
            for (at, ch) in run.iter().filter(|(_, ch)| !CJK_STOP.contains(ch)) {
                out.push(Token {
                    text: std::borrow::Cow::Borrowed(&text[*at..*at + ch.len_utf8()]),
                    cjk: true,
                });
            }
            for pair in run.windows(2) {
                let from = pair[0].0;
                let to = pair[1].0 + pair[1].1.len_utf8();
                out.push(Token {
                    text: std::borrow::Cow::Borrowed(&text[from..to]),
                    cjk: true,
                });
            }
            i = end;
        } else if c.is_alphanumeric() {
            let mut end = i;
            // A number keeps its decimal point and thousands separators.
            while end < chars.len() {
                let ch = chars[end].1;
                let inside_number = matches!(ch, '.' | ',')
                    && chars[i].1.is_ascii_digit()
                    && chars.get(end + 1).is_some_and(|(_, next)| next.is_ascii_digit());
                if (ch.is_alphanumeric() && !is_cjk(ch)) || inside_number {
                    end += 1;
                } else {
                    break;
                }
            }
            let to = chars.get(end).map_or(text.len(), |(at, _)| *at);
            let word = &text[start..to];
            i = end;
            if let Some(word) = word_term(word) {
                out.push(Token {
                    text: word,
                    cjk: false,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A word as a term: numbers without separators, no stop words, plural and
/// possessive endings removed.
fn word_term(word: &str) -> Option<std::borrow::Cow<'_, str>> {
    if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Some(std::borrow::Cow::Owned(word.replace(',', "")));
    }
    if word.chars().count() < 2 || STOP_WORDS.binary_search(&word).is_ok() {
        return None;
    }
    let stem = if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() > 2) {
        std::borrow::Cow::Owned(format!("{stem}y"))
    } else if word.ends_with("ss") || word.len() <= 3 {
        std::borrow::Cow::Borrowed(word)
    } else {
        std::borrow::Cow::Borrowed(word.strip_suffix('s').unwrap_or(word))
    };
    Some(stem)
}

/// Chinese function characters, too common to mean anything alone.
const CJK_STOP: &[char] = &[
    '的', '了', '在', '是', '和', '与', '及', '将', '已', '对', '为', '年', '月', '日',
];

/// English function words and newsroom filler (sorted, for binary search).
const STOP_WORDS: &[&str] = &[
    "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
    "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had",
    "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "if", "in", "into", "is",
    "it", "its", "just", "may", "more", "most", "new", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "out", "over", "own", "report", "reported", "reports", "said", "same",
    "says", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your",
];

/// One story: its lead (the first report) and the reports folded into it,
/// each with the scores that decided it; indices into the items.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub lead: usize,
    pub folded: Vec<(usize, Scores)>,
}

impl Group {
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.lead).chain(self.folded.iter().map(|(i, _)| *i))
    }
}

/// Reports further apart than this are never one story: news a week
/// apart is a new event, or a follow-up (which the digest marks apart).
pub const MAX_APART_SECONDS: i64 = 72 * 3600;

/// Titles at least this close in meaning are compared even when they share
/// no key term (a translation, a rewording).
const MEANING_CANDIDATE: f32 = 0.45;

/// Groups items (oldest first; `feeds[i]` is item i's feed, `times[i]` its
/// time in seconds (none: no limit), `vectors[i]` its
/// weighted terms, `titles[i]` its title's embedding when the model is
/// loaded) into stories: each item joins the best-scoring story whose lead
/// (first item) it matches and whose feeds do not include its own, else it
/// leads a new story. Comparing with the lead only keeps a chain of near
/// matches from pulling unrelated items together. Stories come in the order
/// of their leads.
pub fn fold(
    feeds: &[&str],
    times: &[i64],
    vectors: &[Vector<'_>],
    titles: Option<&[Embedding]>,
) -> Vec<Group> {
    fold_with(feeds, times, vectors, titles, &|scores| scores.same)
}

/// [`fold`] with another decision over the scores (to measure other
/// thresholds or rules).
pub fn fold_with(
    feeds: &[&str],
    times: &[i64],
    vectors: &[Vector<'_>],
    titles: Option<&[Embedding]>,
    same: &dyn Fn(&Scores) -> bool,
) -> Vec<Group> {
    // Leads are indexed by their key terms; an item is compared only with
    // leads sharing one of its own, or close in meaning: two reports of one
    // story share their most telling terms or their sense, and the work
    // stays near linear.
    let near = titles.map(|t| near_pairs(t, MEANING_CANDIDATE));
    let mut by_term: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut stories: Vec<Group> = Vec::new();
    // The story each item leads, if any.
    let mut leads: Vec<Option<usize>> = vec![None; vectors.len()];
    // `visited[story] == stamp`: already compared with the current item.
    let mut visited: Vec<usize> = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        let stamp = index + 1;
        let mut chosen: Option<(usize, Scores)> = None;
        let keys = vector.key_terms();
        let by_meaning = near
            .as_ref()
            .map(|near| {
                near[index]
                    .iter()
                    .filter_map(|j| leads[*j as usize])
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let by_words = keys
            .iter()
            .filter_map(|hash| by_term.get(hash))
            .flat_map(|leads| leads.iter().rev().take(MAX_POSTINGS).copied());
        for story in by_meaning.into_iter().chain(by_words) {
            if visited[story] == stamp {
                continue;
            }
            visited[story] = stamp;
            let group = &stories[story];
            let apart = |m: usize| match (times.get(m), times.get(index)) {
                (Some(a), Some(b)) => (a - b).abs() > MAX_APART_SECONDS,
                _ => false,
            };
            if group.members().any(|m| feeds[m] == feeds[index] || apart(m)) {
                continue;
            }
            let meaning = titles.map(|t| embedding_cosine(&t[group.lead], &t[index]));
            let scores = judge(&vectors[group.lead], vector, meaning);
            // Every report of a story names the same specifics: an item
            // that contradicts one already folded is another event.
            let contradicts = || {
                group.folded.iter().any(|(m, _)| {
                    let same_script = vectors[*m].terms.cjk == vector.terms.cjk;
                    evidence::relate(&vectors[*m].terms.specifics, &vector.terms.specifics, same_script)
                        .conflict()
                })
            };
            if same(&scores)
                && chosen.as_ref().is_none_or(|(_, best)| scores.score > best.score)
                && !contradicts()
            {
                chosen = Some((story, scores));
            }
        }
        match chosen {
            Some((story, scores)) => stories[story].folded.push((index, scores)),
            None => {
                for hash in keys {
                    by_term.entry(hash).or_default().push(stories.len());
                }
                leads[index] = Some(stories.len());
                stories.push(Group {
                    lead: index,
                    folded: Vec::new(),
                });
                visited.push(0);
            }
        }
    }
    stories
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tokens: &[Token<'_>]) -> Vec<String> {
        tokens.iter().map(|t| t.text.to_string()).collect()
    }

    #[test]
    fn chinese_gives_bigrams_and_latin_gives_words() {
        assert_eq!(
            texts(&tokens("朝鲜的导弹")),
            ["朝", "鲜", "导", "弹", "朝鲜", "鲜的", "的导", "导弹"]
        );
        assert_eq!(
            texts(&tokens("the quakes of magnitude 7.1 hit 1,200 homes")),
            ["quake", "magnitude", "7.1", "hit", "1200", "home"]
        );
        assert_eq!(
            texts(&tokens("openai发布gpt-5")),
            ["openai", "发", "布", "发布", "gpt", "5"]
        );
    }

    #[test]
    fn reports_days_apart_are_not_one_story() {
        let items = [
            (
                "a",
                "日本北海道发生7.1级地震 暂无海啸预警",
                "日本气象厅称，北海道东部海域发生7.1级地震。",
            ),
            (
                "b",
                "北海道东部海域7.1级地震 日本气象厅未发布海啸预警",
                "日本北海道东部海域今晨发生7.1级地震。",
            ),
        ];
        let feeds: Vec<&str> = items.iter().map(|(feed, _, _)| *feed).collect();
        let all: Vec<Terms> = items.iter().map(|(_, t, s)| terms(t, s)).collect();
        let corpus = Corpus::new(&all);
        let vectors: Vec<Vector<'_>> = all.iter().map(|t| corpus.vector(t)).collect();
        let hours = |h: i64| h * 3600;
        assert_eq!(fold(&feeds, &[0, hours(5)], &vectors, None).len(), 1);
        assert_eq!(fold(&feeds, &[0, hours(73)], &vectors, None).len(), 2);
    }

    #[test]
    fn traditional_and_full_width_fold_before_comparing() {
        let a = terms("朝鮮發射導彈", "");
        let b = terms("朝鲜发射导弹", "");
        assert_eq!(a.all, b.all);
        assert_eq!(terms("ＧＰＴ－５", "").all, terms("gpt-5", "").all);
    }

    #[test]
    fn folding_keeps_one_item_per_feed_and_follows_the_lead() {
        let items = [
            (
                "a",
                "日本北海道发生7.1级地震 暂无海啸预警",
                "日本气象厅称，北海道东部海域发生7.1级地震。",
            ),
            (
                "b",
                "北海道东部海域7.1级地震 日本气象厅未发布海啸预警",
                "日本北海道东部海域今晨发生7.1级地震。",
            ),
            ("a", "北海道地震后续：多地停电", "北海道7.1级地震后多地停电。"),
            (
                "c",
                "Rust 1.95 released with new lints",
                "The Rust team shipped version 1.95.",
            ),
        ];
        let feeds: Vec<&str> = items.iter().map(|(feed, _, _)| *feed).collect();
        let all: Vec<Terms> = items
            .iter()
            .map(|(_, title, summary)| terms(title, summary))
            .collect();
        let corpus = Corpus::new(&all);
        let vectors: Vec<Vector<'_>> = all.iter().map(|t| corpus.vector(t)).collect();
        let stories: Vec<Vec<usize>> = fold(&feeds, &[], &vectors, None)
            .iter()
            .map(|g| g.members().collect())
            .collect();
        assert_eq!(stories[0], [0, 1], "{stories:?}");
        assert!(stories.iter().any(|s| s == &[3]));
        assert!(
            !stories[0].contains(&2),
            "the same feed never folds into its own story"
        );
    }
}
