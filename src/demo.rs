//! `feed-digest demo`: the whole pipeline on bundled sample feeds with an
//! embedded config and the file transport. Needs no server and no network.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};

pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

const SAMPLE_FEEDS: [(&str, &[u8]); 3] = [
    ("world-zh.xml", include_bytes!("../config/demo/world-zh.xml")),
    ("tech-en.atom", include_bytes!("../config/demo/tech-en.atom")),
    ("notes.json", include_bytes!("../config/demo/notes.json")),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Lays out `dir` afresh (sample feeds, empty state and mail folders) and
/// returns the demo config anchored there.
pub fn prepare(dir: &Path) -> Result<Config, DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    for sub in ["state", "mail"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    let feeds = dir.join("feeds");
    std::fs::create_dir_all(&feeds).map_err(io(&feeds))?;
    for (name, bytes) in SAMPLE_FEEDS {
        let path = feeds.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    let base = std::path::absolute(dir).map_err(io(dir))?;
    Ok(Config::parse(
        DEMO_CONFIG,
        Some(Path::new("<embedded demo.toml>")),
        &base,
        &[],
    )?)
}
