//! Files and folders that sprs writes and reads besides the sources (results, token files,
//! exports, job scripts), opened without following symlinks: a results folder that came with a
//! shared project (or was tampered with) cannot make sprs write or read through a link to a file
//! elsewhere. Replacing a file goes through a temporary file and a
//! rename, which replaces a link rather than following it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// The largest small JSON file of a trial (`trial.json`, `result.json`) that is read.
pub const MAX_JSON_BYTES: u64 = 16 << 20;

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options
}

/// An error for a path that is not what the results folder may hold.
fn refused(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}` is {what}; sprs neither reads nor writes through it", path.display()),
    )
}

/// Checks that an open file is a regular file (not a FIFO or device put in its place).
fn regular(file: File, path: &Path) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(refused(path, "not a regular file"))
    }
}

/// Creates the folder `path` if it is missing; an error if it is a symlink or not a folder.
pub fn create_dir(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Ok(()) => return Ok(()),
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
        Err(_) => {}
    }
    let metadata = fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        Err(refused(path, "a symbolic link"))
    } else if !metadata.is_dir() {
        Err(refused(path, "not a folder"))
    } else {
        Ok(())
    }
}

/// Removes the file (or link) at `path`, if there is one.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Whether `path` is a folder and not a link to one.
pub fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Creates `path` afresh for writing. A regular file there is removed first, rather than
/// truncated (it may be a hard link to a file elsewhere, which truncating would write through);
/// a link or anything but a regular file is refused.
pub fn create(path: &Path) -> io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(found) if found.file_type().is_symlink() => return Err(refused(path, "a symbolic link")),
        Ok(found) if found.is_file() => fs::remove_file(path)?,
        Ok(_) => return Err(refused(path, "not a regular file")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let file = options().write(true).create_new(true).open(path).map_err(|e| link(e, path))?;
    regular(file, path)
}

/// Opens `path`, a file this program wrote before, to read it and write on (`sprs tokenize`
/// continuing its output): not through a link, a regular file, and not one linked from elsewhere
/// (a hard link would carry the writes to another name).
pub fn open_to_continue(path: &Path) -> io::Result<File> {
    let file = regular(options().read(true).write(true).open(path).map_err(|e| link(e, path))?, path)?;
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::nlink(&file.metadata()?) != 1 {
        return Err(refused(path, "linked from elsewhere"));
    }
    Ok(file)
}

/// Opens `path` to append to it.
pub fn append(path: &Path) -> io::Result<File> {
    let file = options().append(true).open(path).map_err(|e| link(e, path))?;
    regular(file, path)
}

/// Opens (creating) `path` to hold a lock on it.
pub fn lock_file(path: &Path) -> io::Result<File> {
    let file = options().write(true).create(true).truncate(false).open(path).map_err(|e| link(e, path))?;
    regular(file, path)
}

/// Opens `path` to read it (a regular file, not through a link).
pub fn open_regular(path: &Path) -> io::Result<File> {
    regular(options().read(true).open(path).map_err(|e| link(e, path))?, path)
}

/// The bytes of `path`, refused past `max`.
pub fn read(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = regular(options().read(true).open(path).map_err(|e| link(e, path))?, path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{}` has more than {max} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// The text of `path`, refused past `max` bytes.
pub fn read_to_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read(path, max)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP`: say what it means.
fn link(error: io::Error, path: &Path) -> io::Error {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::ELOOP) {
        return refused(path, "a symbolic link");
    }
    error
}

/// Writes to a temporary file in the same folder, syncs it, and renames it into place: a reader
/// sees the old file or the new one, never part of one. The temporary name holds the process id
/// and a count of this process's writes, so that processes (and threads: two trials training the
/// same BPE tokenizer side by side) writing the same file do not collide; one left by a killed
/// process is ignored by every reader. A write that fails (a full disk) removes its temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// [`write_atomic`] of what `write` writes.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write_id = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{write_id}.tmp", std::process::id()));
    let written = (|| {
        // One left by an earlier process of the same id is replaced; a link there is removed,
        // not followed (`create_new` refuses to open through it).
        match fs::remove_file(&tmp) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut out = io::BufWriter::new(options().write(true).create_new(true).open(&tmp)?);
        write(&mut out)?;
        out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&tmp);
        return Err(error);
    }
    // The rename itself reaches the disk when the folder is synced (where the system allows it).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The longest line [`lines`] reads: a line of `metrics.jsonl` has some hundred bytes.
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// The lines of `path`, read as they are needed (a long run's metrics hold millions); a line
/// longer than [`MAX_LINE_BYTES`] is an error, read no further than that.
pub fn lines(path: &Path) -> io::Result<impl Iterator<Item = io::Result<String>>> {
    use io::BufRead;
    let file = regular(options().read(true).open(path).map_err(|e| link(e, path))?, path)?;
    let mut input = io::BufReader::new(file);
    let mut line = Vec::new();
    Ok(std::iter::from_fn(move || {
        line.clear();
        match (&mut input).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) if line.len() as u64 > MAX_LINE_BYTES => Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line of more than {MAX_LINE_BYTES} bytes"),
            ))),
            Ok(_) => {
                let end = line.strip_suffix(b"\n").map_or(line.len(), <[u8]>::len);
                let end = line[..end].strip_suffix(b"\r").map_or(end, <[u8]>::len);
                Some(String::from_utf8(line[..end].to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
            }
            Err(error) => Some(Err(error)),
        }
    }))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_neither_written_nor_read_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("metrics.jsonl");
        symlink(&victim, &link).unwrap();
        assert!(create(&link).is_err());
        assert!(append(&link).is_err());
        assert!(lock_file(&link).is_err());
        assert!(read(&link, 100).is_err());
        // Replacing the file replaces the link, and leaves its target alone.
        write_atomic(&link, b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&link).unwrap(), "new");
        assert!(!fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_hard_link_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let linked = dir.path().join("events");
        fs::hard_link(&victim, &linked).unwrap();
        create(&linked).unwrap().write_all(b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&linked).unwrap(), "new");
    }

    #[test]
    fn folders_that_are_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("elsewhere")).unwrap();
        symlink(dir.path().join("elsewhere"), dir.path().join("trial")).unwrap();
        assert!(create_dir(&dir.path().join("trial")).is_err());
        create_dir(&dir.path().join("fresh")).unwrap();
        create_dir(&dir.path().join("fresh")).unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(create_dir(&dir.path().join("file")).is_err());
    }

    #[test]
    fn a_temporary_file_left_as_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        // Links at the temporary names of this process's next writes (the tests of this process
        // write far fewer files than this before it).
        for n in 0..4096 {
            let tmp = dir.path().join(format!(".results.csv.{}.{n}.tmp", std::process::id()));
            symlink(&victim, &tmp).unwrap();
        }
        write_atomic(&dir.path().join("results.csv"), b"a,b\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }

    /// Threads of one process writing the same file at once each write it whole.
    #[test]
    fn threads_writing_one_file_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_atomic_with(path, |out| out.write_all(&[t; 4096])).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|&b| b == bytes[0]));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a non-empty folder.
        let target = dir.path().join("busy");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "").unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("busy")]);
    }
}
