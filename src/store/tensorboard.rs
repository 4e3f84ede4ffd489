//! TensorBoard event files, one run per trial: `<out>/tensorboard/<run>/events.out.tfevents.sprs`.
//!
//! The format is TensorFlow's record file of `Event` protocol buffers: each record is its length
//! (u64, little-endian), the masked CRC-32C of those 8 bytes, the serialized event and the masked
//! CRC-32C of it. The messages below are the fields of TensorBoard's `event.proto`,
//! `summary.proto` and the HParams plugin's `plugin_data.proto` that sprs writes, by their field
//! numbers (prost). A trial writes its scalars at every step, a session start with its
//! hyperparameters (the configuration paths that differ between the file's trials) first, and a
//! session end with its status and result last, so TensorBoard's HParams tab compares trials.
//!
//! The file is opened without following links, like every other file of a results folder. A
//! trial that resumes from a checkpoint at step `s` first rewrites its file without the events of
//! steps `s` and later (the steps it runs again), so every curve's steps only go up.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prost::Message;

/// The event file's name in its run folder (TensorBoard reads files whose name holds `tfevents`).
pub const FILE: &str = "events.out.tfevents.sprs";
/// The largest record read back: a record of sprs holds a few scalars.
const MAX_RECORD: u64 = 1 << 20;
/// Buffered events reach the file at least this often, for live curves.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The training step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// What an [`Event`] holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The format of the file, in its first event.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Summary values.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// Its values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, Message)]
pub struct Value {
    /// The curve it belongs to.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A scalar.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// The tensor of a plugin's summary.
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    /// Which plugin reads it, and its data.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// `tensorflow.TensorProto`, as far as an empty tensor needs.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// The element type (`DT_FLOAT` is 1).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Its shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShape>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShape {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, Message)]
pub struct Dim {
    /// Its size.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryMetadata {
    /// The plugin and its data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, Message)]
pub struct PluginData {
    /// `hparams`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// A serialized [`HParamsPluginData`].
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorboard.hparams.HParamsPluginData`.
#[derive(Clone, PartialEq, Message)]
pub struct HParamsPluginData {
    /// The plugin data's version: 0.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// A session's start or end.
    #[prost(oneof = "Session", tags = "3, 4")]
    pub data: Option<Session>,
}

/// A session's start or end, in [`HParamsPluginData`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Session {
    /// `session_start_info`.
    #[prost(message, tag = "3")]
    Start(SessionStartInfo),
    /// `session_end_info`.
    #[prost(message, tag = "4")]
    End(SessionEndInfo),
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct SessionStartInfo {
    /// The trial's hyperparameters.
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: BTreeMap<String, ProtoValue>,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `tensorboard.hparams.SessionEndInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct SessionEndInfo {
    /// `STATUS_SUCCESS` (1) or `STATUS_FAILURE` (2).
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

/// `google.protobuf.Value`: a hyperparameter's value.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoValue {
    /// A number, a string or a boolean.
    #[prost(oneof = "Kind", tags = "2, 3, 4")]
    pub kind: Option<Kind>,
}

/// The kinds of [`ProtoValue`] sprs writes.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// `number_value`.
    #[prost(double, tag = "2")]
    Number(f64),
    /// `string_value`.
    #[prost(string, tag = "3")]
    String(String),
    /// `bool_value`.
    #[prost(bool, tag = "4")]
    Bool(bool),
}

impl From<&serde_json::Value> for ProtoValue {
    fn from(value: &serde_json::Value) -> ProtoValue {
        let kind = match value {
            serde_json::Value::Number(n) => Kind::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::Bool(b) => Kind::Bool(*b),
            serde_json::Value::String(s) => Kind::String(s.clone()),
            other => Kind::String(other.to_string()),
        };
        ProtoValue { kind: Some(kind) }
    }
}

/// How a trial ended, for its session's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It trained to the end.
    Success = 1,
    /// It failed.
    Failure = 2,
}

/// The run folder of a trial: its name made a folder name (a `/` of a unit becomes `∕`, control
/// characters `_`), cut to a length any file system takes, with the start of its id, which keeps
/// runs apart that share a name (from other files, or other `--set` overrides).
pub fn run_name(name: &str, id: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() >= 160 {
            out.push('…');
            break;
        }
        out.push(match c {
            '/' | '\\' => '∕',
            c if c.is_control() => '_',
            c => c,
        });
    }
    let short: String = id.chars().take(8).collect();
    format!("{out}-{short}")
}

/// A trial's event file, open for writing.
pub struct Events {
    out: BufWriter<File>,
    flushed: Instant,
}

