//! Text to token ids and back, as a trial's data does it: `bytes` (byte b is id b) or a Hugging
//! Face tokenizer (a trained `bpe`, a `file(..)`, or the one a token file was made with).
//!
//! A text is always encoded whole, as the tokenizer's own `encode` does with no special tokens
//! added: the ids of a text do not depend on how sprs splits its work, so the `tokenizer.json`
//! that `sprs export` writes gives, for any text, the ids sprs trained on.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

use super::bpe;
use super::hash::hex;
use super::tokenize::Manifest;
use crate::access::{Access, MAX_TOKENIZER_BYTES};
use crate::config::Tokenizer as TokenizerConfig;

/// A tokenizer, ready to encode and decode.
pub enum Coder {
    /// One token per byte.
    Bytes,
    /// A Hugging Face tokenizer.
    Hf(Box<Tokenizer>),
}

impl Coder {
    /// The tokenizer a data configuration names, trained on `train` where it is trained (a `bpe`
    /// tokenizer, kept in and taken from `cache`); files are read through `access`.
    pub(crate) fn new(
        tokenizer: &TokenizerConfig,
        train: &[&[u8]],
        access: &Access,
        cache: Option<&Path>,
    ) -> Result<Coder, String> {
        match tokenizer {
            TokenizerConfig::Bytes => Ok(Coder::Bytes),
            TokenizerConfig::File { path } => Ok(Coder::Hf(Box::new(bpe::load(access, path)?))),
            TokenizerConfig::Bpe { vocab } => {
                let texts = train.iter().map(|t| utf8(t)).collect::<Result<Vec<_>, _>>()?;
                Ok(Coder::Hf(Box::new(bpe::trained(&texts, *vocab, cache)?)))
            }
        }
    }

    /// The tokenizer a token file was made with, from its manifest (`FILE.json`): `bytes`, or the
    /// `tokenizer.json` that `sprs tokenize` keeps beside it (`FILE.tokenizer.json`), which must
    /// be the one the manifest's SHA-256 names. `path` is a configuration path, read through `access`.
    pub fn of_token_file(access: &Access, path: &str) -> Result<Coder, String> {
        let tokens = access.base().join(path);
        let manifest = Manifest::read(access, &tokens)
            .map_err(|e| format!("`{path}` cannot be used: {e}"))?
            .ok_or_else(|| format!("`{path}` has no manifest (`{path}.json`) to name its tokenizer"))?;
        let Some(sha256) = manifest.tokenizer_sha256 else { return Ok(Coder::Bytes) };
        let beside = Manifest::tokenizer_path(&tokens);
        let shown = beside.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (bytes, _) = access.read(&beside, MAX_TOKENIZER_BYTES).map_err(|e| {
            format!(
                "`{path}` was made with the tokenizer `{}`, which is not beside it as `{shown}`: {e}",
                manifest.tokenizer
            )
        })?;
        if hex(&Sha256::digest(&bytes)) != sha256 {
            return Err(format!(
                "`{shown}` is not the tokenizer `{path}` was made with (its SHA-256 differs from the manifest's)"
            ));
        }
        Tokenizer::from_bytes(bytes)
            .map(|t| Coder::Hf(Box::new(t)))
            .map_err(|e| format!("`{shown}` cannot be loaded: {e}"))
    }

    /// The ids of `text`.
    pub fn encode(&self, text: &[u8]) -> Result<Vec<u32>, String> {
        match self {
            Coder::Bytes => Ok(text.iter().map(|&b| u32::from(b)).collect()),
            Coder::Hf(tokenizer) => bpe::encode(tokenizer, utf8(text)?),
        }
    }

    /// The ids of `text`, each with the bytes of text it stands for: from its start to the next
    /// token's start (the first from the text's start, the last to its end), so that the bytes of
    /// all tokens add up to the text's.
    pub fn encode_spans(&self, text: &[u8]) -> Result<(Vec<u32>, Vec<u32>), String> {
        let (ids, mut starts): (Vec<u32>, Vec<usize>) = match self {
            Coder::Bytes => (self.encode(text)?, (0..text.len()).collect()),
            Coder::Hf(tokenizer) => {
                let encoding =
                    tokenizer.encode(utf8(text)?, false).map_err(|e| format!("cannot encode the text: {e}"))?;
                (encoding.get_ids().to_vec(), encoding.get_offsets().iter().map(|&(start, _)| start).collect())
            }
        };
        if let Some(first) = starts.first_mut() {
            *first = 0;
        }
        starts.push(text.len());
        // A span is at most the text's length, which `sprs score` bounds far below 4 GiB.
        let spans = starts.windows(2).map(|w| u32::try_from(w[1].saturating_sub(w[0])).unwrap_or(u32::MAX)).collect();
        Ok((ids, spans))
    }

