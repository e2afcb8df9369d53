//! Runs every fuzz target on its committed corpus and on mutations of it for `POLARITY_FUZZ_SECONDS`
//! seconds each (default 2). A crashing input is written to `target/fuzz-crashes/` and fails the test.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use sha2::Digest;

use polarity_fuzz::{TARGETS, run};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn seconds() -> f64 {
    std::env::var("POLARITY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn fuzz(name: &str) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let c = corpus(name);
    assert!(!c.is_empty(), "corpus/{name} is empty");
    let seed = std::env::var("POLARITY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED);
    match run(*target, &c, seconds(), seed) {
        Ok(r) => eprintln!(
            "{name}: {} inputs in {} s, 0 crashes (seed {seed})",
            r.execs,
            seconds()
        ),
        Err((input, msg)) => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
            std::fs::create_dir_all(&dir).unwrap();
            // named by content, so two crashing inputs never overwrite each other
            let digest: String = sha2::Sha256::digest(&input)
                .iter()
                .take(12)
                .map(|b| format!("{b:02x}"))
                .collect();
            let path = dir.join(format!("{name}-{digest}"));
            std::fs::write(&path, &input).unwrap();
            panic!(
                "{name} crashed on {} ({} bytes): {msg}",
                path.display(),
                input.len()
            );
        }
    }
}

#[test]
fn readers() {
    fuzz("readers");
}

#[test]
fn artifact() {
    fuzz("artifact");
}

#[test]
fn records() {
    for (i, seed) in corpus("records").iter().enumerate() {
        assert!(
            polarity_fuzz::parses_as_records(seed),
            "seed {i} of corpus/records does not parse as records"
        );
    }
    fuzz("records");
    let rendered = polarity_fuzz::RECORDS_RENDERED.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("records: {rendered} inputs parsed as records and rendered");
    assert!(rendered > 0, "no input parsed as records");
}

#[test]
fn s3_event() {
    fuzz("s3_event");
}
