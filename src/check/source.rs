//! The files of one check: the user's files, the ones they import, and the embedded stdlib.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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

#[derive(Debug)]
pub struct SourceFile {
    pub origin: Origin,
    /// The name shown in diagnostics.
    pub name: String,
    pub text: Arc<String>,
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

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// Every `.sprs` file under `dir`, recursively, sorted.
pub fn sprs_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
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
    pub fn add(&mut self, origin: Origin, name: String, text: String) -> FileId {
        self.files.push(SourceFile { origin, name, text: Arc::new(text) });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, origin: &Origin) -> Option<FileId> {
        self.files.iter().position(|f| &f.origin == origin).map(|i| FileId(i as u32))
    }
}
