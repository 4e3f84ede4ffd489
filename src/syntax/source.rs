//! The files of one check: the user's files, the ones they import, and the embedded stdlib.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// Where a file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk, named on the command line or imported by path.
    Disk(PathBuf),
    /// A module of the embedded standard library, such as `std::models`.
    Std(String),
    /// Field defaults of the kinds' schemas (`src/check/schema.rs`).
    Defaults,
    /// A `--set PATH=VALUE` override given on the command line (paths in it are relative to the
    /// working directory).
    CommandLine,
}

/// One file read: where it came from, its name and its text.
#[derive(Debug)]
pub struct SourceFile {
    /// Where the file came from.
    pub origin: Origin,
    /// The name shown in diagnostics.
    pub name: String,
    /// The file's text.
    pub text: Arc<String>,
    /// The offset at which each line starts, made on first use: a file with thousands of
    /// diagnostics finds each one's line without rescanning the text.
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// The directory that relative paths written in this file are resolved against.
    pub fn dir(&self) -> PathBuf {
        match &self.origin {
            Origin::Disk(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => PathBuf::from("."),
        }
    }

    /// Whether the user wrote this file (as opposed to the stdlib or the schema defaults).
    pub fn is_user(&self) -> bool {
        matches!(self.origin, Origin::Disk(_) | Origin::CommandLine)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset);
        let line = self.line_of(offset);
        (line + 1, self.text[self.line_starts()[line]..offset].chars().count() + 1)
    }

    /// The 0-based line holding a byte offset (lines end at `\n`).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&start| start <= offset).saturating_sub(1)
    }

    /// The byte range of 0-based line `line`, without its `\n`.
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let starts = self.line_starts();
        let start = starts.get(line).copied().unwrap_or(self.text.len());
        let end = starts.get(line + 1).map_or(self.text.len(), |next| next - 1);
        start..end.max(start)
    }

    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.line_starts().len()
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts
            .get_or_init(|| std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
}

/// Every `.sprs` entry under `dir`, recursively, sorted: files, and links and other entries of
/// that name (for the caller to refuse). Folders reached through a link are not entered, so a
/// link to a parent cannot make the walk endless.
pub fn sprs_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sprs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Every file of one check, indexed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, origin: Origin, name: String, text: String) -> FileId {
        self.files.push(SourceFile { origin, name, text: Arc::new(text), line_starts: OnceLock::new() });
        FileId(self.files.len() as u32 - 1)
    }

    /// The file with id `id`.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The ids of every file, in the order they were added.
    pub fn ids(&self) -> impl Iterator<Item = FileId> {
        (0..self.files.len() as u32).map(FileId)
    }

    /// The paths of the files read from disk, in the order they were read.
    pub fn disk_paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().filter_map(|f| match &f.origin {
            Origin::Disk(path) => Some(path.as_path()),
            _ => None,
        })
    }

    /// The id of a file already added from `origin`.
    pub fn find(&self, origin: &Origin) -> Option<FileId> {
        self.files.iter().position(|f| &f.origin == origin).map(|i| FileId(i as u32))
    }
}

/// The largest character boundary at or before `offset` (clamped to the text).
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
