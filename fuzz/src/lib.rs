//! Fuzz targets for the inputs Polarity takes from users and from the network, and a small mutation runner
//! that drives them from a committed corpus (`corpus/<target>/`): byte flips, insertions, deletions,
//! splices between corpus entries and format tokens (delimiters, quotes, gzip magic, JSON punctuation),
//! from a seeded generator so a run is reproducible. An input that makes a target panic, or break one of
//! the invariants the target asserts, is a failure.
//!
//! | target     | feeds | asserts |
//! |------------|-------|---------|
//! | `readers`  | [`polarity_core::reader::read_bytes`] in every format, with and without a header row, columns by name and position; then the labels and the one data preparation | `rows_in = accepted + rejected`, one line per text, label indices in range, nothing lost by [`polarity_core::prepare::prepare`] |
//! | `artifact` | [`polarity_core::artifact::decode`] of mutated payloads whose length and checksum are recomputed (what anyone can forge) | an error or a model that predicts a probability distribution and re-decodes |
//! | `records`  | registry and decision records as stored (a version record, the pointer, its history, a model card, a decision record, top n-grams, any times and numbers) and dataset listings through [`polarity_pipeline::report::render`] and the CLI's tables ([`polarity_pipeline::tables`]) | the page and the tables render, whatever the values (no panic on times of 0 or in the far future, NaN-free inputs of any size, empty or huge lists); no stored value reaches the page unescaped (the page has no `<script`) or the terminal raw (no control character but the line ends; one line per row) |
//! | `s3_event` | the S3 event JSON through [`polarity_pipeline::events::object_refs`], and [`polarity_pipeline::layout::decode_s3_key`] on arbitrary strings | decoded keys route without panicking; encode → decode round-trips |
//!
//! `POLARITY_FUZZ_SECONDS=60 cargo test -p polarity-fuzz` runs each target for a minute (the test command
//! sets 20 s); the default is a couple of seconds so an ordinary test run stays quick.

use std::panic::AssertUnwindSafe;

use polarity_core::contract::Contract;
use polarity_core::reader::{Column, Format, ReadOptions, read_bytes};

/// A fuzz target: takes any bytes; panics on a defect.
pub type Target = fn(&[u8]);

/// The targets by name (also the corpus folder names).
pub const TARGETS: [(&str, Target); 4] = [
    ("readers", readers),
    ("artifact", artifact),
    ("records", records),
    ("s3_event", s3_event),
];

/// The readers target (see the crate docs).
pub fn readers(data: &[u8]) {
    let name_hint = ["x.csv", "x.tsv", "x.jsonl", "upload"];
    for (i, name) in name_hint.iter().enumerate() {
        let opts = match i {
            0 => ReadOptions::default(),
            1 => ReadOptions {
                has_header: false,
                text_col: Some(Column::Position(2)),
                label_col: Some(Column::Position(1)),
                ..Default::default()
            },
            2 => ReadOptions {
                text_col: Some(Column::Name("text".into())),
                ..Default::default()
            },
            _ => ReadOptions {
                format: Some(Format::Csv),
                delimiter: Some(b';'),
                ..Default::default()
            },
        };
        let Ok(mut table) = read_bytes(name, data, &opts) else {
            continue;
        };
        let r = &table.report;
        assert_eq!(r.rows_in, r.accepted + r.rejected, "{name}");
        assert_eq!(table.texts.len() as u64, r.accepted);
        assert_eq!(table.lines.len(), table.texts.len());
        assert_eq!(table.labels.len(), table.texts.len());
        assert!(
            table
                .labels
                .iter()
                .all(|&l| (l as usize) < table.label_values.len())
        );
        assert_eq!(r.reasons.values().sum::<u64>(), r.rejected);
        let (names, _) = Contract::default().class_names(&table.label_values);
        let before = table.report.rows_in;
        let (rows, _) = polarity_core::prepare::label_rows(
            &mut table,
            &names,
            polarity_core::reader::RejectReason::UnknownLabel,
        );
        assert_eq!(table.report.rows_in, before);
        assert_eq!(rows.len() as u64, table.report.accepted);
        let n = rows.len();
        let p = polarity_core::prepare::prepare(rows, &Default::default());
        assert_eq!(p.rows.len() + p.dropped.len(), n, "prepare loses no row");
    }
}

