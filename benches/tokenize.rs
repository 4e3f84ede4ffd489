//! `sprs tokenize` throughput against Python's `tokenizers` (`encode_batch`), on the same
//! documents with the same tokenizer.json, and a check that both give the same ids. Run with
//! `cargo bench --bench tokenize`.
//!
//! The corpus is the bundled Shakespeare split into paragraphs (one document each) and repeated
//! to about 22 MB of JSON lines; the tokenizer is a 4096-token byte-level BPE trained on it by
//! sprs. sprs is timed end to end (reading and parsing the JSON, encoding, writing); the
//! reference times its encoding only. The python is `$SPRS_PYTHON`, else `.venv-torch/bin/python`,
//! else `python3`, with `pip install tokenizers`; without it the ratio is left out.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sprs::data::tokenize::{tokenize, Options, TokenizerChoice};

const REPEAT: usize = 4;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-tokenize");
    std::fs::create_dir_all(&dir).expect("a bench folder");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("../data/shakespeare.txt.gz")[..])
        .read_to_string(&mut text)
        .expect("the bundled corpus");
    let paragraphs: Vec<&str> = text.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let corpus = dir.join("corpus.jsonl");
    let mut lines = String::new();
    for _ in 0..REPEAT {
        for paragraph in &paragraphs {
            lines.push_str(&serde_json::json!({ "text": paragraph }).to_string());
            lines.push('\n');
        }
    }
    std::fs::write(&corpus, &lines).expect("the corpus");
    let megabytes = lines.len() as f64 / 1e6;
    let tokenizer = sprs::data::bpe::trained(&[text.as_str()], 4096, Some(&dir)).expect("a tokenizer");
    let tokenizer_path = dir.join("tokenizer.json");
    tokenizer.save(&tokenizer_path, false).expect("tokenizer.json");
    println!("corpus: {} documents, {megabytes:.1} MB of JSON lines; tokenizer: BPE 4096", paragraphs.len() * REPEAT);

    let mut ours = Vec::new();
    for jobs in [1, 2] {
        let out = dir.join(format!("sprs-{jobs}.u16"));
        let options = Options {
            inputs: vec![corpus.clone()],
            tokenizer: TokenizerChoice::File(tokenizer_path.clone()),
            out: out.clone(),
            dtype: None,
            field: "text".into(),
            eos: None,
            limit: None,
            jobs,
        };
        let started = Instant::now();
        let manifest = tokenize(&options, &|_| {}).expect("tokenizes");
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "sprs, {jobs} thread{}: {} tokens in {seconds:.2} s: {:.2}M tokens/s, {:.1} MB/s",
            if jobs == 1 { "" } else { "s" },
            manifest.tokens,
            manifest.tokens as f64 / seconds / 1e6,
            megabytes / seconds
        );
        ours.push((seconds, std::fs::read(&out).expect("the output")));
    }
    assert_eq!(ours[0].1, ours[1].1, "the output depends on the threads");

    for threads in [1, 2] {
        let ids = dir.join(format!("python-{threads}.u16"));
        let reference = Command::new(common::python("SPRS_PYTHON"))
            .env("RAYON_NUM_THREADS", threads.to_string())
            .arg(root.join("benches/reference_tokenize.py"))
            .args([&tokenizer_path, &corpus, &ids])
            .output();
        let json = reference.ok().and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
        let Some(json) = json else {
            println!("python tokenizers: left out (no python with `tokenizers`)");
            return;
        };
        let seconds = json["seconds"].as_f64().unwrap_or(f64::NAN);
        let tokens = json["tokens"].as_f64().unwrap_or(f64::NAN);
        let same = std::fs::read(&ids).is_ok_and(|theirs| theirs == ours[0].1);
        println!(
            "python tokenizers encode_batch, {threads} thread{}: {tokens} tokens in {seconds:.2} s: {:.2}M tokens/s; same ids: {same}",
            if threads == 1 { "" } else { "s" },
            tokens / seconds / 1e6,
        );
        println!(
            "sprs / python at {threads} thread{}: {:.2}x",
            if threads == 1 { "" } else { "s" },
            seconds / ours[threads - 1].0
        );
    }
    println!("sprs 2 threads / 1 thread: {:.2}x", ours[0].0 / ours[1].0);
}