impl Events {
    /// The event file in folder `dir` (created, not through a link), to write from `step` on: a
    /// new file for step 0, with the file's version and the session's start with `hparams`; else
    /// the file written so far without the events of `step` and later. The flag says whether the
    /// earlier steps were lost (the file was missing, or damaged before its end): then the file
    /// starts afresh, its curves from `step`.
    pub fn open(dir: &Path, step: u64, hparams: &BTreeMap<String, serde_json::Value>) -> io::Result<(Events, bool)> {
        crate::fs::create_dir(dir)?;
        let path = dir.join(FILE);
        if step > 0 {
            // A file that cannot be read as one (missing, or a link or FIFO put in its place)
            // keeps nothing: it is replaced.
            if let Ok(file) = crate::fs::open_regular(&path) {
                let mut records = Records::new(file);
                let mut kept = 0usize;
                crate::fs::write_atomic_with(&path, |out| {
                    for record in records.by_ref() {
                        if Event::decode(record.as_slice()).is_ok_and(|e| e.step < step as i64) {
                            out.write_all(&frame(&record))?;
                            kept += 1;
                        }
                    }
                    Ok(())
                })?;
                // The version and the session's start come first: a file that has them and was
                // read to its end has every earlier step.
                if kept >= 2 && records.ended {
                    let out = BufWriter::new(crate::fs::append(&path)?);
                    return Ok((Events { out, flushed: Instant::now() }, false));
                }
            }
        }
        let mut events = Events { out: BufWriter::new(crate::fs::create(&path)?), flushed: Instant::now() };
        events.write(&Event { wall_time: now(), step: 0, what: Some(What::FileVersion("brain.Event:2".into())) })?;
        let start = SessionStartInfo {
            hparams: hparams.iter().map(|(k, v)| (k.clone(), ProtoValue::from(v))).collect(),
            start_time_secs: now(),
        };
        events.hparams(0, "_hparams_/session_start_info", Session::Start(start))?;
        events.flush()?;
        Ok((events, step > 0))
    }

    /// Scalars of `step`, one curve per tag.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> io::Result<()> {
        let value = values
            .iter()
            .map(|&(tag, v)| Value { tag: tag.into(), simple_value: Some(v as f32), ..Value::default() })
            .collect();
        self.write(&Event { wall_time: now(), step: step as i64, what: Some(What::Summary(Summary { value })) })?;
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// The session's end at `step`, then everything written to the file.
    pub fn end(&mut self, step: u64, ending: Ending) -> io::Result<()> {
        let end = SessionEndInfo { status: ending as i32, end_time_secs: now() };
        self.hparams(step, "_hparams_/session_end_info", Session::End(end))?;
        self.flush()
    }

    /// Writes what is buffered through to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flushed = Instant::now();
        self.out.flush()
    }

    /// An HParams plugin summary: its data in the metadata, and an empty tensor as the value.
    fn hparams(&mut self, step: u64, tag: &str, session: Session) -> io::Result<()> {
        let data = HParamsPluginData { version: 0, data: Some(session) };
        let value = Value {
            tag: tag.into(),
            simple_value: None,
            tensor: Some(TensorProto { dtype: 1, tensor_shape: Some(TensorShape { dim: vec![Dim { size: 0 }] }) }),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData { plugin_name: "hparams".into(), content: data.encode_to_vec() }),
            }),
        };
        let summary = Summary { value: vec![value] };
        self.write(&Event { wall_time: now(), step: step as i64, what: Some(What::Summary(summary)) })
    }

    fn write(&mut self, event: &Event) -> io::Result<()> {
        self.out.write_all(&frame(&event.encode_to_vec()))
    }
}

/// The events of the file at `path`, up to its end or the first damaged record.
pub fn read(path: &Path) -> io::Result<Vec<Event>> {
    let records = Records::new(crate::fs::open_regular(path)?);
    Ok(records.map_while(|record| Event::decode(record.as_slice()).ok()).collect())
}

/// Where the run folders of a results folder are.
pub fn root(out: &Path) -> PathBuf {
    out.join("tensorboard")
}

/// The record of `data`: its length, the length's masked CRC, the data and its masked CRC.
fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend(len);
    out.extend(masked_crc(&len).to_le_bytes());
    out.extend(data);
    out.extend(masked_crc(data).to_le_bytes());
    out
}

/// TensorFlow's masked CRC-32C: rotated right by 15 bits, plus a constant, so that the CRC of
/// data holding CRCs is not degenerate.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The records of an event file, read one at a time; they end at the file's end (then `ended`)
/// or at the first record that is cut short, damaged or larger than sprs writes.
struct Records {
    input: BufReader<File>,
    ended: bool,
}

impl Records {
    fn new(file: File) -> Records {
        Records { input: BufReader::new(file), ended: false }
    }
}

