//! `sprs tokenize` on corpora the tests write in every input format, against the `tokenizers`
//! crate's own `encode`, document by document; determinism across thread counts; `--limit`;
//! resuming an interrupted run; and bad inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::time::Duration;

use crate::common::{sprs, wait_until};

fn ok(output: &Output) {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Documents of varied lengths and characters (accents, CJK, emoji, newlines).
fn documents(count: usize) -> Vec<String> {
    let words = ["the", "model", "prunes", "gradually", "während", "l'été", "稀疏", "🙂", "loss\nfalls", "N_avg"];
    (0..count)
        .map(|i| (0..(i * 7 % 23 + 1)).map(|j| words[(i * 3 + j * 5) % words.len()]).collect::<Vec<_>>().join(" "))
        .collect()
}

fn jsonl(docs: &[String]) -> Vec<u8> {
    let mut text = String::new();
    for (i, doc) in docs.iter().enumerate() {
        text.push_str(&serde_json::json!({ "id": i, "text": doc, "url": "https://example.org" }).to_string());
        text.push('\n');
    }
    text.into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn parquet_file(path: &Path, docs: &[String], row_group: usize) {
    let schema =
        Arc::new(parse_message_type("message schema { REQUIRED BYTE_ARRAY text (UTF8); REQUIRED INT64 id; }").unwrap());
    let mut writer =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, Default::default()).unwrap();
    for (g, chunk) in docs.chunks(row_group).enumerate() {
        let mut group = writer.next_row_group().unwrap();
        let mut text = group.next_column().unwrap().unwrap();
        let values: Vec<ByteArray> = chunk.iter().map(|d| ByteArray::from(d.as_str())).collect();
        text.typed::<ByteArrayType>().write_batch(&values, None, None).unwrap();
        text.close().unwrap();
        let mut id = group.next_column().unwrap().unwrap();
        let ids: Vec<i64> = (0..chunk.len()).map(|i| (g * row_group + i) as i64).collect();
        id.typed::<parquet::data_type::Int64Type>().write_batch(&ids, None, None).unwrap();
        id.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
}

/// A byte-level BPE tokenizer trained by the project's own code, saved as `tokenizer.json`, with
/// an end-of-document token added.
fn tokenizer(dir: &Path, docs: &[String]) -> PathBuf {
    let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut tokenizer = sprs::data::bpe::trained(&texts, 300, None).unwrap();
    tokenizer.add_special_tokens(vec![tokenizers::AddedToken::from("</s>", true)]).unwrap();
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    path
}

/// The ids the `tokenizers` crate itself gives, document after document, each followed by `eos`.
fn reference(tokenizer: &Path, docs: &[String], eos: Option<u32>) -> Vec<u32> {
    let tokenizer = tokenizers::Tokenizer::from_file(tokenizer).unwrap();
    let mut ids = Vec::new();
    for doc in docs {
        ids.extend_from_slice(tokenizer.encode(doc.as_str(), false).unwrap().get_ids());
        ids.extend(eos);
    }
    ids
}

fn read_u16(path: &Path) -> Vec<u32> {
    std::fs::read(path).unwrap().chunks(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect()
}

fn manifest(path: &Path) -> serde_json::Value {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    serde_json::from_str(&std::fs::read_to_string(PathBuf::from(name)).unwrap()).unwrap()
}

#[test]
fn every_input_format_gives_the_tokenizers_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = documents(600);
    let tok = tokenizer(d, &docs);
    let eos = tokenizers::Tokenizer::from_file(&tok).unwrap().token_to_id("</s>").unwrap();
    let (a, b, c, e) = (&docs[..150], &docs[150..300], &docs[300..450], &docs[450..]);
    std::fs::write(d.join("a.jsonl"), jsonl(a)).unwrap();
    std::fs::write(d.join("b.jsonl.gz"), gzip(&jsonl(b))).unwrap();
    std::fs::write(d.join("c.jsonl.zst"), zstd::encode_all(&jsonl(c)[..], 3).unwrap()).unwrap();
    parquet_file(&d.join("d.parquet"), e, 64);
    std::fs::write(d.join("e.txt"), &docs[0]).unwrap();
    let out = d.join("all.u16");
    let inputs = ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst", "d.parquet", "e.txt"].map(|n| d.join(n));
    let mut args: Vec<&str> = vec!["tokenize"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--tokenizer", tok.to_str().unwrap(), "--out", out.to_str().unwrap(), "--eos", "</s>"]);
    ok(&sprs(&args));

    let mut all: Vec<String> = docs[..600].to_vec();
    all.push(docs[0].clone());
    assert_eq!(read_u16(&out), reference(&tok, &all, Some(eos)));
    let m = manifest(&out);
    assert_eq!(m["documents"], 601);
    assert_eq!(m["dtype"], "u16");
    assert_eq!(m["eos"], eos);
    assert_eq!(m["vocab"], tokenizers::Tokenizer::from_file(&tok).unwrap().get_vocab_size(true));
    assert_eq!(m["inputs"].as_array().unwrap().len(), 5);
    // The hash of an input is of its bytes as stored.
    use sha2::Digest;
    let stored = std::fs::read(d.join("b.jsonl.gz")).unwrap();
    let hex: String = sha2::Sha256::digest(&stored).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(m["inputs"][1]["sha256"], hex.as_str());
    assert!(!d.join("all.u16.partial").exists() && !d.join("all.u16.partial.json").exists());
}

#[test]
fn the_output_is_the_same_for_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // More documents than one batch holds, so that batches are cut and threads share them.
    let docs = documents(20_000);
    std::fs::write(d.join("big.jsonl"), jsonl(&docs)).unwrap();
    let tok = tokenizer(d, &docs[..500]);
    let run = |jobs: &str, out: &str| {
        let out = d.join(out);
        let input = d.join("big.jsonl");
        ok(&sprs(&[
            "tokenize",
            input.to_str().unwrap(),
            "--tokenizer",
            tok.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
        ]));
        std::fs::read(out).unwrap()
    };
    let one = run("1", "one.u16");
    assert_eq!(one, run("2", "two.u16"));
    assert_eq!(read_u16(&d.join("one.u16")), reference(&tok, &docs, None));
}

#[test]
fn a_limit_cuts_at_a_document_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = documents(300);
    std::fs::write(d.join("a.jsonl"), jsonl(&docs)).unwrap();
    let (input, out) = (d.join("a.jsonl"), d.join("cut.u16"));
    ok(&sprs(&[
        "tokenize",
        input.to_str().unwrap(),
        "--tokenizer",
        "bytes",
        "--out",
        out.to_str().unwrap(),
        "--limit",
        "5k",
        "--eos",
        "0",
    ]));
    let ids = read_u16(&out);
    // Whole documents, as many as fit in 5000 tokens.
    let lengths: Vec<usize> = docs.iter().map(|d| d.len() + 1).collect();
    let fit = lengths
        .iter()
        .scan(0, |total, n| {
            *total += n;
            Some(*total)
        })
        .take_while(|&t| t <= 5000)
        .count();
    assert_eq!(ids.len(), lengths[..fit].iter().sum::<usize>());
    assert!(ids.len() <= 5000 && ids.len() + lengths[fit] > 5000);
    assert_eq!(ids, reference_bytes(&docs[..fit]));
    assert_eq!(manifest(&out)["limit"], 5000);
}

fn reference_bytes(docs: &[String]) -> Vec<u32> {
    docs.iter().flat_map(|d| d.bytes().map(u32::from).chain([0])).collect()
}

/// A run that stops at a bad third input leaves its progress; once the input is fixed, a rerun
/// skips the two completed inputs and ends with the bytes of an uninterrupted run.
#[test]
fn an_interrupted_run_continues_from_its_last_completed_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = documents(90);
    for (i, chunk) in docs.chunks(30).enumerate() {
        std::fs::write(d.join(format!("{i}.jsonl")), jsonl(chunk)).unwrap();
    }
    let inputs: Vec<String> = (0..3).map(|i| d.join(format!("{i}.jsonl")).display().to_string()).collect();
    let run = |out: &Path| {
        let mut args = vec!["tokenize".to_string()];
        args.extend(inputs.iter().cloned());
        args.extend(["--tokenizer", "bytes", "--out", out.to_str().unwrap()].map(String::from));
        Command::new(env!("CARGO_BIN_EXE_sprs")).args(&args).output().unwrap()
    };
    let whole = d.join("whole.u16");
    ok(&run(&whole));

    let good = std::fs::read(d.join("2.jsonl")).unwrap();
    std::fs::write(d.join("2.jsonl"), b"{\"text\": \"fine\"}\nnot json\n").unwrap();
    let out = d.join("out.u16");
    let failed = run(&out);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("error[E0701]: "));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("2.jsonl:2: not JSON"));
    assert!(!out.exists());
    std::fs::write(d.join("2.jsonl"), good).unwrap();
    let rerun = run(&out);
    ok(&rerun);
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert_eq!(stderr.matches("done by an earlier run").count(), 2, "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&whole).unwrap());
}

