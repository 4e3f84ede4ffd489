//! `sprs tokenize`: corpus files (plain text, JSON lines, gzip or zstd compressed, Parquet) to a
//! flat little-endian file of token ids and its manifest, which `tokens("FILE")` reads.
//!
//! Documents are read in file order and encoded in batches in parallel (rayon); a batch is
//! written in document order, so the output is byte-identical for any number of threads.
//! Memory is bounded by the batch. The output grows in `FILE.partial`, with its progress in
//! `FILE.partial.json` after every completed input; an interrupted run continues from the last
//! completed input, and the finished file is renamed into place with its manifest `FILE.json`.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokenizers::Tokenizer;

use super::hash::hex;
use crate::access::{Access, Denied};
use crate::config::{Dtype, MAX_VOCAB};

/// Bytes of documents encoded together: large enough to keep every thread busy, small enough
/// that memory stays bounded whatever the corpus.
const BATCH_BYTES: usize = 8 << 20;
/// The most documents encoded together.
const BATCH_DOCUMENTS: usize = 8192;
/// The largest document, in any format: a plain-text file (one document, read whole), a JSON
/// line, a Parquet string. Memory stays bounded whatever a compressed input expands to.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// The largest column of one Parquet row group, uncompressed, as its metadata gives it: a row
/// group is read whole.
pub const MAX_COLUMN_CHUNK_BYTES: i64 = 512 << 20;

/// The format of the manifest, written in it.
pub const MANIFEST_FORMAT: &str = "sprs-tokens 1";

/// How text becomes ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerChoice {
    /// One token per byte.
    Bytes,
    /// A Hugging Face `tokenizer.json`.
    File(PathBuf),
}

/// What `sprs tokenize` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The input files, in order.
    pub inputs: Vec<PathBuf>,
    /// The tokenizer.
    pub tokenizer: TokenizerChoice,
    /// The output file of ids; the manifest is `out` with `.json` appended.
    pub out: PathBuf,
    /// The id type; `None` picks `u16` when the vocabulary fits, else `u32`.
    pub dtype: Option<Dtype>,
    /// The JSON or Parquet field holding each document's text.
    pub field: String,
    /// A token (or id) appended after every document.
    pub eos: Option<String>,
    /// Stop before the document that would take the output past this many tokens.
    pub limit: Option<u64>,
    /// Threads that encode.
    pub jobs: usize,
}

/// Why tokenizing failed (codes E07xx). Nothing is written under the output name.
#[derive(Debug, Error, Diagnostic)]
pub enum TokenizeError {
    /// An input cannot be read: missing, corrupt, not the format its name says.
    #[error("{path}: {message}")]
    #[diagnostic(code(sprs::E0701), help("fix or replace the input; a rerun skips the inputs completed before it"))]
    Input {
        /// The input file, with a line or row group where there is one (`c4.jsonl.gz:17`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer cannot be loaded or used.
    #[error("tokenizer: {0}")]
    #[diagnostic(
        code(sprs::E0702),
        help("give `bytes` or a Hugging Face `tokenizer.json` (as `Tokenizer.save` writes it)")
    )]
    Tokenizer(String),
    /// A choice that cannot work (a `--dtype` too small, an unknown `--eos`).
    #[error("{0}")]
    #[diagnostic(code(sprs::E0703))]
    Usage(String),
    /// The output cannot be written.
    #[error("cannot write `{path}`: {error}")]
    #[diagnostic(code(sprs::E0704), help("the output's folder must exist and be writable, with room for the ids"))]
    Output {
        /// The file.
        path: String,
        /// Why.
        error: io::Error,
    },
}

/// One input as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The path as given.
    pub path: String,
    /// Its size in bytes, as stored (compressed).
    pub bytes: u64,
    /// SHA-256 of its bytes as stored (empty for an input the limit cut: it was not read whole).
    pub sha256: String,
    /// Documents taken from it.
    pub documents: u64,
    /// Tokens written for it (the end-of-document tokens included).
    pub tokens: u64,
}

