//! What a `.sprs` file may read (docs/language.md, "What a file may touch"; docs/security.md): paths inside the project root, or inside a
//! directory the user allows on the command line, after symlinks, and regular files only.
//!
//! The root is the nearest folder above the entry file that holds `.git` (so a file in
//! `experiments/` reads `../tests/fixtures/..` in a clone), else the entry file's folder;
//! `--root DIR` sets it. `--allow-read DIR` (and `SPRS_ALLOW_READ`, a `:`-separated list) adds
//! folders such as a cluster's scratch space. Every read of a path that a file names goes through
//! [`Access`]: the checker's (`use`, and the existence of data files), and the run's (token files,
//! texts, tokenizers, CSV data).
//!
//! A path outside is refused before anything about it is looked up beyond resolving symlinks, so
//! a refusal does not tell whether the path exists.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// The largest `.sprs` file that is read, entry file or import.
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// The largest `tokenizer.json` that is read.
pub const MAX_TOKENIZER_BYTES: u64 = 256 << 20;

/// The largest CSV file a fit reads.
pub const MAX_CSV_BYTES: u64 = 256 << 20;

/// The read permissions of one checked file. The default reads nothing (for checks of the
/// embedded standard library).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The project root, canonical; empty for the default, which has none.
    root: PathBuf,
    /// Directories the user allows besides the root, canonical.
    allowed: Vec<PathBuf>,
    /// The entry file's folder as given: paths in a trial's configuration are relative to it.
    base: PathBuf,
}

/// A path the project may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The path with every symlink resolved.
    pub path: PathBuf,
    /// Inside the project root (not only in an allowed directory): only then may a diagnostic
    /// show what the file holds (a CSV header).
    pub in_root: bool,
}

/// Why a path may not be read.
///
/// Each variant is documented by its `#[error]` message; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Denied {
    #[error("it is outside the project root `{root}`")]
    Outside { root: String },
    #[error("it does not exist")]
    NotFound,
    #[error("it is {what}, not a regular file")]
    NotRegular { what: &'static str },
    #[error("it has {size} bytes, more than the {max} that are read")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Io(String),
}

/// A `--root` or `--allow-read` that cannot be used.
///
/// Each variant is documented by its `#[error]` message; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessError {
    #[error("the root `{path}` is not a folder: {error}")]
    Root { path: String, error: String },
    #[error("`{file}` is not inside the root `{root}`")]
    EntryOutside { file: String, root: String },
    #[error("`--allow-read {path}` is not a folder: {error}")]
    Allowed { path: String, error: String },
}

impl Access {
    /// The permissions of `entry` with the default root and nothing else allowed.
    pub fn for_entry(entry: &Path) -> Access {
        let base = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = canonical_dir(&base);
        let root = dir.ancestors().find(|d| d.join(".git").exists()).unwrap_or(&dir).to_path_buf();
        Access { root, allowed: Vec::new(), base }
    }

    /// The permissions of `entry` with `--root` (if given) and `--allow-read` directories.
    pub fn new(entry: &Path, root: Option<&Path>, allow: &[PathBuf]) -> Result<Access, AccessError> {
        let mut access = Access::for_entry(entry);
        if let Some(root) = root {
            access.root = folder(root).map_err(|error| AccessError::Root { path: shown(root), error })?;
            let entry_dir = canonical_dir(&access.base);
            if !entry_dir.starts_with(&access.root) {
                return Err(AccessError::EntryOutside { file: shown(entry), root: shown(&access.root) });
            }
        }
        for dir in allow {
            let dir = folder(dir).map_err(|error| AccessError::Allowed { path: shown(dir), error })?;
            access.allowed.push(dir);
        }
        Ok(access)
    }

    /// `SPRS_ALLOW_READ`: folders separated as in `PATH`; those that do not exist here are
    /// skipped (a cluster's scratch space may be mounted only on its compute nodes).
    pub fn allowed_from_env() -> Vec<PathBuf> {
        std::env::var_os("SPRS_ALLOW_READ")
            .map(|value| std::env::split_paths(&value).filter(|p| p.is_dir()).collect())
            .unwrap_or_default()
    }