    /// The text of `ids`; bytes that are not UTF-8, and ids outside a byte vocabulary, are
    /// replaced by U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        match self {
            Coder::Bytes => {
                let bytes: Vec<u8> = ids.iter().map(|&id| u8::try_from(id).unwrap_or(0xff)).collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Coder::Hf(tokenizer) => tokenizer.decode(ids, false).map_err(|e| format!("cannot decode: {e}")),
        }
    }

    /// The number of ids it makes.
    pub fn vocab(&self) -> u64 {
        match self {
            Coder::Bytes => 256,
            Coder::Hf(tokenizer) => tokenizer.get_vocab_size(true) as u64,
        }
    }

    /// The tokenizer as a Hugging Face `tokenizer.json`. For `bytes`, a byte-level BPE
    /// without merges whose 256 tokens are the bytes, token b with id b: any UTF-8 text is
    /// encoded to its bytes, with no unknown token.
    pub fn json(&self) -> Result<String, String> {
        let bytes;
        let tokenizer = match self {
            Coder::Hf(tokenizer) => tokenizer.as_ref(),
            Coder::Bytes => {
                bytes = byte_tokenizer()?;
                &bytes
            }
        };
        tokenizer.to_string(true).map_err(|e| format!("cannot write the tokenizer: {e}"))
    }
}

/// The tokenizer of the `bytes` tokenizer's ids (see [`Coder::json`]).
fn byte_tokenizer() -> Result<Tokenizer, String> {
    let vocab: tokenizers::models::bpe::Vocab = (0..=255u8).map(|b| (byte_char(b).to_string(), u32::from(b))).collect();
    let model = BPE::builder().vocab_and_merges(vocab, Vec::new()).build().map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(model);
    // No prefix space, offsets as they are, and the whole text one piece: each byte its token.
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, false, false))).with_decoder(Some(ByteLevel::default()));
    Ok(tokenizer)
}

/// The character that byte-level tokenizers write for byte `b` (GPT-2's `bytes_to_unicode`): a
/// printable byte stands for itself; the 68 others, in order, for U+0100, U+0101, ...
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    if printable(b) {
        return char::from(b);
    }
    let rank = (0..b).filter(|&c| !printable(c)).count() as u32;
    char::from_u32(256 + rank).unwrap_or('\u{fffd}')
}

/// `text` as UTF-8, or why a tokenizer cannot take it.
pub(crate) fn utf8(text: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(text).map_err(|e| format!("a BPE tokenizer needs UTF-8 text; byte {} is not", e.valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 256 characters are the byte-level alphabet of the `tokenizers` crate.
    #[test]
    fn byte_characters_are_the_byte_level_alphabet() {
        let ours: std::collections::HashSet<char> = (0..=255u8).map(byte_char).collect();
        assert_eq!(ours, ByteLevel::alphabet().into_iter().collect());
        assert_eq!(byte_char(b'A'), 'A');
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
    }

    /// The `bytes` tokenizer's `tokenizer.json` encodes any text to its UTF-8 bytes and back.
    #[test]
    fn the_byte_tokenizer_encodes_to_the_bytes() {
        let json = Coder::Bytes.json().unwrap();
        let tokenizer = Tokenizer::from_bytes(json.as_bytes()).unwrap();
        for text in ["Hello, world!\n", "  spaces  and\ttabs\r\n", "naïve façade — 東京 🦀 Ωμέγα", "\u{0}\u{1b}[0m"]
        {
            let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
            assert_eq!(ids, text.bytes().map(u32::from).collect::<Vec<_>>(), "{text:?}");
            assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
        }
        assert_eq!(tokenizer.get_vocab_size(true), 256);
    }

    #[test]
    fn spans_add_up_to_the_text() {
        let text = "to be, or not — to be: ñ 東\n".repeat(20);
        let tokenizer = bpe::trained(&[text.as_str()], 300, None).unwrap();
        for coder in [Coder::Bytes, Coder::Hf(Box::new(tokenizer))] {
            let (ids, spans) = coder.encode_spans(text.as_bytes()).unwrap();
            assert_eq!(ids, coder.encode(text.as_bytes()).unwrap());
            assert_eq!(ids.len(), spans.len());
            assert_eq!(spans.iter().map(|&s| u64::from(s)).sum::<u64>(), text.len() as u64);
            assert_eq!(coder.decode(&ids).unwrap(), text);
        }
    }
}