/// `FILE.json`: what the token file holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// `u16` or `u32`, little-endian.
    pub dtype: Dtype,
    /// The vocabulary: every id is below it.
    pub vocab: u64,
    /// `bytes`, or the tokenizer file's name.
    pub tokenizer: String,
    /// SHA-256 of the `tokenizer.json` (absent for `bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_sha256: Option<String>,
    /// The id appended after every document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos: Option<u32>,
    /// The field documents were read from.
    pub field: String,
    /// The `--limit` it was cut at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Documents written.
    pub documents: u64,
    /// Ids written.
    pub tokens: u64,
    /// The inputs completed, in order.
    pub inputs: Vec<InputRecord>,
    /// Whether the run finished (the progress file of an interrupted run has `false`).
    pub complete: bool,
    /// SHA-256 of the ids written: of the token file, once complete; of the ids of the completed
    /// inputs, in the progress of an interrupted run (a run that continues it checks them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Manifest {
    /// Where the manifest of a token file is (`FILE.json`).
    pub fn path(tokens: &Path) -> PathBuf {
        with_suffix(tokens, ".json")
    }

    /// The manifest of the token file `tokens`, read through `access` and checked against the
    /// file ([`Manifest::validate`]); `None` when there is none.
    pub fn read(access: &Access, tokens: &Path) -> Result<Option<Manifest>, String> {
        let bytes = match access.read(&Manifest::path(tokens), crate::fs::MAX_JSON_BYTES) {
            Ok((bytes, _)) => bytes,
            Err(Denied::NotFound) => return Ok(None),
            Err(error) => return Err(format!("its manifest cannot be read: {error}")),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| format!("its manifest is damaged: {e}"))?;
        // A study is planned before its data is downloaded: without the file, its length is
        // checked when it is read.
        let len = match access.open(tokens) {
            Ok((file, _)) => Some(file.metadata().map_err(|e| e.to_string())?.len()),
            Err(Denied::NotFound) => None,
            Err(error) => return Err(error.to_string()),
        };
        manifest.validate(len)?;
        Ok(Some(manifest))
    }

    /// Checks every value a run relies on, against a token file of `len` bytes where it is known:
    /// the format, a finished run, a vocabulary a model can have that the ids can name, an end
    /// token inside it, as many ids as the file holds, and a tokenizer hash that is one.
    pub fn validate(&self, len: Option<u64>) -> Result<(), String> {
        let bad = |what: String| Err(format!("its manifest {what}"));
        if self.format != MANIFEST_FORMAT {
            return bad(format!(
                "is of the format `{}`, not `{MANIFEST_FORMAT}`",
                crate::escape::controls(&self.format)
            ));
        }
        if !self.complete {
            return bad("says the file was not finished".into());
        }
        if !(2..=MAX_VOCAB).contains(&self.vocab) {
            return bad(format!("gives a vocabulary of {}, outside 2 to {MAX_VOCAB}", self.vocab));
        }
        if self.dtype == Dtype::U16 && self.vocab > 1 << 16 {
            return bad(format!("gives a vocabulary of {}, more than u16 ids can name", self.vocab));
        }
        if let Some(eos) = self.eos.filter(|&eos| u64::from(eos) >= self.vocab) {
            return bad(format!("gives the end token {eos}, outside its vocabulary of {}", self.vocab));
        }
        if let Some(len) = len.filter(|&len| self.tokens.checked_mul(width(self.dtype)) != Some(len)) {
            return bad(format!("counts {} ids, but the file has {len} bytes", self.tokens));
        }
        if let Some(sha) = &self.tokenizer_sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad("gives a tokenizer hash that is not a SHA-256".into());
            }
        }
        Ok(())
    }

    /// Where the `tokenizer.json` a token file was made with is kept beside it
    /// (`FILE.tokenizer.json`), for `sprs export`, `score` and `generate`.
    pub fn tokenizer_path(tokens: &Path) -> PathBuf {
        with_suffix(tokens, ".tokenizer.json")
    }
}