#[test]
fn bad_inputs_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("missing.jsonl", b"{\"body\": \"x\"}\n".to_vec(), "missing.jsonl:1: no field `text`"),
        (
            "number.jsonl",
            b"{\"text\": \"a\"}\n{\"text\": 3}\n".to_vec(),
            "number.jsonl:2: `text` is not a string but a number",
        ),
        ("broken.jsonl", b"{\"text\": \"a\"}\n{\"text\": \n".to_vec(), "broken.jsonl:2: not JSON"),
        ("latin1.jsonl", b"{\"text\": \"caf\xe9\"}\n".to_vec(), "latin1.jsonl:1: not UTF-8"),
        ("empty.jsonl", Vec::new(), "the inputs hold no document"),
        ("corrupt.jsonl.gz", b"\x1f\x8b\x08\x00garbage garbage".to_vec(), "corrupt.jsonl.gz"),
        ("corrupt.jsonl.zst", b"\x28\xb5\x2f\xfdgarbage".to_vec(), "corrupt.jsonl.zst"),
        ("corrupt.parquet", b"PAR1 not really".to_vec(), "corrupt.parquet: not a Parquet file"),
        ("notes.md", b"# hi".to_vec(), "notes.md: not a known input"),
    ];
    for (name, bytes, expected) in cases {
        let input = d.join(name);
        std::fs::write(&input, bytes).unwrap();
        let out = d.join(format!("{name}.u16"));
        let result =
            sprs(&["tokenize", input.to_str().unwrap(), "--tokenizer", "bytes", "--out", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!out.exists() && !d.join(format!("{name}.u16.json")).exists(), "{name}");
    }
    let parquet = d.join("other.parquet");
    parquet_file(&parquet, &documents(3), 2);
    let out = d.join("other.u16");
    let result = sprs(&[
        "tokenize",
        parquet.to_str().unwrap(),
        "--tokenizer",
        "bytes",
        "--out",
        out.to_str().unwrap(),
        "--field",
        "body",
    ]);
    assert!(String::from_utf8_lossy(&result.stderr).contains("no column `body` (it has text, id"));
}