impl Iterator for Records {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.input.fill_buf().ok()?.is_empty() {
            self.ended = true;
            return None;
        }
        // A record cut short at the end is a write that a crash interrupted: the file ends there.
        let torn = |ended: &mut bool, error: io::Error| *ended = error.kind() == io::ErrorKind::UnexpectedEof;
        let mut head = [0u8; 12];
        if let Err(error) = self.input.read_exact(&mut head) {
            torn(&mut self.ended, error);
            return None;
        }
        let (len, crc) = head.split_at(8);
        if masked_crc(len).to_le_bytes() != crc {
            return None;
        }
        let len = u64::from_le_bytes(len.try_into().ok()?);
        if len > MAX_RECORD {
            return None;
        }
        let mut data = vec![0u8; len as usize + 4];
        if let Err(error) = self.input.read_exact(&mut data) {
            torn(&mut self.ended, error);
            return None;
        }
        let crc = data.split_off(len as usize);
        (masked_crc(&data).to_le_bytes() == crc.as_slice()).then_some(data)
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C's check value (the CRC of "123456789") is 0xE3069283 (RFC 3720, appendix B.4);
    /// TensorFlow's mask, `((crc >> 15) | (crc << 17)) + 0xa282ead8`, makes it 0xC78AB0E5.
    #[test]
    fn crc32c_is_the_castagnoli_crc() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    fn scalars(events: &[Event], tag: &str) -> Vec<(i64, f32)> {
        events
            .iter()
            .filter_map(|e| match &e.what {
                Some(What::Summary(s)) => {
                    s.value.iter().find(|v| v.tag == tag).and_then(|v| Some((e.step, v.simple_value?)))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_resumed_run_drops_the_steps_it_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let hparams = BTreeMap::from([("model.width".to_string(), serde_json::json!(64))]);
        let (mut events, _) = Events::open(&run, 0, &hparams).unwrap();
        for step in 0..10 {
            events.scalars(step, &[("train/loss", 10.0 - step as f64)]).unwrap();
        }
        events.flush().unwrap();
        drop(events);
        // A crash after step 9 with a checkpoint before step 6; a cut-off record at the end.
        let path = run.join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(&frame(b"partial")[..9]);
        std::fs::write(&path, bytes).unwrap();
        let (mut events, lost) = Events::open(&run, 6, &hparams).unwrap();
        assert!(!lost, "a file cut short after step 9 has every step before 6");
        for step in 6..12 {
            events.scalars(step, &[("train/loss", 20.0 - step as f64)]).unwrap();
        }
        events.end(11, Ending::Success).unwrap();
        let read = read(&path).unwrap();
        let loss = scalars(&read, "train/loss");
        let steps: Vec<i64> = loss.iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, (0..12).collect::<Vec<_>>());
        assert_eq!(loss[5].1, 5.0);
        assert_eq!(loss[6].1, 14.0);
        let first = &read[0];
        assert_eq!(first.what, Some(What::FileVersion("brain.Event:2".into())));
        // The session start and end are HParams summaries whose data decodes.
        let plugin: Vec<HParamsPluginData> = read
            .iter()
            .filter_map(|e| match &e.what {
                Some(What::Summary(s)) => s.value[0].metadata.clone(),
                _ => None,
            })
            .map(|m| HParamsPluginData::decode(m.plugin_data.unwrap().content.as_slice()).unwrap())
            .collect();
        assert_eq!(plugin.len(), 2);
        match &plugin[0].data {
            Some(Session::Start(start)) => {
                assert_eq!(start.hparams["model.width"].kind, Some(Kind::Number(64.0)))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&plugin[1].data, Some(Session::End(end)) if end.status == 1));
    }

    /// A file missing, or damaged before its end, loses its earlier steps: the resumed file starts
    /// afresh with its version and session, and says so.
    #[test]
    fn a_resumed_run_without_its_earlier_events_starts_its_file_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let hparams = BTreeMap::from([("seed".to_string(), serde_json::json!(1))]);
        let (_, lost) = Events::open(&run, 4, &hparams).unwrap();
        assert!(lost, "no file: nothing before step 4");
        let (mut events, _) = Events::open(&run, 0, &hparams).unwrap();
        for step in 0..6 {
            events.scalars(step, &[("train/loss", step as f64)]).unwrap();
        }
        events.flush().unwrap();
        drop(events);
        let path = run.join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let (mut events, lost) = Events::open(&run, 4, &hparams).unwrap();
        assert!(lost);
        events.flush().unwrap();
        let read = read(&path).unwrap();
        assert_eq!(read[0].what, Some(What::FileVersion("brain.Event:2".into())));
        assert!(scalars(&read, "train/loss").is_empty());
    }

    #[test]
    fn run_names_are_single_folder_names() {
        let name = run_name("grid[model.width=64, budget=20 tokens/param]", "7ccf277ee685ecfc");
        assert_eq!(name, "grid[model.width=64, budget=20 tokens∕param]-7ccf277e");
        assert!(!run_name("a\u{1b}[2J/../x", "00").contains(['/', '\u{1b}']));
        assert!(run_name(&"x".repeat(1000), "ab").len() < 200);
    }

    #[cfg(unix)]
    #[test]
    fn event_files_are_not_written_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&victim, run.join(FILE)).unwrap();
        assert!(Events::open(&run, 0, &BTreeMap::new()).is_err());
        assert!(Events::open(&run, 5, &BTreeMap::new()).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(dir.path(), &linked).unwrap();
        assert!(Events::open(&linked, 0, &BTreeMap::new()).is_err());
    }
}