/// What happens while tokenizing, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Starting: the inputs' total size in bytes as stored.
    Start {
        /// Bytes of all inputs.
        total_bytes: u64,
        /// Bytes of the inputs a previous run completed.
        done_bytes: u64,
    },
    /// An input begins.
    Input(&'a Path),
    /// A batch was written.
    Batch {
        /// Documents in it.
        documents: u64,
        /// Ids in it.
        tokens: u64,
        /// Stored bytes of input consumed so far in the current input.
        input_bytes: u64,
    },
    /// An input was completed by a previous run and is skipped.
    Skipped(&'a Path),
}

/// The tokenizer in use.
enum Encoder {
    Bytes,
    Hf(Box<Tokenizer>),
}

impl Encoder {
    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        match self {
            Encoder::Bytes => Ok(text.bytes().map(u32::from).collect()),
            Encoder::Hf(tokenizer) => {
                let encoding = tokenizer.encode(text, false).map_err(|e| e.to_string())?;
                Ok(encoding.get_ids().to_vec())
            }
        }
    }

    fn vocab(&self) -> u64 {
        match self {
            Encoder::Bytes => 256,
            Encoder::Hf(tokenizer) => tokenizer.get_vocab_size(true) as u64,
        }
    }

    /// `--eos`: an id (`2`), or a token of the tokenizer (`</s>`). A number is always an id,
    /// though a byte-level vocabulary also has a token `2`.
    fn eos(&self, eos: &str) -> Result<u32, TokenizeError> {
        if let Ok(id) = eos.parse::<u32>() {
            return Ok(id);
        }
        match self {
            Encoder::Hf(tokenizer) => tokenizer.token_to_id(eos).ok_or_else(|| {
                TokenizeError::Usage(format!("`--eos {eos}` is neither an id nor a token of the tokenizer"))
            }),
            Encoder::Bytes => Err(TokenizeError::Usage(format!("`--eos {eos}`: with `bytes`, the end token is an id"))),
        }
    }
}

/// The inputs a list of paths and globs names: each glob's matches sorted, in the order given.
pub fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, TokenizeError> {
    let mut inputs = Vec::new();
    for pattern in patterns {
        if !pattern.contains(['*', '?', '[']) {
            inputs.push(PathBuf::from(pattern));
            continue;
        }
        let bad = |message: String| TokenizeError::Input { path: pattern.clone(), message };
        let mut matches = glob::glob(pattern)
            .map_err(|e| bad(format!("not a glob: {e}")))?
            .collect::<Result<Vec<PathBuf>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if matches.is_empty() {
            return Err(bad("matches no file".into()));
        }
        matches.sort();
        inputs.extend(matches);
    }
    Ok(inputs)
}