/// A tokenizer that cannot be loaded is E0702, choices that cannot work together E0703, an
/// output that cannot be written E0704; each leaves no output behind.
#[test]
fn a_bad_tokenizer_choice_or_output_has_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("a.jsonl");
    std::fs::write(&input, jsonl(&documents(3))).unwrap();
    std::fs::write(d.join("not_a_tokenizer.json"), b"{\"version\": 3}").unwrap();
    std::fs::write(d.join("blocker"), b"a file").unwrap();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--tokenizer", "not_a_tokenizer.json", "--out", "a.u16"], "E0702", "is not a tokenizer.json"),
        (
            &["--tokenizer", "bytes", "--eos", "<|end|>", "--out", "a.u16"],
            "E0703",
            "with `bytes`, the end token is an id",
        ),
        (&["--tokenizer", "bytes", "--eos", "70000", "--dtype", "u16", "--out", "a.u16"], "E0703", "more than `u16`"),
        (&["--tokenizer", "bytes", "--out", "blocker/a.u16"], "E0704", "cannot write"),
    ];
    for (options, code, message) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sprs"))
            .arg("tokenize")
            .arg(&input)
            .args(options)
            .current_dir(d)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{options:?}: {stderr}");
        assert!(stderr.contains(&format!("error[{code}]")) && stderr.contains(message), "{options:?}: {stderr}");
        assert!(!d.join("a.u16").exists() && !d.join("a.u16.json").exists(), "{options:?}");
    }
}