    /// The project root: nothing outside it (and the `--allow-read` folders) is read.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry file's folder, which configuration paths are relative to.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Where `path` leads, if the project may read it. Symlinks are resolved first, so a link
    /// inside the project to a file outside it is refused. A path that does not exist is
    /// `NotFound` only when the part of it that does exist lies inside.
    pub fn locate(&self, path: &Path) -> Result<Place, Denied> {
        let absolute = if path.is_absolute() { path.to_path_buf() } else { cwd().join(path) };
        let (resolved, exists) = resolve(&absolute);
        let in_root = !self.root.as_os_str().is_empty() && resolved.starts_with(&self.root);
        if !in_root && !self.allowed.iter().any(|dir| resolved.starts_with(dir)) {
            return Err(Denied::Outside { root: shown(&self.root) });
        }
        if !exists {
            return Err(Denied::NotFound);
        }
        let metadata = fs::metadata(&resolved).map_err(|e| Denied::Io(e.to_string()))?;
        if !metadata.is_file() {
            return Err(Denied::NotRegular { what: kind(&metadata) });
        }
        Ok(Place { path: resolved, in_root })
    }

    /// A configuration path (relative to [`Access::base`]), located.
    pub fn config_path(&self, path: &str) -> Result<Place, Denied> {
        self.locate(&self.base.join(path))
    }

    /// Opens a readable file: located, then opened without following a symlink and without
    /// blocking (a FIFO swapped in after the look would otherwise hang the open), and checked to
    /// be a regular file once open.
    pub fn open(&self, path: &Path) -> Result<(File, Place), Denied> {
        let place = self.locate(path)?;
        let file = open_regular(&place.path)?;
        Ok((file, place))
    }

    /// Reads a whole readable file of at most `max` bytes.
    pub fn read(&self, path: &Path, max: u64) -> Result<(Vec<u8>, Place), Denied> {
        let (file, place) = self.open(path)?;
        Ok((read_capped(file, max)?, place))
    }
}

/// The text of a `.sprs` file: a regular file of at most [`MAX_SOURCE_BYTES`] bytes of UTF-8
/// (the file named on the command line, whatever the project root, and every import once
/// located).
pub fn read_source(path: &Path) -> io::Result<String> {
    let invalid = |e: Denied| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let file = open_regular(path).map_err(|e| match e {
        Denied::NotFound => io::Error::from(io::ErrorKind::NotFound),
        other => invalid(other),
    })?;
    let bytes = read_capped(file, MAX_SOURCE_BYTES).map_err(invalid)?;
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("byte {} is not UTF-8; a `.sprs` file is UTF-8 text", e.utf8_error().valid_up_to()),
        )
    })
}

/// Opens `path` for reading, refusing symlinks and anything but a regular file.
pub fn open_regular(path: &Path) -> Result<File, Denied> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Denied::NotFound,
        _ => Denied::Io(e.to_string()),
    })?;
    let metadata = file.metadata().map_err(|e| Denied::Io(e.to_string()))?;
    if !metadata.is_file() {
        return Err(Denied::NotRegular { what: kind(&metadata) });
    }
    Ok(file)
}

/// The bytes of `file`, refused past `max` (read no further than one byte beyond it).
pub fn read_capped(file: File, max: u64) -> Result<Vec<u8>, Denied> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max {
        return Err(Denied::TooLarge { size, max });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Denied::Io(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(Denied::TooLarge { size: bytes.len() as u64, max });
    }
    Ok(bytes)
}

