//! A data source as a token stream with its split: what the trainer reads. Plain Rust.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use super::hash::mix;
use rayon::prelude::*;

use super::text::Coder;
use super::{corpus, split, synthetic};
use crate::access::Access;
use crate::config::{DataConfig, Dtype, Source, Tokenizer};

/// The tokens of a data source, split into training and held-out ranges.
pub struct Tokens {
    /// The whole stream of token ids.
    pub tokens: Stream,
    /// The ranges of the stream trained on.
    pub train: Vec<Range<usize>>,
    /// The ranges of the stream held out for evaluation.
    pub holdout: Vec<Range<usize>>,
    /// How the ids read as text: the tokenizer that made them (for a token file, the one kept
    /// beside it, or why it cannot be used); `None` for generated ids, which have no text.
    pub coder: Option<Result<Coder, String>>,
}

/// A token stream: in memory, or memory-mapped `tokens(..)` files read in place.
pub enum Stream {
    /// Ids decoded into memory (text, generated or bundled sources).
    Owned(Vec<u32>),
    /// One file, or a training file and its `valid` file, one after the other.
    Mapped(Vec<Mapped>),
}

/// A memory-mapped file of little-endian ids, at `start` in its stream.
pub struct Mapped {
    map: memmap2::Mmap,
    dtype: Dtype,
    start: usize,
    len: usize,
}

impl Mapped {
    /// Maps the token file at configuration path `path`, read through `access`.
    fn open(access: &Access, path: &str, dtype: Dtype, start: usize) -> Result<Mapped, String> {
        let (file, _) = access.open(&access.base().join(path)).map_err(|e| format!("cannot read `{path}`: {e}"))?;
        // SAFETY: the map is only read, and token files are inputs that nothing writes while a
        // run reads them; one changed underneath would give wrong tokens, not unsafety in Rust
        // terms beyond what any reader of a changing file sees.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map `{path}`: {e}"))?;
        let size = match dtype {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        };
        if map.len() % size != 0 {
            return Err(format!("`{path}` has {} bytes, not a whole number of {size}-byte ids", map.len()));
        }
        Ok(Mapped { len: map.len() / size, map, dtype, start })
    }

    fn get(&self, i: usize) -> u32 {
        match self.dtype {
            Dtype::U16 => u32::from(u16::from_le_bytes([self.map[2 * i], self.map[2 * i + 1]])),
            Dtype::U32 => {
                u32::from_le_bytes([self.map[4 * i], self.map[4 * i + 1], self.map[4 * i + 2], self.map[4 * i + 3]])
            }
        }
    }
}

impl Stream {
    /// The number of tokens in the stream.
    pub fn len(&self) -> usize {
        match self {
            Stream::Owned(ids) => ids.len(),
            Stream::Mapped(maps) => maps.iter().map(|m| m.len).sum(),
        }
    }

    /// Whether the stream has no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in `range`.
    pub fn window(&self, range: Range<usize>) -> Cow<'_, [u32]> {
        match self {
            Stream::Owned(ids) => Cow::Borrowed(&ids[range]),
            Stream::Mapped(maps) => Cow::Owned(
                range
                    .map(|i| {
                        // Invariant: ranges lie inside the stream, and the maps cover it.
                        let m = maps.iter().find(|m| i < m.start + m.len).expect("an id inside the stream");
                        m.get(i - m.start)
                    })
                    .collect(),
            ),
        }
    }

    /// The largest id.
    pub fn max(&self) -> Option<u32> {
        match self {
            Stream::Owned(ids) => ids.iter().copied().max(),
            Stream::Mapped(maps) => maps.iter().flat_map(|m| (0..m.len).map(|i| m.get(i))).max(),
        }
    }
}