#[test]
fn ids_beyond_u16_need_u32() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.jsonl"), jsonl(&documents(3))).unwrap();
    let input = d.join("a.jsonl");
    let out = d.join("a.bin");
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "tokenize",
            input.to_str().unwrap(),
            "--tokenizer",
            "bytes",
            "--out",
            out.to_str().unwrap(),
            "--eos",
            "70000",
        ];
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let narrow = Command::new(env!("CARGO_BIN_EXE_sprs")).args(args(&["--dtype", "u16"])).output().unwrap();
    assert!(String::from_utf8_lossy(&narrow.stderr)
        .contains("the vocabulary has 70001 tokens, more than `u16` ids can name"));
    ok(&Command::new(env!("CARGO_BIN_EXE_sprs")).args(args(&[])).output().unwrap());
    assert_eq!(manifest(&out)["dtype"], "u32");
    let ids: Vec<u32> =
        std::fs::read(&out).unwrap().chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(ids.iter().filter(|&&id| id == 70000).count(), 3);
}

/// `tokens("FILE")` reads the manifest beside the file: the model's vocabulary defaults to the
/// file's, and a file read as the wrong id type is an error before anything runs.
#[test]
fn a_token_files_manifest_gives_the_model_its_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.jsonl"), jsonl(&documents(400))).unwrap();
    let (input, out) = (d.join("a.jsonl"), d.join("ids.bin"));
    ok(&sprs(&[
        "tokenize",
        input.to_str().unwrap(),
        "--tokenizer",
        "bytes",
        "--eos",
        "300",
        "--out",
        out.to_str().unwrap(),
    ]));
    let file = |dtype: &str| {
        format!(
            "use std::models::llama\ntrain t {{\n    data = {{ source = tokens(\"ids.bin\", dtype = {dtype}), context = 16 }}\n    model = llama {{ width = 32, depth = 1, heads = 2, mlp = 64 }}\n    budget = 10 steps\n}}\n"
        )
    };
    let path = d.join("main.sprs");
    std::fs::write(&path, file("u16")).unwrap();
    let output = sprs::check::check_file(&path).unwrap();
    assert!(!output.has_errors());
    assert_eq!(output.checked.unwrap().trials[0].config.model.vocab, 301, "256 bytes and the eos id 300");

    std::fs::write(&path, file("u32")).unwrap();
    let output = sprs::check::check_file(&path).unwrap();
    let codes: Vec<String> = output.diagnostics.iter().map(|d| d.code()).collect();
    assert_eq!(codes, ["E0217"]);
    assert!(output.diagnostics[0]
        .error
        .to_string()
        .contains("holds u16 ids (its manifest says so), but is read as u32"));
}

/// SIGKILL once the first of three inputs is complete, then a rerun: it continues from the
/// progress saved after that input and ends with the bytes of an uninterrupted run.
#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = documents(240_000);
    let tok = tokenizer(d, &docs[..500]);
    let mut inputs = Vec::new();
    for (i, chunk) in docs.chunks(80_000).enumerate() {
        let path = d.join(format!("{i}.jsonl.gz"));
        std::fs::write(&path, gzip(&jsonl(chunk))).unwrap();
        inputs.push(path.display().to_string());
    }
    let args = |out: &Path| {
        let mut args = vec!["tokenize".to_string()];
        args.extend(inputs.iter().cloned());
        args.extend(
            ["--tokenizer", tok.to_str().unwrap(), "--out", out.to_str().unwrap(), "--jobs", "1"].map(String::from),
        );
        args
    };
    let whole = d.join("whole.u16");
    ok(&Command::new(env!("CARGO_BIN_EXE_sprs")).args(args(&whole)).output().unwrap());

    let out = d.join("out.u16");
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_sprs")).args(args(&out)).stderr(std::process::Stdio::null()).spawn().unwrap();
    let progress = d.join("out.u16.partial.json");
    wait_until(Duration::from_secs(120), "the first input's progress", || {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first input was done");
        progress.exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "the kill came after the run finished");

    let rerun = Command::new(env!("CARGO_BIN_EXE_sprs")).args(args(&out)).output().unwrap();
    ok(&rerun);
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("0.jsonl.gz: done by an earlier run"));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&whole).unwrap());
    assert_eq!(manifest(&out), manifest(&whole));
}