/// `path` with every symlink of its existing part resolved, the rest appended as written; and
/// whether all of it exists.
fn resolve(path: &Path) -> (PathBuf, bool) {
    if let Ok(real) = path.canonicalize() {
        return (real, true);
    }
    let mut existing = path.to_path_buf();
    let mut rest: Vec<Component> = Vec::new();
    let components: Vec<Component> = path.components().collect();
    let mut keep = components.len();
    while keep > 0 {
        keep -= 1;
        existing = components[..keep].iter().collect();
        if let Ok(real) = existing.canonicalize() {
            existing = real;
            rest = components[keep..].to_vec();
            break;
        }
    }
    let mut out = existing;
    for component in rest {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    (out, false)
}

/// A folder, canonical; an error message if it is not one.
fn folder(path: &Path) -> Result<PathBuf, String> {
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    if real.is_dir() {
        Ok(real)
    } else {
        Err("not a directory".into())
    }
}

/// The canonical form of a folder that may not exist (a file checked from memory).
fn canonical_dir(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let absolute = if dir.is_absolute() { dir.to_path_buf() } else { cwd().join(dir) };
    resolve(&absolute).0
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

fn kind(metadata: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let file_type = metadata.file_type();
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if metadata.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// A path for messages: relative to the working directory when it lies under it.
pub fn shown(path: &Path) -> String {
    match path.strip_prefix(cwd()) {
        Ok(inside) if inside.as_os_str().is_empty() => ".".into(),
        Ok(inside) => inside.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Access) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proj/.git")).unwrap();
        fs::create_dir_all(dir.path().join("proj/experiments")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("proj/data.txt"), "inside").unwrap();
        fs::write(dir.path().join("outside/secret.txt"), "secret").unwrap();
        let access = Access::for_entry(&dir.path().join("proj/experiments/x.sprs"));
        (dir, access)
    }

    #[test]
    fn the_root_is_the_nearest_folder_with_git_above_the_entry() {
        let (dir, access) = project();
        assert_eq!(access.root(), dir.path().join("proj").canonicalize().unwrap());
        let lone = Access::for_entry(&dir.path().join("outside/y.sprs"));
        assert_eq!(lone.root(), dir.path().join("outside").canonicalize().unwrap());
    }

    #[test]
    fn paths_outside_are_refused_whether_or_not_they_exist() {
        let (dir, access) = project();
        let base = dir.path().join("proj/experiments");
        assert!(access.locate(&base.join("../data.txt")).is_ok());
        for path in ["../../outside/secret.txt", "../../outside/missing.txt", "/etc/passwd", "/no/such/file"] {
            assert!(matches!(access.locate(&base.join(path)), Err(Denied::Outside { .. })), "{path}");
        }
        assert_eq!(access.locate(&base.join("../missing.txt")), Err(Denied::NotFound));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_before_the_check() {
        let (dir, access) = project();
        let proj = dir.path().join("proj");
        std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), proj.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), proj.join("out")).unwrap();
        assert!(matches!(access.locate(&proj.join("link.txt")), Err(Denied::Outside { .. })));
        assert!(matches!(access.locate(&proj.join("out/secret.txt")), Err(Denied::Outside { .. })));
        // Through a link and back up: the system's `..` is the link target's parent.
        assert!(matches!(access.locate(&proj.join("out/../outside/secret.txt")), Err(Denied::Outside { .. })));
        assert!(matches!(access.locate(&proj.join("out/missing")), Err(Denied::Outside { .. })));
    }

    #[test]
    fn allowed_folders_are_readable_but_not_the_root() {
        let (dir, _) = project();
        let entry = dir.path().join("proj/experiments/x.sprs");
        let access = Access::new(&entry, None, &[dir.path().join("outside")]).unwrap();
        let place = access.locate(&dir.path().join("outside/secret.txt")).unwrap();
        assert!(!place.in_root);
        assert!(access.locate(&dir.path().join("proj/data.txt")).unwrap().in_root);
        assert!(Access::new(&entry, None, &[dir.path().join("nope")]).is_err());
        assert!(matches!(
            Access::new(&entry, Some(&dir.path().join("outside")), &[]),
            Err(AccessError::EntryOutside { .. })
        ));
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let (dir, access) = project();
        let proj = dir.path().join("proj");
        assert_eq!(access.locate(&proj.join("experiments")), Err(Denied::NotRegular { what: "a folder" }));
        assert_eq!(access.read(&proj.join("data.txt"), 6).unwrap().0, b"inside");
        assert_eq!(access.read(&proj.join("data.txt"), 5).unwrap_err(), Denied::TooLarge { size: 6, max: 5 });
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let (dir, access) = project();
        let fifo = dir.path().join("proj/fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(access.locate(&fifo), Err(Denied::NotRegular { what: "a named pipe" }));
        assert!(matches!(open_regular(&fifo), Err(Denied::NotRegular { .. })));
    }
}