impl Tokens {
    /// Loads a source, reading its files through `access` (config paths are relative to its
    /// base); `cache` is where trained tokenizers are kept (none: train every time). Each stretch
    /// of text is encoded on its own and whole (see [`Coder::encode`]), stretches in parallel.
    pub fn load(data: &DataConfig, access: &Access, cache: Option<&Path>) -> Result<Tokens, String> {
        if let Some(tokens) = Tokens::mapped(data, access)? {
            return Ok(tokens);
        }
        let (segments, coder) = segments(data, access, cache)?;
        let encoded: Vec<(Result<Vec<u32>, String>, bool)> = segments
            .into_par_iter()
            .map(|(segment, held)| match segment {
                Segment::Ids(ids) => (Ok(ids), held),
                Segment::Text(text) => (coder.encode(&text), held),
            })
            .collect();
        // Each stretch's ids are freed as they are moved into the stream, which is allocated once.
        let mut ids = Vec::with_capacity(encoded.iter().map(|(more, _)| more.as_ref().map_or(0, Vec::len)).sum());
        let (mut train, mut holdout) = (Vec::new(), Vec::new());
        for (more, held) in encoded {
            let start = ids.len();
            ids.extend(more?);
            let range = start..ids.len();
            if !range.is_empty() {
                (if held { &mut holdout } else { &mut train }).push(range);
            }
        }
        let coder = match &data.source {
            Source::Synthetic(_) => None,
            Source::Tokens { path, .. } => Some(Coder::of_token_file(access, path)),
            _ => Some(Ok(coder)),
        };
        Ok(Tokens { tokens: Stream::Owned(ids), train, holdout, coder })
    }

    /// `tokens(..)` files, memory-mapped and read in place (with a `valid` source, when that is
    /// a token file too); `None` for other sources.
    fn mapped(data: &DataConfig, access: &Access) -> Result<Option<Tokens>, String> {
        let Source::Tokens { path, dtype } = &data.source else { return Ok(None) };
        let first = Mapped::open(access, path, *dtype, 0)?;
        let len = first.len;
        match &data.valid {
            None => {
                let (mut train, mut holdout) = (Vec::new(), Vec::new());
                for (range, held) in runs(len, data.holdout) {
                    (if held { &mut holdout } else { &mut train }).push(range);
                }
                let coder = Some(Coder::of_token_file(access, path));
                Ok(Some(Tokens { tokens: Stream::Mapped(vec![first]), train, holdout, coder }))
            }
            Some(Source::Tokens { path: valid, dtype }) => {
                let second = Mapped::open(access, valid, *dtype, len)?;
                let (train, holdout) =
                    (std::iter::once(0..len).collect(), std::iter::once(len..len + second.len).collect());
                let coder = Some(Coder::of_token_file(access, path));
                Ok(Some(Tokens { tokens: Stream::Mapped(vec![first, second]), train, holdout, coder }))
            }
            Some(_) => Ok(None),
        }
    }
}

/// [`split::blocks`] with neighbouring blocks of the same side joined.
pub fn runs(len: usize, holdout: f64) -> Vec<(Range<usize>, bool)> {
    let mut runs: Vec<(Range<usize>, bool)> = Vec::new();
    for (range, held) in split::blocks(len, holdout) {
        match runs.last_mut() {
            Some((last, side)) if *side == held => last.end = range.end,
            _ => runs.push((range, held)),
        }
    }
    runs
}

/// The stretches of a source that is read into memory, each with whether it is held out, and
/// the source's tokenizer (trained on the training stretches, where it is trained).
fn segments(data: &DataConfig, access: &Access, cache: Option<&Path>) -> Result<(Vec<(Segment, bool)>, Coder), String> {
    let segments = match &data.valid {
        Some(valid) => {
            vec![(Segments::read(&data.source, access)?.whole(), false), (Segments::read(valid, access)?.whole(), true)]
        }
        None => Segments::read(&data.source, access)?.split(data.holdout),
    };
    let train = segments
        .iter()
        .filter(|(_, held)| !held)
        .map(|(segment, _)| match segment {
            Segment::Text(text) => Ok(text.as_ref()),
            Segment::Ids(_) => Err(()),
        })
        .collect::<Result<Vec<&[u8]>, ()>>();
    let coder = match (&data.tokenizer, train) {
        (Tokenizer::Bpe { .. }, Err(())) => return Err("a `bpe` tokenizer needs a text source".into()),
        (tokenizer, train) => Coder::new(tokenizer, &train.unwrap_or_default(), access, cache)?,
    };
    Ok((segments, coder))
}

