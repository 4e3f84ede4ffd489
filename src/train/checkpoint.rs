//! Checkpoints: everything a trial needs to continue exactly where it stopped, in one file
//! written atomically (`checkpoint.bin` in the trial's folder).
//!
//! Layout: the magic `SPRSCKP2`, then length-prefixed (u64, little-endian) sections: a JSON
//! header, the packed mask bits, the model record, the optimizer state. Batches are a function of
//! (seed, step) and the learning rate of the step, so model, optimizer, masks and the step are the
//! whole state of a run. The header binds the rest to its trial: the trial's id and the digest of
//! its whole configuration, the shapes of its tensors, and the SHA-256 of the other sections.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::masks::Masks;
use crate::store::RanOn;

const MAGIC: &[u8; 8] = b"SPRSCKP2";

/// The most backend and device pairs a checkpoint names: more is not a run of this program.
pub const MAX_RAN_ON: usize = 16;

/// The small part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The trial it belongs to.
    pub id: String,
    /// The next step to run.
    pub step: u64,
    /// Non-zero counted parameters summed over the steps run (for N_avg and C), as a decimal
    /// string because JSON numbers cannot hold a u128.
    pub nonzero_sum: String,
    /// Sizes of the prunable matrices.
    pub mask_sizes: Vec<usize>,
    /// The SHA-256 of the trial's configuration ([`crate::check::config_digest`]).
    pub config: String,
    /// The shapes of the model's tensors, in [`crate::plan::tensors`]'s order.
    pub shapes: Vec<Vec<u64>>,
    /// The backends and devices that took the steps before `step`, each once, in order (at most
    /// [`MAX_RAN_ON`]); empty in a checkpoint from before sprs kept them.
    #[serde(default)]
    pub ran_on: Vec<RanOn>,
    /// The SHA-256 of the mask bits, the model record and the optimizer state, as encoded; empty
    /// until [`Checkpoint::encode`] fills it in.
    #[serde(default)]
    pub checksum: String,
}

/// The bytes a trial's checkpoint may have at most, for a model of `params` parameters of which
/// `prunable` have masks: its weights and AdamW's two moments in f32 (12 bytes a parameter, with
/// room for four more), the mask bits, and a MiB for the header and the records' framing.
pub fn max_bytes(params: u64, prunable: u64) -> u64 {
    params.saturating_mul(16).saturating_add(prunable / 8).saturating_add(1 << 20)
}

fn sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    crate::data::hash::hex(&hasher.finalize())
}

/// A decoded checkpoint.
pub struct Checkpoint {
    /// What the checkpoint continues: the trial, its step and its data position.
    pub header: Header,
    /// The pruning masks.
    pub masks: Masks,
    /// The model's weights, as Burn records them.
    pub model: Vec<u8>,
    /// The optimizer's state, as Burn records it.
    pub optimizer: Vec<u8>,
}

impl Checkpoint {
    /// The checkpoint's bytes: the header, then each part with its length and checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let mut bits = Vec::new();
        for mask in &self.masks.keep {
            let mut packed = vec![0u8; mask.len().div_ceil(8)];
            for (i, &keep) in mask.iter().enumerate() {
                if keep {
                    packed[i / 8] |= 1 << (i % 8);
                }
            }
            bits.extend(packed);
        }
        let header = Header { checksum: sha256(&[&bits, &self.model, &self.optimizer]), ..self.header.clone() };
        // Invariant: the header is plain data whose serialization cannot fail.
        let header = serde_json::to_vec(&header).expect("a checkpoint header serializes");
        for section in [&header, &bits, &self.model, &self.optimizer] {
            out.extend((section.len() as u64).to_le_bytes());
            out.extend(section.iter());
        }
        out
    }

    /// Reads a checkpoint, refusing one that is truncated, damaged or of another format.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        let damaged = || "it is damaged".to_string();
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(damaged)?;
        let mut sections = Vec::new();
        let mut at = 0usize;
        for _ in 0..4 {
            let len: [u8; 8] = rest.get(at..at + 8).and_then(|s| s.try_into().ok()).ok_or_else(damaged)?;
            let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| damaged())?;
            at += 8;
            sections.push(rest.get(at..at.checked_add(len).ok_or_else(damaged)?).ok_or_else(damaged)?);
            at += len;
        }
        let header: Header = serde_json::from_slice(sections[0]).map_err(|e| format!("its header is damaged: {e}"))?;
        if sha256(&sections[1..]) != header.checksum {
            return Err("it is damaged: its bytes are not those it was saved with".into());
        }
        let mut keep = Vec::new();
        let mut offset = 0usize;
        for &size in &header.mask_sizes {
            let end = offset.checked_add(size.div_ceil(8)).ok_or_else(damaged)?;
            let packed = sections[1].get(offset..end).ok_or_else(damaged)?;
            keep.push((0..size).map(|i| packed[i / 8] & (1 << (i % 8)) != 0).collect());
            offset = end;
        }
        Ok(Checkpoint { header, masks: Masks { keep }, model: sections[2].to_vec(), optimizer: sections[3].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let checkpoint = Checkpoint {
            header: Header {
                id: "abc".into(),
                step: 17,
                nonzero_sum: u128::MAX.to_string(),
                mask_sizes: vec![3, 10],
                config: "digest".into(),
                shapes: vec![vec![2, 3]],
                ran_on: vec![RanOn { backend: "flex".into(), device: "cpu".into() }],
                checksum: String::new(),
            },
            masks: Masks { keep: vec![vec![true, false, true], (0..10).map(|i| i % 3 == 0).collect()] },
            model: vec![1, 2, 3],
            optimizer: vec![9; 100],
        };
        let bytes = checkpoint.encode();
        let back = Checkpoint::decode(&bytes).unwrap();
        assert_eq!(back.header, Header { checksum: back.header.checksum.clone(), ..checkpoint.header.clone() });
        assert_eq!(back.header.checksum.len(), 64);
        assert_eq!(back.masks, checkpoint.masks);
        assert_eq!((back.model, back.optimizer), (checkpoint.model, checkpoint.optimizer));
        assert!(Checkpoint::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Checkpoint::decode(b"nonsense").is_err());
        // A byte changed in the optimizer's state (the last section) is found.
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(Checkpoint::decode(&damaged).err().unwrap().contains("not those it was saved with"));
    }
}