/// The formats of an input, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    JsonLines,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn format_of(path: &Path) -> Result<(Format, Compression), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let (stem, compression) = if let Some(stem) = name.strip_suffix(".gz") {
        (stem, Compression::Gzip)
    } else if let Some(stem) = name.strip_suffix(".zst") {
        (stem, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let format = if stem.ends_with(".jsonl") || stem.ends_with(".json") || stem.ends_with(".ndjson") {
        Format::JsonLines
    } else if stem.ends_with(".txt") {
        Format::Text
    } else if stem.ends_with(".parquet") && compression == Compression::None {
        Format::Parquet
    } else {
        return Err("not a known input: `.txt`, `.jsonl`/`.json` (optionally `.gz` or `.zst`) or `.parquet`".into());
    };
    Ok((format, compression))
}

/// A reader that hashes the bytes it passes on and counts them.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Documents of one input, one at a time; `Err` names the line or row group.
type Documents<'a> = Box<dyn Iterator<Item = Result<String, TokenizeError>> + 'a>;

/// Tokenizes `options.inputs` into `options.out`; `progress` sees every batch.
pub fn tokenize(options: &Options, progress: &(dyn Fn(Event) + Sync)) -> Result<Manifest, TokenizeError> {
    if options.inputs.is_empty() {
        return Err(TokenizeError::Usage("no input files".into()));
    }
    let tokenizer = Loaded::load(&options.tokenizer)?;
    let mut output = Output::open(options, tokenizer.manifest(options)?)?;
    let total_bytes: u64 = options.inputs.iter().map(|p| fs::metadata(p).map_or(0, |m| m.len())).sum();
    let done_bytes: u64 = output.manifest.inputs.iter().map(|i| i.bytes).sum();
    progress(Event::Start { total_bytes, done_bytes });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .map_err(|e| TokenizeError::Usage(format!("cannot start {} threads: {e}", options.jobs)))?;
    for (index, path) in options.inputs.iter().enumerate() {
        if index < output.manifest.inputs.len() {
            progress(Event::Skipped(path));
            continue;
        }
        progress(Event::Input(path));
        let encoding = Encoding { encoder: &tokenizer.encoder, options, pool: &pool, progress };
        if output.input(path, &encoding)? == Ended::AtTheLimit {
            break;
        }
    }
    output.finish(options, tokenizer.json.as_deref())
}

/// The tokenizer as given: what encodes, and what the manifest and the token file keep of it.
struct Loaded {
    encoder: Encoder,
    /// `bytes`, or the tokenizer file's name.
    name: String,
    /// The tokenizer file's SHA-256.
    sha256: Option<String>,
    /// The tokenizer file, to keep beside the ids.
    json: Option<Vec<u8>>,
}

impl Loaded {
    fn load(choice: &TokenizerChoice) -> Result<Loaded, TokenizeError> {
        match choice {
            TokenizerChoice::Bytes => {
                Ok(Loaded { encoder: Encoder::Bytes, name: "bytes".into(), sha256: None, json: None })
            }
            TokenizerChoice::File(path) => {
                let bytes = crate::fs::read(path, crate::access::MAX_TOKENIZER_BYTES)
                    .map_err(|e| TokenizeError::Tokenizer(format!("cannot read `{}`: {e}", path.display())))?;
                let tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| {
                    TokenizeError::Tokenizer(format!("`{}` is not a tokenizer.json: {e}", path.display()))
                })?;
                let name =
                    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
                Ok(Loaded {
                    encoder: Encoder::Hf(Box::new(tokenizer)),
                    name,
                    sha256: Some(hex(&Sha256::digest(&bytes))),
                    json: Some(bytes),
                })
            }
        }
    }

    /// The manifest of a token file not yet begun: the end token, the vocabulary and the id type.
    fn manifest(&self, options: &Options) -> Result<Manifest, TokenizeError> {
        let eos = options.eos.as_deref().map(|e| self.encoder.eos(e)).transpose()?;
        let vocab = self.encoder.vocab().max(eos.map_or(0, |e| u64::from(e) + 1));
        let dtype = match options.dtype {
            Some(Dtype::U16) if vocab > 1 << 16 => {
                return Err(TokenizeError::Usage(format!(
                    "the vocabulary has {vocab} tokens, more than `u16` ids can name (65536); use `--dtype u32`"
                )))
            }
            Some(dtype) => dtype,
            None if vocab > 1 << 16 => Dtype::U32,
            None => Dtype::U16,
        };
        Ok(Manifest {
            format: MANIFEST_FORMAT.into(),
            dtype,
            vocab,
            tokenizer: self.name.clone(),
            tokenizer_sha256: self.sha256.clone(),
            eos,
            field: options.field.clone(),
            limit: options.limit,
            documents: 0,
            tokens: 0,
            inputs: Vec::new(),
            complete: false,
            sha256: None,
        })
    }
}

/// What encodes the documents of an input.
struct Encoding<'a> {
    encoder: &'a Encoder,
    options: &'a Options,
    pool: &'a rayon::ThreadPool,
    progress: &'a (dyn Fn(Event) + Sync),
}

/// How an input's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// At its end: it is recorded whole, with its hash.
    Whole,
    /// At `--limit`: the token file ends before its next document.
    AtTheLimit,
}

/// The token file being written: `FILE.partial`, the hash of the ids in it, and its manifest,
/// kept in `FILE.partial.json` after every input so that an interrupted run continues.
struct Output {
    file: fs::File,
    written: Sha256,
    manifest: Manifest,
    partial: PathBuf,
    progress: PathBuf,
}