/// Length-and-checksum-corrected artifact bytes: the payload gets a true header
/// ([`polarity_core::artifact::seal`]).
pub fn reseal(payload: &[u8]) -> Vec<u8> {
    polarity_core::artifact::seal(payload)
}

/// The artifact target (see the crate docs): `data` is a payload; it is sealed first, so the checksum
/// passes and the decoder's own checks are what is exercised. Raw bytes (unsealed) are tried too.
pub fn artifact(data: &[u8]) {
    let _ = polarity_core::artifact::decode(data);
    let sealed = reseal(data);
    if let Ok(m) = polarity_core::artifact::decode(&sealed) {
        let p = m.predict("a smoke test : fine");
        let sum: f64 = p.probabilities.iter().map(|(_, q)| q).sum();
        assert!(
            (sum - 1.0).abs() < 1e-6 && p.probabilities.len() >= 2,
            "{p:?}"
        );
        let again = polarity_core::artifact::encode(&m);
        assert!(polarity_core::artifact::decode(&again).is_ok());
    }
}

/// The S3-event target (see the crate docs).
pub fn s3_event(data: &[u8]) {
    if let Ok(ev) = serde_json::from_slice::<aws_lambda_events::event::s3::S3Event>(data) {
        for o in polarity_pipeline::events::object_refs(&ev) {
            let _ = o.stage();
            let _ =
                polarity_pipeline::layout::manifest_owner(&o.key, polarity_pipeline::layout::RAW);
            let _ = polarity_pipeline::layout::control_owner(&o.key);
            let _ = polarity_pipeline::store::check_key(&o.key);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = polarity_pipeline::layout::decode_s3_key(s);
        let enc = polarity_pipeline::layout::encode_s3_key(s);
        assert_eq!(
            polarity_pipeline::layout::decode_s3_key(&enc).as_deref(),
            Some(s)
        );
    }
}

/// What the report page is made from, as our stores hold it (the seeds in `corpus/records/` are from a real
/// embedded run).
#[derive(serde::Deserialize)]
struct Records {
    record: polarity_pipeline::registry::VersionRecord,
    #[serde(default)]
    pointer: polarity_pipeline::registry::PointerState,
    #[serde(default)]
    card: Option<polarity_pipeline::records::card::ModelCard>,
    #[serde(default)]
    decision: Option<polarity_pipeline::records::decision::Decision>,
    #[serde(default)]
    history: Vec<polarity_pipeline::registry::HistoryEntry>,
    #[serde(default)]
    top_terms: Vec<(String, Vec<(String, f64)>)>,
    #[serde(default)]
    generated_at: u64,
    #[serde(default)]
    datasets: Vec<polarity_pipeline::datasets::DatasetView>,
}

/// True when `data` is a records input (the seeds must be, or the target would test nothing).
pub fn parses_as_records(data: &[u8]) -> bool {
    serde_json::from_slice::<Records>(data).is_ok()
}

/// How many inputs the records target has rendered (the others did not parse as records).
pub static RECORDS_RENDERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The records target (see the crate docs).
pub fn records(data: &[u8]) {
    use polarity_pipeline::report::{ClassTerms, ReportData, render};
    let Ok(r) = serde_json::from_slice::<Records>(data) else {
        return;
    };
    RECORDS_RENDERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let status = polarity_pipeline::registry::status_of(
        &r.pointer,
        &r.history,
        &r.record.version,
        r.decision.as_ref().map(|d| d.verdict),
    );
    terminal_tables(&r, status);
    let page = render(&ReportData {
        record: r.record,
        status,
        production: r.pointer.version,
        card: r.card,
        decision: r.decision,
        history: r.history,
        top_terms: r
            .top_terms
            .into_iter()
            .map(|(class, terms)| ClassTerms { class, terms })
            .collect(),
        generated_at: r.generated_at,
    });
    assert!(page.starts_with("<!DOCTYPE html>"), "not a page");
    assert!(page.trim_end().ends_with("</html>"), "a cut page");
    // the page has no scripts, so a `<script` can only be a stored value that was not escaped
    assert!(
        !page.to_ascii_lowercase().contains("<script"),
        "a stored value reached the page unescaped"
    );
}

/// The CLI's views of the same records: they format, show no control character but line ends, and have one
/// line per row (a stored value cannot forge a row or reach the terminal as an escape sequence).
fn terminal_tables(r: &Records, status: polarity_pipeline::registry::VersionStatus) {
    use polarity_pipeline::tables;
    let clean = |what: &str, text: &str, rows: usize| {
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && polarity_core::reader::is_unprintable(c)),
            "{what}: a control character reached the terminal"
        );
        assert_eq!(text.lines().count(), rows, "{what}: one line per row");
    };
    let view = polarity_pipeline::registry::VersionView {
        record: r.record.clone(),
        status,
        verdict: None,
        same_artifact_as: r.record.parent.clone(),
    };
    let frozen = r.pointer.frozen;
    clean(
        "registry list",
        &tables::versions(std::slice::from_ref(&view), frozen),
        1 + 1 + 3 + usize::from(frozen),
    );
    let show = tables::version(&r.record, Some(status), r.decision.as_ref());
    let decision_lines = r.decision.as_ref().map_or(0, |d| 2 + d.checks.len());
    clean(
        "registry show",
        &show,
        7 + decision_lines
            + usize::from(status == polarity_pipeline::registry::VersionStatus::Held),
    );
    clean(
        "registry history",
        &tables::history(&r.history),
        1 + r.history.len(),
    );
    clean(
        "dataset list",
        &tables::datasets(&r.datasets),
        1 + r.datasets.len(),
    );
}

