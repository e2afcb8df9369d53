//! What every command shares: the async runtime, the backends the flags name, reading inputs and models,
//! writing outputs atomically, and the progress and stage lines printed on a terminal. No command imports
//! another; they all import this.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use polarity_core::Classifier;
use polarity_core::reader::{ReadOptions, RejectReason, Table, read_bytes, read_path, visible};
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::backend::{BackendArgs, Backends};
use polarity_pipeline::embedded::Step;
use polarity_pipeline::records::StageOutcome;

/// Builds the runtime the async commands use.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects the backends the flags name; `read_only` refuses a home that does not exist.
pub async fn connect(b: &BackendArgs, read_only: bool) -> Result<Backends> {
    let mut backend = b.resolve()?;
    if read_only {
        backend = backend.existing()?;
    }
    Ok(backend.connect(&AwsSettings::default()).await)
}

/// One line for a stage run.
pub fn describe(step: &Step) -> String {
    let secs = step.elapsed.as_secs_f64();
    let what = match &step.outcome {
        StageOutcome::Ingest(m) if m.already => {
            format!(
                "{} → dataset {} already ingested",
                visible(&step.key),
                m.dataset
            )
        }
        StageOutcome::Ingest(m) => match &m.file_error {
            Some(e) => format!(
                "{} → whole file quarantined as {}: {e}",
                visible(&step.key),
                m.dataset
            ),
            None => format!(
                "{} → dataset {} ('{}'): {} rows in, {} accepted, {} quarantined{}",
                visible(&step.key),
                m.dataset,
                visible(&m.name),
                m.rows_in,
                m.accepted,
                m.quarantined,
                if m.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", m.reasons)
                }
            ),
        },
        StageOutcome::Process(m) => format!(
            "dataset {}: {} train / {} test rows, {} duplicates dropped ({} with a conflicting label, the later row's kept), {} empty after cleaning{}{}",
            m.dataset,
            m.train.values().sum::<u64>(),
            m.test.values().sum::<u64>(),
            m.duplicates,
            m.conflicting_labels,
            m.empty,
            match &m.gate {
                Some(g) if g.held => format!("; HELD — {}", g.reason),
                Some(g) => format!(
                    "; gate passed: {} of {} known rows relabelled, fresh-row agreement {:.3} on {} rows",
                    g.changed, g.known, g.agreement, g.rows
                ),
                None => String::new(),
            },
            if m.already {
                " (already processed)"
            } else {
                ""
            }
        ),
        StageOutcome::Train(m) => format!(
            "version {}: {} rows from {} dataset(s), held-out macro-F1 {:.4} on {} rows{}{}",
            m.version,
            m.n_train,
            m.datasets.len(),
            m.macro_f1,
            m.n_test,
            if m.converged {
                ""
            } else {
                " (the fit did NOT converge: raise --max-iter)"
            },
            if m.already { " (already trained)" } else { "" }
        ),
        StageOutcome::Validate(d) => format!(
            "version {}: {}{} — {}{}",
            d.version,
            if d.already { "already decided: " } else { "" },
            d.verdict.as_str().to_uppercase(),
            d.reason,
            d.since
                .as_deref()
                .map(|s| format!(". Since then: {s}"))
                .unwrap_or_default()
        ),
        StageOutcome::Skipped { reason, .. } => format!("skipped: {reason}"),
        StageOutcome::Dispatched(d) => format!(
            "version {}: {} training rows > {} in process; {} train task {}",
            d.version,
            d.rows,
            d.max_rows,
            if d.already {
                "already started"
            } else {
                "started"
            },
            d.task_arn.as_deref().unwrap_or("(unknown)")
        ),
    };
    format!("[{:<8}] {what} ({secs:.2} s)", step.stage.as_str())
}

/// Reads, verifies and validates a model artifact (the one decoder every loader uses).
pub fn load_model(path: &Path) -> Result<Classifier> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read model {}: {e}", path.display()))?;
    polarity_pipeline::artifacts::verify(&bytes, None)
        .map_err(|e| anyhow::anyhow!("cannot load model {}: {e}", path.display()))
}

/// Reads a data file, or standard input for `-`.
pub fn read_input(path: &Path, opts: &ReadOptions) -> Result<Table> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        return Ok(read_bytes("stdin", &bytes, opts)?);
    }
    Ok(read_path(path, opts)?)
}

/// Checks before any work that `path` can be written: its folder exists (it is never created) and
/// accepts a new file.
pub fn check_output_path(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(
            "{}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!("{} is a folder, not a file", path.display());
    }
    let probe = dir.join(format!(".polarity-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("{}: cannot write there: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// `--rejects FILE`: one JSON line per rejected row (file, line, reason, raw).
pub struct Rejects {
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl Rejects {
    /// Opens the file when one is given.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let out = match path {
            Some(p) => {
                check_output_path(p)?;
                Some(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                ))
            }
            None => None,
        };
        Ok(Self { out })
    }

    /// Records one row.
    pub fn row(&mut self, file: &Path, line: u64, reason: RejectReason, raw: &str) {
        if let Some(o) = &mut self.out {
            let v = serde_json::json!({ "file": file.display().to_string(), "line": line, "reason": reason, "raw": raw });
            let _ = writeln!(o, "{v}");
        }
    }

    /// Records a table's rejected rows, in line order (whatever rejected them: the reader or the labels).
    pub fn table(&mut self, file: &Path, t: &Table) {
        let mut rows: Vec<_> = t.rejected.iter().collect();
        rows.sort_by_key(|r| r.line);
        for r in rows {
            self.row(file, r.line, r.reason, &r.raw);
        }
    }

    /// Flushes the file.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(o) = &mut self.out {
            o.flush().context("cannot write the rejects file")?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Prints a progress line on stderr when it is a terminal and JSON output was not asked for.
pub fn progress(json: bool, msg: &str) {
    if shows_progress(json) {
        eprintln!("… {msg}");
    }
}

/// True when progress lines are shown: stderr is a terminal and JSON output was not asked for.
pub fn shows_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A progress display for training: the phase, and the fit's objective at most every second.
pub fn training_progress(json: bool) -> impl FnMut(polarity_core::train::Phase) {
    use polarity_core::train::Phase;
    let show = shows_progress(json);
    let mut last = std::time::Instant::now();
    move |p| {
        if !show {
            return;
        }
        match p {
            Phase::Vectorizing { rows } => eprintln!("… vectorising {rows} rows"),
            Phase::Fitting {
                evaluation,
                objective,
            } => {
                if evaluation == 1 || last.elapsed() >= std::time::Duration::from_secs(1) {
                    last = std::time::Instant::now();
                    eprintln!("… fitting: evaluation {evaluation}, objective {objective:.6}");
                }
            }
            Phase::Scoring { rows } => eprintln!("… scoring {rows} held-out rows"),
        }
    }
}

/// Shows warnings and errors from every layer (the MLflow and Pushgateway clients, the backends) on
/// stderr, one line each (`WARN message field=value`); the stages' own warnings are their stage lines
/// already, so only their errors show. `POLARITY_LOG` (a tracing filter, e.g. `info`) shows more.
/// The fields never hold row text or secrets: the layers log only counts, keys and redacted URLs.
pub fn log_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POLARITY_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,polarity_pipeline::stages=error")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .try_init();
}