impl Output {
    /// Continues an interrupted run made with the same choices and the same first inputs, over
    /// the ids it wrote (checked against their hash); else starts over from `fresh`.
    fn open(options: &Options, fresh: Manifest) -> Result<Output, TokenizeError> {
        let partial = with_suffix(&options.out, ".partial");
        let progress = Manifest::path(&partial);
        let continued = previous(&progress, &fresh, &options.inputs).and_then(|done| {
            continue_partial(&partial, &done, fresh.dtype).map(|(file, written)| (done, file, written))
        });
        let (manifest, file, written) = match continued {
            Some(continued) => continued,
            None => {
                // The partial output is this command's own: whatever is in its place (a link, a
                // pipe, ids that cannot be checked) is removed, not followed.
                crate::fs::remove(&partial).map_err(output_error(&partial))?;
                (fresh, crate::fs::create(&partial).map_err(output_error(&partial))?, Sha256::new())
            }
        };
        Ok(Output { file, written, manifest, partial, progress })
    }

    /// Encodes the input at `path` in batches, recording it in the manifest.
    fn input(&mut self, path: &Path, encoding: &Encoding) -> Result<Ended, TokenizeError> {
        let options = encoding.options;
        let shown = path.display().to_string();
        let input_error = |message: String| TokenizeError::Input { path: shown.clone(), message };
        let (format, compression) = format_of(path).map_err(input_error)?;
        let file = crate::fs::open_regular(path).map_err(|e| input_error(e.to_string()))?;
        let stored = file.metadata().map_err(|e| input_error(e.to_string()))?.len();
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut record =
            InputRecord { path: shown.clone(), bytes: stored, sha256: String::new(), documents: 0, tokens: 0 };
        let mut hashing = Hashing { inner: file, hasher: Sha256::new(), bytes: consumed.clone() };
        let mut ended = Ended::Whole;
        {
            let documents: Documents = match format {
                Format::Parquet => super::parquet::documents(path, &options.field)?,
                Format::Text | Format::JsonLines => {
                    let reader: Box<dyn Read> = match compression {
                        Compression::None => Box::new(&mut hashing),
                        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut hashing)),
                        Compression::Zstd => Box::new(
                            zstd::stream::read::Decoder::new(&mut hashing).map_err(|e| input_error(e.to_string()))?,
                        ),
                    };
                    match format {
                        Format::Text => text_document(reader, &shown)?,
                        _ => json_documents(reader, &shown, &options.field),
                    }
                }
            };
            let mut documents = documents.peekable();
            while ended == Ended::Whole && documents.peek().is_some() {
                let (mut batch, mut batch_bytes) = (Vec::new(), 0);
                while let Some(document) =
                    documents.next_if(|_| batch.len() < BATCH_DOCUMENTS && batch_bytes < BATCH_BYTES)
                {
                    let document = document?;
                    batch_bytes += document.len();
                    batch.push(document);
                }
                let (documents_written, tokens_written, batch_ended) = self.batch(&batch, encoding)?;
                ended = batch_ended;
                record.documents += documents_written;
                record.tokens += tokens_written;
                (encoding.progress)(Event::Batch {
                    documents: documents_written,
                    tokens: tokens_written,
                    input_bytes: consumed.load(std::sync::atomic::Ordering::Relaxed),
                });
            }
        }
        if ended == Ended::Whole {
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| input_error(e.to_string()))?;
            record.sha256 = match format {
                Format::Parquet => file_sha256(path).map_err(|e| input_error(e.to_string()))?,
                _ => hex(&hashing.hasher.finalize()),
            };
        }
        // A cut input is not complete: it keeps no hash (one would be of a prefix), and the run
        // is not continued from it.
        self.manifest.inputs.push(record);
        self.manifest.sha256 = Some(hex(&self.written.clone().finalize()));
        self.file.sync_data().map_err(output_error(&self.partial))?;
        if ended == Ended::Whole {
            let json = serde_json::to_vec_pretty(&self.manifest).map_err(|e| output_error(&self.progress)(e.into()))?;
            crate::fs::write_atomic(&self.progress, &json).map_err(output_error(&self.progress))?;
        }
        Ok(ended)
    }

    /// Encodes a batch of documents on the pool and writes their ids, up to `--limit`: the
    /// documents and tokens written, and whether the limit ended the input.
    fn batch(&mut self, batch: &[String], encoding: &Encoding) -> Result<(u64, u64, Ended), TokenizeError> {
        let (vocab, dtype, eos) = (self.manifest.vocab, self.manifest.dtype, self.manifest.eos);
        let encoded: Vec<Result<Vec<u32>, String>> =
            encoding.pool.install(|| batch.par_iter().map(|text| encoding.encoder.encode(text)).collect());
        let mut bytes = Vec::new();
        let (mut documents, mut tokens, mut ended) = (0, 0, Ended::Whole);
        for ids in encoded {
            let mut ids = ids.map_err(TokenizeError::Tokenizer)?;
            ids.extend(eos);
            let count = ids.len() as u64;
            if encoding.options.limit.is_some_and(|limit| self.manifest.tokens + tokens + count > limit) {
                ended = Ended::AtTheLimit;
                break;
            }
            if let Some(&id) = ids.iter().find(|&&id| u64::from(id) >= vocab) {
                return Err(TokenizeError::Usage(format!(
                    "the tokenizer made id {id}, outside its vocabulary of {vocab}"
                )));
            }
            push_ids(&mut bytes, &ids, dtype);
            documents += 1;
            tokens += count;
        }
        self.file.write_all(&bytes).map_err(output_error(&self.partial))?;
        self.written.update(&bytes);
        self.manifest.documents += documents;
        self.manifest.tokens += tokens;
        Ok((documents, tokens, ended))
    }

    /// Gives the ids their name, with the tokenizer beside them and the manifest marked complete.
    fn finish(mut self, options: &Options, tokenizer_json: Option<&[u8]>) -> Result<Manifest, TokenizeError> {
        if self.manifest.documents == 0 {
            drop(self.file);
            let _ = fs::remove_file(&self.partial);
            let _ = fs::remove_file(&self.progress);
            return Err(TokenizeError::Usage("the inputs hold no document".into()));
        }
        self.manifest.complete = true;
        drop(self.file);
        // The tokenizer goes beside the ids before they take their name, so that a token file in
        // place always has it.
        let beside = Manifest::tokenizer_path(&options.out);
        match tokenizer_json {
            Some(json) => crate::fs::write_atomic(&beside, json).map_err(output_error(&beside))?,
            // One left by an earlier run with a tokenizer file describes other ids.
            None => crate::fs::remove(&beside).map_err(output_error(&beside))?,
        }
        fs::rename(&self.partial, &options.out).map_err(output_error(&options.out))?;
        let manifest_path = Manifest::path(&options.out);
        let json = serde_json::to_vec_pretty(&self.manifest).map_err(|e| output_error(&manifest_path)(e.into()))?;
        crate::fs::write_atomic(&manifest_path, &json).map_err(output_error(&manifest_path))?;
        let _ = fs::remove_file(&self.progress);
        Ok(self.manifest)
    }
}