/// A small, fast, seeded generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Tokens that matter to the formats.
const TOKENS: &[&[u8]] = &[
    b",",
    b"\t",
    b"\n",
    b"\r\n",
    b"\"",
    b"\"\"",
    b";",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"\\u0000",
    b"\x1f\x8b\x08\x00",
    b"\xef\xbb\xbf",
    b"%",
    b"+",
    b"%2F",
    b"%ff",
    b"\xff",
    b"\xc3\xa9",
    b"0",
    b"-1",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"label",
    b"text",
    b"manifest.json",
    b"incoming/",
    b"raw/",
];

/// One mutation of `input` (another corpus entry may be spliced in).
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next_u64() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                v.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 && !other.is_empty() => {
                let i = rng.below(len);
                let j = rng.below(other.len());
                let n = 1 + rng.below((other.len() - j).min(256));
                v.splice(i..i, other[j..j + n].iter().copied());
            }
            5 if len > 0 => {
                // repeat a chunk (long fields, many rows)
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(i..i, chunk.iter().copied());
                }
            }
            _ if len > 4 => {
                let i = rng.below(len - 4);
                let x = [0u32, 1, 0xFF, 0xFFFF, u32::MAX, 0x8000_0000][rng.below(6)];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            _ => v.push(rng.next_u64() as u8),
        }
    }
    v.truncate(1 << 16);
    v
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Inputs tried.
    pub execs: u64,
}

/// Runs `target` on every corpus entry, then on mutations of them, for `seconds`; returns the first
/// crashing input on a panic.
///
/// # Errors
/// The input that made the target panic, with the panic message.
pub fn run(
    target: Target,
    corpus: &[Vec<u8>],
    seconds: f64,
    seed: u64,
) -> Result<Report, (Vec<u8>, String)> {
    let start = std::time::Instant::now();
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let try_one = |input: &[u8]| -> Result<(), String> {
        std::panic::catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into())
        })
    };
    for c in corpus {
        report.execs += 1;
        try_one(c).map_err(|m| (c.clone(), m))?;
    }
    let base: Vec<Vec<u8>> = if corpus.is_empty() {
        vec![Vec::new()]
    } else {
        corpus.to_vec()
    };
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..64 {
            let a = &base[rng.below(base.len())];
            let b = &base[rng.below(base.len())];
            let input = mutate(&mut rng, a, b);
            report.execs += 1;
            if let Err(m) = try_one(&input) {
                return Err((input, m));
            }
        }
    }
    Ok(report)
}