/// A stretch of a source: text for a tokenizer, or token ids already.
enum Segment {
    Text(Box<[u8]>),
    Ids(Vec<u32>),
}

/// A whole source, read.
enum Segments {
    Text(Vec<u8>),
    Ids(Vec<u32>),
}

impl Segments {
    fn read(source: &Source, access: &Access) -> Result<Segments, String> {
        Ok(match source {
            Source::Bundled { name } => Segments::Text(
                corpus::find(name).ok_or_else(|| format!("no bundled corpus `{name}`"))?.text()?.to_vec(),
            ),
            Source::Text { paths } => {
                let mut all = Vec::new();
                for path in paths {
                    let cannot = |e: String| format!("cannot read `{path}`: {e}");
                    let (mut file, _) = access.open(&access.base().join(path)).map_err(|e| cannot(e.to_string()))?;
                    std::io::Read::read_to_end(&mut file, &mut all).map_err(|e| cannot(e.to_string()))?;
                }
                Segments::Text(all)
            }
            Source::Tokens { path, dtype } => {
                let mapped = Mapped::open(access, path, *dtype, 0)?;
                Segments::Ids((0..mapped.len).map(|i| mapped.get(i)).collect())
            }
            Source::Synthetic(config) => Segments::Ids(synthetic::generate(config)),
        })
    }

    fn whole(self) -> Segment {
        match self {
            Segments::Text(text) => Segment::Text(text.into()),
            Segments::Ids(ids) => Segment::Ids(ids),
        }
    }

    /// The split into training and held-out stretches: [`split::blocks`] over the bytes of a
    /// text (so every tokenizer holds out the same text) or over the ids, with neighbouring
    /// blocks of the same side joined, so that training windows may cross their boundaries.
    /// Text boundaries move forward to the next character boundary.
    fn split(self, holdout: f64) -> Vec<(Segment, bool)> {
        let len = match &self {
            Segments::Text(text) => text.len(),
            Segments::Ids(ids) => ids.len(),
        };
        let runs = runs(len, holdout);
        match self {
            Segments::Ids(ids) => runs.into_iter().map(|(r, held)| (Segment::Ids(ids[r].to_vec()), held)).collect(),
            Segments::Text(text) => {
                let boundary = |mut i: usize| {
                    // UTF-8 continuation bytes are 0b10xxxxxx.
                    while i < text.len() && text[i] & 0xC0 == 0x80 {
                        i += 1;
                    }
                    i
                };
                runs.into_iter()
                    .map(|(r, held)| (boundary(r.start)..boundary(r.end), held))
                    .filter(|(r, _)| !r.is_empty())
                    .map(|(r, held)| (Segment::Text(text[r].into()), held))
                    .collect()
            }
        }
    }
}

/// Seeded sampling of training windows of `context + 1` tokens (inputs and shifted targets).
pub struct Sampler {
    /// Start offsets at which a whole window fits inside one training range.
    starts: Vec<(usize, usize)>,
    total: u64,
    window: usize,
}

impl Sampler {
    /// A sampler of `context + 1`-token windows from the training ranges; an error when no range holds one.
    pub fn new(tokens: &Tokens, context: usize) -> Result<Sampler, String> {
        let window = context + 1;
        let starts: Vec<(usize, usize)> =
            tokens.train.iter().filter(|r| r.len() >= window).map(|r| (r.start, r.len() - window + 1)).collect();
        let total = starts.iter().map(|(_, n)| *n as u64).sum();
        if total == 0 {
            return Err(format!(
                "the training split has no window of {window} tokens; lower `context` or use more data"
            ));
        }
        Ok(Sampler { starts, total, window })
    }