/// An error writing the output at `path`.
fn output_error(path: &Path) -> impl Fn(io::Error) -> TokenizeError {
    let path = path.display().to_string();
    move |error| TokenizeError::Output { path: path.clone(), error }
}

/// The output of an interrupted run, opened to continue after the ids its progress counts, with
/// the hash of those ids; `None` (start over) when it is not a regular file of this run's own (a
/// link, a pipe, a file linked elsewhere), holds fewer bytes, or they are not the ids the progress
/// hashed.
fn continue_partial(partial: &Path, done: &Manifest, dtype: Dtype) -> Option<(fs::File, Sha256)> {
    let mut file = crate::fs::open_to_continue(partial).ok()?;
    let bytes = done.tokens.checked_mul(width(dtype))?;
    if file.metadata().ok()?.len() < bytes {
        return None;
    }
    let mut written = Sha256::new();
    io::copy(&mut (&mut file).take(bytes), &mut written).ok()?;
    if done.sha256.as_deref() != Some(hex(&written.clone().finalize()).as_str()) {
        return None;
    }
    file.set_len(bytes).ok()?;
    file.seek(SeekFrom::End(0)).ok()?;
    Some((file, written))
}

/// The progress of an interrupted run that this one continues: same choices, and its completed
/// inputs are this run's first inputs, unchanged in size.
fn previous(progress: &Path, fresh: &Manifest, inputs: &[PathBuf]) -> Option<Manifest> {
    let done: Manifest =
        serde_json::from_str(&crate::fs::read_to_string(progress, crate::fs::MAX_JSON_BYTES).ok()?).ok()?;
    let same = done.format == fresh.format
        && done.dtype == fresh.dtype
        && done.vocab == fresh.vocab
        && done.tokenizer_sha256 == fresh.tokenizer_sha256
        && done.eos == fresh.eos
        && done.field == fresh.field
        && done.limit == fresh.limit
        && done.inputs.len() <= inputs.len()
        && done.inputs.iter().zip(inputs).all(|(record, path)| {
            record.path == path.display().to_string() && fs::metadata(path).is_ok_and(|m| m.len() == record.bytes)
        });
    same.then_some(done)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn width(dtype: Dtype) -> u64 {
    match dtype {
        Dtype::U16 => 2,
        Dtype::U32 => 4,
    }
}

fn push_ids(bytes: &mut Vec<u8>, ids: &[u32], dtype: Dtype) {
    match dtype {
        Dtype::U16 => ids.iter().for_each(|&id| bytes.extend_from_slice(&(id as u16).to_le_bytes())),
        Dtype::U32 => ids.iter().for_each(|&id| bytes.extend_from_slice(&id.to_le_bytes())),
    }
}

fn file_sha256(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut crate::fs::open_regular(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// A plain-text file: one document, read whole.
fn text_document<'a>(reader: Box<dyn Read + 'a>, path: &str) -> Result<Documents<'a>, TokenizeError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TokenizeError::Input { path: path.to_string(), message: format!("cannot read: {e}") })?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(TokenizeError::Input {
            path: path.to_string(),
            message: format!(
                "a text file is one document, and this one has more than {MAX_DOCUMENT_BYTES} bytes (split it, or give JSON lines)"
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| TokenizeError::Input {
        path: path.to_string(),
        message: format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
    })?;
    Ok(Box::new(std::iter::once(Ok(text)).filter(|d| d.as_ref().is_ok_and(|t| !t.is_empty()))))
}

/// JSON lines: one object per line, its `field` a document; blank lines are skipped.
fn json_documents<'a>(reader: Box<dyn Read + 'a>, path: &str, field: &str) -> Documents<'a> {
    let mut lines = BufReader::with_capacity(1 << 20, reader);
    let (path, field) = (path.to_string(), field.to_string());
    let mut number = 0usize;
    let mut buffer = Vec::new();
    Box::new(std::iter::from_fn(move || loop {
        buffer.clear();
        number += 1;
        let at = |message: String| Some(Err(TokenizeError::Input { path: format!("{path}:{number}"), message }));
        match (&mut lines).take(MAX_DOCUMENT_BYTES as u64 + 1).read_until(b'\n', &mut buffer) {
            Ok(0) => return None,
            Ok(_) if buffer.len() > MAX_DOCUMENT_BYTES => {
                return at(format!("a line of more than {MAX_DOCUMENT_BYTES} bytes"))
            }
            Ok(_) => {}
            Err(error) => return at(format!("cannot read: {error}")),
        }
        let line = match std::str::from_utf8(&buffer) {
            Ok(line) => line.trim(),
            Err(error) => return at(format!("not UTF-8 (at byte {})", error.valid_up_to())),
        };
        if line.is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(error) => return at(format!("not JSON: {error}")),
        };
        return match value.get(&field) {
            Some(serde_json::Value::String(text)) => Some(Ok(text.clone())),
            Some(other) => at(format!("`{field}` is not a string but {}", kind(other))),
            None => at(format!("no field `{field}` (choose one with `--field`)")),
        };
    }))
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
