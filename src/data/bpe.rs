//! Byte-level BPE tokenizers (the `tokenizers` crate): trained on the training split of a text
//! source and cached by a hash of what they were trained on, or loaded from a `tokenizer.json`.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

use crate::access::{Access, MAX_TOKENIZER_BYTES};

/// Bytes of text per training chunk. Chunks end at line ends, so the trained tokenizer does not
/// depend on the number of threads that count its words.
const CHUNK: usize = 1 << 16;

/// Trains a byte-level BPE tokenizer of `vocab` tokens (the 256 bytes included) on `texts`, or
/// loads the one trained on the same texts before from `cache`.
pub fn trained(texts: &[&str], vocab: u64, cache: Option<&Path>) -> Result<Tokenizer, String> {
    let path = cache.map(|dir| dir.join(format!("bpe-{vocab}-{}.json", key(texts, vocab))));
    if let Some(path) = &path {
        let cached = crate::fs::read(path, MAX_TOKENIZER_BYTES).ok();
        if let Some(tokenizer) = cached.and_then(|bytes| Tokenizer::from_bytes(bytes).ok()) {
            return Ok(tokenizer);
        }
    }
    let tokenizer = train(texts, vocab)?;
    if let Some(path) = &path {
        save(&tokenizer, path)?;
    }
    Ok(tokenizer)
}

/// A tokenizer from a `tokenizer.json` file (a configuration path, read through `access`).
pub fn load(access: &Access, path: &str) -> Result<Tokenizer, String> {
    let cannot = |e: String| format!("cannot load the tokenizer `{path}`: {e}");
    let (bytes, _) = access.read(&access.base().join(path), MAX_TOKENIZER_BYTES).map_err(|e| cannot(e.to_string()))?;
    Tokenizer::from_bytes(bytes).map_err(|e| cannot(e.to_string()))
}

/// The token ids of `text`, encoded whole (no special tokens added), as the tokenizer encodes it
/// anywhere else.
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, String> {
    let encoding =
        tokenizer.encode(text, false).map_err(|e| format!("cannot encode the text with the tokenizer: {e}"))?;
    Ok(encoding.get_ids().to_vec())
}

fn train(texts: &[&str], vocab: u64) -> Result<Tokenizer, String> {
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab as usize)
        .min_frequency(0)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true))).with_decoder(Some(ByteLevel::default()));
    tokenizer
        .train(&mut trainer, texts.iter().flat_map(|t| chunks(t)))
        .map_err(|e| format!("cannot train the BPE tokenizer: {e}"))?;
    Ok(tokenizer)
}

fn save(tokenizer: &Tokenizer, path: &Path) -> Result<(), String> {
    let json = tokenizer.to_string(false).map_err(|e| format!("cannot serialize the tokenizer: {e}"))?;
    if let Some(dir) = path.parent() {
        crate::fs::create_dir(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    crate::fs::write_atomic(path, json.as_bytes()).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// The cache key: what the tokenizer depends on.
fn key(texts: &[&str], vocab: u64) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("sprs bpe 1\ntokenizers 0.23\nvocab {vocab}\n"));
    for text in texts {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    super::hash::hex(&hash.finalize()[..8])
}

/// `text` cut after the first line end past every [`CHUNK`] bytes.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > CHUNK {
        // A byte search: CHUNK need not be a character boundary, but a line end is one.
        match rest.as_bytes()[CHUNK..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let (head, tail) = rest.split_at(CHUNK + i + 1);
                out.push(head);
                rest = tail;
            }
            None => break,
        }
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "the cat sat on the mat.\nthe dog sat on the log.\nthe cat and the dog.\n";

    #[test]
    fn chunks_cover_the_text_and_end_at_lines() {
        let text = "abc — ñ\n".repeat(50_000);
        let chunks = chunks(&text);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), text);
        assert!(chunks.iter().all(|c| c.ends_with('\n')));
    }

    #[test]
    fn trains_merges_and_round_trips() {
        let texts = [TEXT.repeat(20)];
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokenizer = trained(&texts, 300, None).unwrap();
        assert!(tokenizer.get_vocab_size(true) <= 300 && tokenizer.get_vocab_size(true) > 256);
        let ids = encode(&tokenizer, TEXT).unwrap();
        assert!(ids.len() < TEXT.len() / 2, "merges shorten the text: {} ids", ids.len());
        assert_eq!(tokenizer.decode(&ids, false).unwrap(), TEXT);
        // Training is deterministic.
        assert_eq!(encode(&train(&texts, 300).unwrap(), TEXT).unwrap(), ids);
    }

    #[test]
    fn caches_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [TEXT];
        let first = trained(&texts, 280, Some(dir.path())).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let again = trained(&texts, 280, Some(dir.path())).unwrap();
        assert_eq!(encode(&first, TEXT).unwrap(), encode(&again, TEXT).unwrap());
        trained(&["other text"], 280, Some(dir.path())).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
