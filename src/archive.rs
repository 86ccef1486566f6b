//! Every sent digest as a static page, `archive_dir/NAME.html`: the same
//! rendering as the mail without its size budget, at an unguessable name
//! ([`crate::links::archive_name`]). The web endpoint serves the directory;
//! without it, any web server can (docs/web.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct ArchiveError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Whether `name` is one [`crate::links::archive_name`] makes: 32 lowercase
/// hex digits (so no path can be smuggled in).
pub fn is_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn page(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.html"))
}

/// Writes the page whole (a temporary file renamed). A page is readable by
/// anyone who knows its name (0644, whatever the umask) and the directory
/// can be entered but not listed (0711): a web server running as another
/// user serves a page by its name, and nobody learns the names. Whether
/// anyone else reaches the directory at all is up to its parents (the
/// default, inside `state_dir`, is private).
pub fn write(dir: &Path, name: &str, html: &str) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt as _;
    let err = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError { action, path, source }
    };
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(err("create the archive directory", dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .map_err(err("set the mode of the archive directory", dir))?;
    }
    let path = page(dir, name);
    let partial = dir.join(format!(".{name}.partial"));
    // On disk before the mail that links it leaves: the articles beyond the
    // mail's own leave pending with its 2xx, and live on this page alone.
    std::fs::File::create(&partial)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, html.as_bytes())?;
            file.sync_all()
        })
        .map_err(err("write the archive page", &partial))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644))
        .map_err(err("set the mode of the archive page", &partial))?;
    std::fs::rename(&partial, &path).map_err(err("write the archive page", &path))?;
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(err("sync the archive directory", dir))
}

/// The page named `name`, if there is one.
pub fn read(dir: &Path, name: &str) -> Result<Option<String>, ArchiveError> {
    if !is_name(name) {
        return Ok(None);
    }
    let path = page(dir, name);
    match std::fs::read_to_string(&path) {
        Ok(html) => Ok(Some(html)),
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ArchiveError {
            action: "read the archive page",
            path,
            source,
        }),
    }
}

/// Whether `file` is a page this module wrote.
fn is_page(file: &str) -> bool {
    file.strip_suffix(".html").is_some_and(is_name)
}

/// The directory's entries; none while no page was written.
fn entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, ArchiveError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().collect()),
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ArchiveError {
            action: "list the archive directory",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// How many pages the archive holds (0 before the first digest).
pub fn count(dir: &Path) -> Result<usize, ArchiveError> {
    Ok(entries(dir)?
        .iter()
        .filter(|e| e.file_name().to_str().is_some_and(is_page))
        .count())
}

/// Removes pages written more than `keep` before `now`; returns how many.
pub fn prune(dir: &Path, now: SystemTime, keep: Duration) -> Result<usize, ArchiveError> {
    let mut removed = 0;
    for entry in entries(dir)? {
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| is_page(n) || n.ends_with(".partial"));
        let written = entry.metadata().and_then(|m| m.modified()).ok();
        let old = written.is_some_and(|at| now.duration_since(at).is_ok_and(|age| age > keep));
        if ours && old {
            std::fs::remove_file(&path).map_err(|source| ArchiveError {
                action: "remove the archive page",
                path: path.clone(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_read_back_by_its_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let name = "0123456789abcdef0123456789abcdef";
        assert_eq!(count(&dir.path().join("none")).unwrap(), 0);
        write(dir.path(), name, "<p>新闻</p>").unwrap();
        std::fs::write(dir.path().join("README.html"), "not ours").unwrap();
        assert_eq!(count(dir.path()).unwrap(), 1);
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
        };
        assert_eq!(mode(&dir.path().join(format!("{name}.html"))), 0o644);
        let made = dir.path().join("made");
        write(&made, name, "x").unwrap();
        assert_eq!(mode(&made), 0o711, "enter, not list");
        assert_eq!(read(dir.path(), name).unwrap().as_deref(), Some("<p>新闻</p>"));
        assert_eq!(
            read(dir.path(), "0123456789abcdef0123456789abcdee").unwrap(),
            None
        );
        for bad in ["../x", "0123456789ABCDEF0123456789ABCDEF", "", "0123"] {
            assert_eq!(read(dir.path(), bad).unwrap(), None, "{bad}");
        }
    }

    #[test]
    fn the_prune_removes_old_pages_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let name = "0123456789abcdef0123456789abcdef";
        write(dir.path(), name, "x").unwrap();
        std::fs::write(dir.path().join("README"), "not ours").unwrap();
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        assert_eq!(prune(dir.path(), now, day).unwrap(), 0, "a fresh page stays");
        assert_eq!(prune(dir.path(), now + 2 * day, day).unwrap(), 1);
        assert_eq!(read(dir.path(), name).unwrap(), None);
        assert!(dir.path().join("README").exists());
    }
}