/// An interrupted run's files are trusted only as far as they can be checked: a partial output
/// whose ids are not those its progress hashed (zeros planted over it) starts the run over, a
/// link there is not written through, and a pipe there does not hang the run.
#[test]
fn a_planted_partial_output_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let docs = documents(60);
    let good = jsonl(&docs[30..]);
    std::fs::write(d.join("a.jsonl"), jsonl(&docs[..30])).unwrap();
    let run = |out: &str| {
        let (a, b) = (d.join("a.jsonl"), d.join("b.jsonl"));
        let args = ["tokenize", a.to_str().unwrap(), b.to_str().unwrap(), "--tokenizer", "bytes", "--out", out];
        let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
            .args(args)
            .current_dir(d)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(started.elapsed().as_secs() < 60, "tokenize hangs");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    };
    std::fs::write(d.join("b.jsonl"), &good).unwrap();
    ok(&run("whole.u16"));
    let whole = std::fs::read(d.join("whole.u16")).unwrap();
    let victim = d.join("victim");
    for planted in ["zeros", "link", "pipe"] {
        // A run that stops at a bad second input leaves the first input's progress.
        std::fs::write(d.join("b.jsonl"), b"not json\n").unwrap();
        assert!(!run("out.u16").status.success());
        let partial = d.join("out.u16.partial");
        let len = std::fs::metadata(&partial).unwrap().len();
        std::fs::remove_file(&partial).unwrap();
        match planted {
            "zeros" => std::fs::write(&partial, vec![0u8; len as usize]).unwrap(),
            "link" => {
                std::fs::write(&victim, "precious").unwrap();
                std::os::unix::fs::symlink(&victim, &partial).unwrap();
            }
            _ => {
                let path = std::ffi::CString::new(partial.to_str().unwrap()).unwrap();
                // SAFETY: mkfifo reads a valid C string and has no other preconditions.
                assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
            }
        }
        std::fs::write(d.join("b.jsonl"), &good).unwrap();
        let rerun = run("out.u16");
        assert!(rerun.status.success(), "{planted}: {}", String::from_utf8_lossy(&rerun.stderr));
        assert!(!String::from_utf8_lossy(&rerun.stderr).contains("done by an earlier run"), "{planted}");
        assert_eq!(std::fs::read(d.join("out.u16")).unwrap(), whole, "{planted}");
        assert!(std::fs::symlink_metadata(d.join("out.u16")).unwrap().is_file());
        assert_eq!(manifest(&d.join("out.u16")), manifest(&d.join("whole.u16")));
        std::fs::remove_file(d.join("out.u16")).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// Runs `sprs` with `args` in `dir` to its end: its output and the largest resident set it had.
// The child is waited for with `wait4`, which gives its resource use.
#[allow(clippy::zombie_processes)]
fn sprs_measured(dir: &Path, args: &[&str]) -> (Output, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // SAFETY: wait4 writes the child's status and resource use into the values it is given;
    // the child is ours and not yet waited for. The pipes are small: the child's output fits.
    // SAFETY: rusage is plain integers, for which all zeros is a value.
    let (mut status, mut usage): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    // SAFETY: wait4 writes the status and usage of our own child into the places given.
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let mut output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let (mut out, mut err) = (child.stdout.unwrap(), child.stderr.unwrap());
    std::io::Read::read_to_end(&mut out, &mut output.stdout).unwrap();
    std::io::Read::read_to_end(&mut err, &mut output.stderr).unwrap();
    (output, usage.ru_maxrss as u64 * 1024)
}

/// Memory stays bounded whatever an input expands to: a document is at most 64 MiB (a 200 MiB
/// text in a small gzip is refused as it is read), and a Parquet row group whose column is larger
/// than 512 MiB uncompressed is refused before it is read.
#[test]
fn decompression_bombs_are_refused_within_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(d.join("bomb.txt.gz")).unwrap(),
        flate2::Compression::best(),
    );
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..200 {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap();
    let (output, peak) = sprs_measured(d, &["tokenize", "bomb.txt.gz", "--tokenizer", "bytes", "--out", "a.u16"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0701]") && stderr.contains("more than 67108864 bytes"), "{stderr}");
    assert!(peak < 256 << 20, "the text took {peak} bytes");

    // The row group's column is 560 MB uncompressed: refused from the metadata. A document of
    // 80 MB in a row group of its own is refused as a document.
    for (documents, says) in [(7, "uncompressed"), (1, "a document of more than 67108864 bytes")] {
        parquet_bomb(&d.join("bomb.parquet"), documents);
        assert!(std::fs::metadata(d.join("bomb.parquet")).unwrap().len() < 1 << 20);
        // A child's peak counts its parent's peak before it started (the whole test process's,
        // other tests included: Linux records the shared address space's high-water mark at
        // exec), so the bomb's peak is compared with that of a command that reads nothing,
        // started just before: reading the bomb would take over 560 MB more.
        let (_, baseline) = sprs_measured(d, &["--version"]);
        let (output, peak) = sprs_measured(d, &["tokenize", "bomb.parquet", "--tokenizer", "bytes", "--out", "b.u16"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("error[E0701]") && stderr.contains(says), "{stderr}");
        let more = peak.saturating_sub(baseline);
        assert!(more < 256 << 20, "the Parquet file took {more} bytes more ({documents} documents)");
    }
}

/// `documents` documents of 80 MB in one row group of a zstd-compressed Parquet file of some KB,
/// written a document and a page at a time.
fn parquet_bomb(path: &Path, documents: usize) {
    let schema = Arc::new(parse_message_type("message schema { REQUIRED BYTE_ARRAY text (UTF8); }").unwrap());
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_dictionary_enabled(false)
        .set_data_page_size_limit(1 << 20)
        .build();
    let mut writer =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, Arc::new(properties)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut text = group.next_column().unwrap().unwrap();
    let document = ByteArray::from(vec![b'b'; 80 << 20]);
    for _ in 0..documents {
        text.typed::<ByteArrayType>().write_batch(std::slice::from_ref(&document), None, None).unwrap();
    }
    text.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

/// A Parquet file with any one of its bytes changed (in a page, a page header or the footer's
/// Thrift metadata, by one of four masks) is tokenized or refused with an error, never a panic:
/// the reader once unwrapped a boolean field that a flipped byte gave another wire type.
#[test]
fn a_parquet_file_with_any_byte_changed_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.parquet");
    parquet_file(&original, &documents(5), 3);
    let bytes = std::fs::read(&original).unwrap();
    let input = dir.path().join("changed.parquet");
    let (mut refused, mut read) = (0, 0);
    for at in 0..bytes.len() {
        for mask in [0x01, 0x20, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[at] ^= mask;
            std::fs::write(&input, &changed).unwrap();
            let out = dir.path().join("out.u16");
            let options = sprs::data::tokenize::Options {
                inputs: vec![input.clone()],
                tokenizer: sprs::data::tokenize::TokenizerChoice::Bytes,
                out: out.clone(),
                dtype: None,
                field: "text".into(),
                eos: None,
                limit: None,
                jobs: 1,
            };
            match sprs::data::tokenize::tokenize(&options, &|_| ()) {
                Ok(_) => read += 1,
                Err(_) => refused += 1,
            }
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(dir.path().join("out.u16.json"));
        }
    }
    // The magic numbers and the footer's length alone make 12 bytes that no change survives.
    assert!(refused >= 12 * 4, "{refused} refused, {read} read");
}