    /// The window starts of one batch at `step`: a function of `(seed, step)` alone, so a resumed
    /// run sees exactly the batches an uninterrupted one does.
    pub fn batch(&self, seed: u64, step: u64, batch: usize) -> Vec<usize> {
        (0..batch as u64)
            .map(|i| {
                let mut pick = mix(mix(seed, step), i) % self.total;
                for &(start, count) in &self.starts {
                    if pick < count as u64 {
                        return start + pick as usize;
                    }
                    pick -= count as u64;
                }
                unreachable!("pick < total")
            })
            .collect()
    }

    /// The tokens of one sample: the context and the next token.
    pub fn window(&self) -> usize {
        self.window
    }
}

/// The fixed evaluation windows: consecutive, non-overlapping windows over the held-out ranges,
/// at most `tokens` tokens in all. The same for every trial on this data.
pub fn eval_windows(tokens: &Tokens, context: usize, budget: u64) -> Vec<usize> {
    let window = context + 1;
    let mut out = Vec::new();
    for range in &tokens.holdout {
        let mut start = range.start;
        while start + window <= range.end && ((out.len() + 1) * context) as u64 <= budget {
            out.push(start);
            start += window;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyntheticConfig;

    fn markov(tokens: u64) -> DataConfig {
        DataConfig {
            source: Source::Synthetic(SyntheticConfig { vocab: 64, order: 1, branching: 4, tokens, seed: 3 }),
            tokenizer: Tokenizer::Bytes,
            context: 16,
            holdout: 0.1,
            valid: None,
        }
    }

    #[test]
    fn batches_are_a_function_of_seed_and_step_and_stay_in_the_training_split() {
        let tokens = Tokens::load(&markov(100_000), &Access::default(), None).unwrap();
        let sampler = Sampler::new(&tokens, 16).unwrap();
        assert_eq!(sampler.batch(1, 5, 8), sampler.batch(1, 5, 8));
        assert_ne!(sampler.batch(1, 5, 8), sampler.batch(1, 6, 8));
        assert_ne!(sampler.batch(1, 5, 8), sampler.batch(2, 5, 8));
        for start in sampler.batch(9, 0, 256) {
            assert!(tokens.train.iter().any(|r| r.start <= start && start + 17 <= r.end));
        }
    }

    #[test]
    fn evaluation_windows_are_fixed_held_out_and_bounded() {
        let tokens = Tokens::load(&markov(100_000), &Access::default(), None).unwrap();
        let windows = eval_windows(&tokens, 16, 1000);
        assert_eq!(windows.len(), 1000 / 16);
        for start in &windows {
            assert!(tokens.holdout.iter().any(|r| r.start <= *start && start + 17 <= r.end));
        }
    }

    #[test]
    fn bundled_shakespeare_loads_as_bytes() {
        let data = DataConfig {
            source: Source::Bundled { name: "shakespeare".into() },
            tokenizer: Tokenizer::Bytes,
            context: 64,
            holdout: 0.01,
            valid: None,
        };
        let tokens = Tokens::load(&data, &Access::default(), None).unwrap();
        assert_eq!(tokens.tokens.len() as u64, corpus::SHAKESPEARE.bytes);
        let held: usize = tokens.holdout.iter().map(|r| r.len()).sum();
        assert!((held as f64 / tokens.tokens.len() as f64 - 0.01).abs() < 0.002);
    }

    #[test]
    fn bpe_holds_out_the_same_text_as_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let line = |i: usize| format!("line {i}: to be or not to be, that is the question — ñ\n");
        let text: String = (0..3000).map(line).collect();
        std::fs::write(dir.path().join("t.txt"), &text).unwrap();
        let data = |tokenizer| DataConfig {
            source: Source::Text { paths: vec!["t.txt".into()] },
            tokenizer,
            context: 16,
            holdout: 0.1,
            valid: None,
        };
        let cache = dir.path().join("cache");
        let bytes =
            Tokens::load(&data(Tokenizer::Bytes), &Access::for_entry(&dir.path().join("x.sprs")), None).unwrap();
        let bpe = Tokens::load(
            &data(Tokenizer::Bpe { vocab: 400 }),
            &Access::for_entry(&dir.path().join("x.sprs")),
            Some(&cache),
        )
        .unwrap();
        assert!(bpe.tokens.len() < bytes.tokens.len() / 2);
        assert!(bpe.tokens.max() < Some(400));
        let file = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
        let tokenizer = tokenizers::Tokenizer::from_file(file).unwrap();
        let held_bytes: Vec<u8> =
            bytes.holdout.iter().flat_map(|r| bytes.tokens.window(r.clone()).into_owned()).map(|b| b as u8).collect();
        let held_bpe: String =
            bpe.holdout.iter().map(|r| tokenizer.decode(&bpe.tokens.window(r.clone()), false).unwrap()).collect();
        // The same text, up to where the block boundaries moved to whole characters.
        assert!(
            held_bytes.len().abs_diff(held_bpe.len()) <= 4 * bpe.holdout.len(),
            "{} {}",
            held_bytes.len(),
            held_bpe.len()
        );
        assert_eq!(bytes.holdout.len(), bpe.holdout.len());
        assert!(held_bpe.contains("to be or not"));
    }

    #[test]
    fn token_files_are_mapped_and_split_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<u16> = (0..20_000u32).map(|i| (i * 7 % 1000) as u16).collect();
        std::fs::write(dir.path().join("a.bin"), ids.iter().flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>())
            .unwrap();
        let wide: Vec<u8> = (0..3000u32).flat_map(|i| (70_000 + i).to_le_bytes()).collect();
        std::fs::write(dir.path().join("b.bin"), wide).unwrap();
        std::fs::write(dir.path().join("odd.bin"), [1u8, 2, 3]).unwrap();
        let data = |valid: Option<Source>| DataConfig {
            source: Source::Tokens { path: "a.bin".into(), dtype: Dtype::U16 },
            tokenizer: Tokenizer::Bytes,
            context: 16,
            holdout: 0.2,
            valid,
        };
        let tokens = Tokens::load(&data(None), &Access::for_entry(&dir.path().join("x.sprs")), None).unwrap();
        assert!(matches!(tokens.tokens, Stream::Mapped(_)));
        assert_eq!(tokens.tokens.len(), 20_000);
        let all: Vec<u32> = tokens.tokens.window(0..20_000).into_owned();
        assert_eq!(all, ids.iter().map(|&i| u32::from(i)).collect::<Vec<_>>());
        let mut ranges: Vec<_> = tokens.train.iter().chain(&tokens.holdout).cloned().collect();
        ranges.sort_by_key(|r| r.start);
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), 20_000);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        // The same split as the stream read into memory.
        let runs: Vec<_> = runs(20_000, 0.2).into_iter().filter(|(_, h)| *h).map(|(r, _)| r).collect();
        assert_eq!(tokens.holdout, runs);

        let valid = Tokens::load(
            &data(Some(Source::Tokens { path: "b.bin".into(), dtype: Dtype::U32 })),
            &Access::for_entry(&dir.path().join("x.sprs")),
            None,
        )
        .unwrap();
        assert_eq!((valid.train.len(), valid.holdout.len()), (1, 1));
        assert_eq!((valid.train[0].clone(), valid.holdout[0].clone()), (0..20_000, 20_000..23_000));
        assert_eq!(valid.tokens.window(19_999..20_001).into_owned(), vec![u32::from(ids[19_999]), 70_000]);
        assert_eq!(valid.tokens.max(), Some(72_999));

        let odd = DataConfig { source: Source::Tokens { path: "odd.bin".into(), dtype: Dtype::U16 }, ..data(None) };
        let error = Tokens::load(&odd, &Access::for_entry(&dir.path().join("x.sprs")), None).err().unwrap();
        assert!(error.contains("3 bytes, not a whole number of 2-byte ids"), "{error}");
    }
}
