//! `polarity train`: read files under the data contract, prepare them exactly as the pipeline does
//! ([`polarity_core::prepare`]), split, fit, score, write the artifact, report.

use clap::Args;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use polarity_core::artifact::{encode, sha256_hex};
use polarity_core::contract::Contract;
use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::model::Classifier;
use polarity_core::prepare::{self, Columns, prepare_eval};
use polarity_core::prepare::{RowFate, RowPlanner};
use polarity_core::reader::{self, ReadReport, RejectReason, Table};
use polarity_core::train::{self, Labelled, TrainTimings, ValidTrainConfig};
use polarity_core::tune::TuneGrid;

use crate::context::{
    Rejects, check_output_path, progress, read_input, training_progress, write_atomic,
};
use crate::flags::ContractArgs;
use crate::report::{MetricFields, Timings, TrainReport, rejections, summary};

/// `polarity train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training file; repeat for several ('-' reads standard input).
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Held-out file to score the model on.
    #[arg(long, conflicts_with = "test_fraction")]
    pub test: Option<PathBuf>,
    /// Fraction of the training rows held out (by a hash of their words) when no --test is given.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Data contract.
    #[command(flatten)]
    pub contract: ContractArgs,
    /// Training settings.
    #[command(flatten)]
    pub training: polarity_pipeline::config::TrainingArgs,
    /// Where to write the model artifact.
    #[arg(long)]
    pub out: PathBuf,
    /// Write every rejected row (line, reason, raw line) to this JSONL file.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Read the training files in passes instead of holding their rows: `auto` does when they total at
    /// least 256 MiB and all can be (plain TSV, or CSV without a quote character; not with --tune).
    #[arg(long, value_enum, default_value_t = Streaming::Auto)]
    pub streaming: Streaming,
    /// Bytes of a file read at a time when streaming.
    #[arg(long, hide = true, default_value_t = reader::BLOCK_BYTES)]
    pub stream_block_bytes: usize,
}

/// Whether `polarity train` holds the training rows or reads the files again instead (`--streaming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Streaming {
    /// Stream large inputs that can be streamed.
    Auto,
    /// Always stream (an error when an input cannot be).
    On,
    /// Always hold the rows.
    Off,
}

/// From this many bytes of training files, `--streaming auto` streams.
const STREAM_FROM_BYTES: u64 = 256 << 20;

/// The training files read under the contract, with every row's class (an index into `names`).
struct Inputs {
    rows: Columns<u32>,
    /// The distinct class names.
    names: Vec<String>,
    /// (file index, line) of each row.
    origin: Vec<(usize, u64)>,
    scheme: LabelScheme,
    reports: Vec<ReadReport>,
}

/// Reads the training files; the label scheme is decided over all of them at once.
fn read_training(a: &TrainArgs, rejects: &mut Rejects) -> Result<Inputs> {
    let contract = a.contract.contract()?;
    let opts = contract.read_options();
    let mut tables: Vec<Table> = Vec::new();
    for path in &a.data {
        tables.push(read_input(path, &opts)?);
    }
    let values: Vec<String> = tables
        .iter()
        .flat_map(|t| t.label_values.iter().cloned())
        .collect();
    let map = ClassMap::new(&contract, values);
    let mut out = Inputs {
        rows: Columns::default(),
        names: Vec::new(),
        origin: Vec::new(),
        scheme: map.scheme,
        reports: Vec::new(),
    };
    for (fi, mut t) in tables.into_iter().enumerate() {
        let (rows, lines) = map.label(&mut t, &a.data[fi])?;
        rejects.table(&a.data[fi], &t);
        out.origin.extend(lines.into_iter().map(|l| (fi, l)));
        if out.rows.texts.is_empty() {
            out.rows = rows;
        } else {
            out.rows.texts.extend(rows.texts);
            out.rows.labels.extend(rows.labels);
        }
        out.reports.push(t.report);
    }
    out.names = map.names;
    Ok(out)
}

/// The classes of the raw label values of every training file, decided over all of them at once.
struct ClassMap {
    /// The distinct class names, sorted.
    names: Vec<String>,
    scheme: LabelScheme,
    /// Raw value → index into `names` (`None`: the row is rejected for `reason`).
    by_value: HashMap<String, Option<u32>>,
    reason: RejectReason,
}

impl ClassMap {
    fn new(contract: &Contract, mut values: Vec<String>) -> Self {
        values.sort();
        values.dedup();
        let (names, scheme) = contract.class_names(&values);
        let mut distinct: Vec<String> = names.iter().flatten().cloned().collect();
        distinct.sort();
        distinct.dedup();
        let by_value = values
            .into_iter()
            .zip(names.iter().map(|n| {
                n.as_ref()
                    .map(|n| distinct.binary_search(n).expect("a listed name") as u32)
            }))
            .collect();
        let reason = if contract.label_map.is_some() {
            RejectReason::UnmappedLabel
        } else {
            RejectReason::UnknownLabel
        };
        Self {
            names: distinct,
            scheme: scheme.unwrap_or(LabelScheme::Names),
            by_value,
            reason,
        }
    }

    /// The rows of `t` whose label is a class, as columns with their lines; the others rejected in `t`.
    /// An error when `t` has a label value that was not among those the map was made from (a file that
    /// changed between two passes over it).
    fn label(&self, t: &mut Table, path: &Path) -> Result<(Columns<u32>, Vec<u64>)> {
        let classes: Vec<Option<u32>> = t
            .label_values
            .iter()
            .map(|v| self.by_value.get(v.as_str()).copied())
            .collect::<Option<_>>()
            .with_context(|| format!("{} changed while training", path.display()))?;
        Ok(prepare::label_columns(t, &classes, self.reason))
    }
}

/// Reads the held-out file with the training contract (falling back to detected columns, with a note,
/// when those columns are not in it) and maps its labels onto the model's classes.
fn read_test(
    a: &TrainArgs,
    path: &Path,
    labels: &Labels,
    scheme: LabelScheme,
    clean: &polarity_core::text::CleanConfig,
    rejects: &mut Rejects,
) -> Result<(Labelled, ReadReport)> {
    let contract = a.contract.contract()?;
    let table = match read_input(path, &contract.read_options()) {
        Ok(t) => t,
        Err(first) if contract.text_col.is_some() || contract.label_col.is_some() => {
            let t = read_input(path, &Default::default()).map_err(|_| first)?;
            eprintln!(
                "note: {} does not have the columns given for training; using auto-detected columns {:?} (text) and {:?} (label)",
                path.display(),
                t.text_col,
                t.label_col
            );
            t
        }
        Err(first) => return Err(first),
    };
    let (rows, table) = prepare_eval(table, labels, scheme, &contract, clean);
    rejects.table(path, &table);
    if rows.is_empty() {
        bail!(
            "{}: no usable held-out rows ({} read, {} rejected: {:?}); {}",
            path.display(),
            table.report.rows_in,
            table.report.rejected,
            table.report.reasons,
            prepare::no_rows_hint(&table, labels)
        );
    }
    Ok((rows, table.report))
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let t_start = Instant::now();
    if !(0.0..1.0).contains(&a.test_fraction) {
        bail!("--test-fraction must be in [0, 1), got {}", a.test_fraction);
    }
    let cfg = a.training.to_config()?;
    check_output_path(&a.out)?;
    let mut rejects = Rejects::open(a.rejects.as_deref())?;
    let trained = if streams(a)? {
        train_in_passes(a, &cfg, &mut rejects)?
    } else {
        train_held(a, &cfg, &mut rejects)?
    };
    finish(a, trained, t_start)
}

/// A fitted and scored model, with what reading found.
struct Trained {
    model: Classifier,
    t: TrainTimings,
    read_s: f64,
    all: ReadReport,
    tuning: Option<polarity_core::tune::Tuning>,
}

/// Whether the training files are read in passes (`--streaming`).
fn streams(a: &TrainArgs) -> Result<bool> {
    if a.streaming == Streaming::Off {
        return Ok(false);
    }
    let why_not = if a.training.tune {
        Some("--tune cross-validates rows held in memory".to_string())
    } else {
        a.data
            .iter()
            .find(|p| p.as_os_str() == "-")
            .map(|p| format!("{} (standard input) cannot be read twice", p.display()))
    };
    let total: u64 = a
        .data
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if a.streaming == Streaming::Auto && (why_not.is_some() || total < STREAM_FROM_BYTES) {
        return Ok(false);
    }
    let opts = a.contract.contract()?.read_options();
    let why_not = match why_not {
        Some(w) => Some(w),
        None => {
            let mut found = None;
            for p in &a.data {
                if !reader::can_read_blocks(p, &opts)? {
                    found = Some(format!(
                        "{} is compressed, JSON lines or CSV with quote characters (a field may hold a newline)",
                        p.display()
                    ));
                    break;
                }
            }
            found
        }
    };
    match (a.streaming, why_not) {
        (_, None) => Ok(true),
        (Streaming::On, Some(why)) => bail!("--streaming on: {why}; use --streaming off"),
        _ => Ok(false),
    }
}

/// Reads every row into memory, then prepares, splits and trains (optionally tuning first).
fn train_held(a: &TrainArgs, cfg: &ValidTrainConfig, rejects: &mut Rejects) -> Result<Trained> {
    progress(a.json, "reading training data");
    let t0 = Instant::now();
    let inputs = read_training(a, rejects)?;
    progress(
        a.json,
        &format!(
            "read {} rows from {} file(s)",
            inputs.rows.texts.len(),
            a.data.len()
        ),
    );
    let mut reports = inputs.reports;
    progress(
        a.json,
        &format!(
            "cleaning and de-duplicating {} rows",
            inputs.rows.texts.len()
        ),
    );
    let origin = inputs.origin;
    let names = inputs.names;
    let (kept, prepared) = prepare::prepare_columns(inputs.rows, &cfg.clean);
    let mut dropped = ReadReport::default();
    for (i, reason) in &prepared.dropped {
        let (fi, line) = origin[*i];
        // already counted in rows_in by the reader: now rejected
        count_dropped(&mut dropped, *reason);
        rejects.row(&a.data[fi], line, *reason, "");
    }
    // what placed each row in its file is no longer needed: free it before training
    drop((origin, prepared));
    let (train_rows, test_rows, labels) = match &a.test {
        Some(path) => {
            let labels = kept.classes(&names);
            let (test, report) = read_test(a, path, &labels, inputs.scheme, &cfg.clean, rejects)?;
            reports.push(report);
            (kept.into_labelled(&names, &labels).0, test, labels)
        }
        None => {
            let (tr, te) = prepare::split_columns(kept, a.test_fraction);
            let labels = tr.classes(&names);
            let test = te.into_labelled(&names, &labels).0;
            (tr.into_labelled(&names, &labels).0, test, labels)
        }
    };
    rejects.finish()?;
    let read_s = t0.elapsed().as_secs_f64();
    let all = rejections(reports.iter().chain([&dropped]));
    if train_rows.is_empty() {
        no_training_rows(a, &all)?;
    }

    let (cfg, tuning) = if a.training.tune {
        progress(
            a.json,
            &format!(
                "tuning C, sublinear tf and class weights: {}-fold cross-validation on {} rows",
                TuneGrid::default().folds,
                train_rows.len()
            ),
        );
        let (chosen, tuning) = polarity_core::tune::tune(
            cfg,
            &train_rows.texts,
            &train_rows.classes,
            labels.names(),
            &TuneGrid::default(),
        )?;
        (chosen, Some(tuning))
    } else {
        (cfg.clone(), None)
    };
    progress(a.json, &format!("fitting on {} rows", train_rows.len()));
    let mut on = training_progress(a.json);
    let (model, t) =
        train::train_observed(&cfg, train_rows, &test_rows, labels, inputs.scheme, &mut on)?;
    Ok(Trained {
        model,
        t,
        read_s,
        all,
        tuning,
    })
}

/// Counts a row dropped by preparation (already counted in `rows_in` by the reader: now rejected).
fn count_dropped(dropped: &mut ReadReport, reason: RejectReason) {
    dropped.rejected += 1;
    *dropped
        .reasons
        .entry(reason.as_str().to_string())
        .or_insert(0) += 1;
}

fn no_training_rows(a: &TrainArgs, all: &ReadReport) -> Result<()> {
    bail!(
        "no usable training rows in {} ({} read, {} rejected: {:?})",
        a.data[0].display(),
        all.rows_in,
        all.rejected,
        all.reasons
    )
}

/// The size and modification time of each training file, to tell that none changed between passes.
fn stamps(a: &TrainArgs) -> Result<Vec<(u64, Option<std::time::SystemTime>)>> {
    a.data
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok((m.len(), m.modified().ok()))
        })
        .collect()
}

/// Trains without holding the rows: the files are read four times, a block at a time. Pass 1 finds the
/// label values (the classes are decided over all of them, as when held); pass 2 cleans every row and
/// decides its fate from a 16-byte key ([`RowPlanner`]); passes 3 and 4 give the training rows to
/// [`train::train_streamed`], which fits the vocabulary, then builds the matrix. The held-out rows are
/// kept from pass 3. The same model bytes as [`train_held`] (a test).
fn train_in_passes(
    a: &TrainArgs,
    cfg: &ValidTrainConfig,
    rejects: &mut Rejects,
) -> Result<Trained> {
    let contract = a.contract.contract()?;
    let opts = contract.read_options();
    let block = a.stream_block_bytes;
    let before = stamps(a)?;
    let t0 = Instant::now();
    progress(
        a.json,
        "reading the training files for their labels (pass 1 of 4)",
    );
    let mut values = std::collections::BTreeSet::new();
    for path in &a.data {
        reader::read_blocks::<anyhow::Error>(path, &opts, block, |t| {
            values.extend(t.label_values);
            Ok(())
        })?;
    }
    let map = ClassMap::new(&contract, values.into_iter().collect());
    progress(a.json, "cleaning and de-duplicating (pass 2 of 4)");
    let mut planner = RowPlanner::new(a.test.is_none().then_some(a.test_fraction));
    let mut reports = Vec::new();
    for path in &a.data {
        let mut report = ReadReport::default();
        reader::read_blocks::<anyhow::Error>(path, &opts, block, |mut t| {
            let (mut rows, _) = map.label(&mut t, path)?;
            rejects.table(path, &t);
            report.merge(&t.report);
            planner.add(&mut rows, &cfg.clean);
            Ok(())
        })?;
        reports.push(report);
    }
    let plan = planner.finish();
    let mut dropped = ReadReport::default();
    let mut used = vec![false; map.names.len()];
    for (fate, &l) in plan.fates.iter().zip(&plan.labels) {
        match fate.reason() {
            Some(reason) => count_dropped(&mut dropped, reason),
            None if *fate == RowFate::Train => used[l as usize] = true,
            None => {}
        }
    }
    let labels = Labels::from_names(
        map.names
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(n, _)| n),
    );
    let class: Vec<Option<u32>> = map.names.iter().map(|n| labels.index(n)).collect();
    let mut test = Labelled::default();
    if let Some(path) = &a.test {
        let (rows, report) = read_test(a, path, &labels, map.scheme, &cfg.clean, rejects)?;
        reports.push(report);
        test = rows;
    }
    let read_s = t0.elapsed().as_secs_f64();
    let all = rejections(reports.iter().chain([&dropped]));
    if !used.iter().any(|&u| u) {
        no_training_rows(a, &all)?;
    }
    let mut pass = 2;
    let replay = |sink: &mut dyn FnMut(&[String], &[u32])| -> Result<()> {
        pass += 1;
        progress(
            a.json,
            &format!(
                "{} (pass {pass} of 4)",
                if pass == 3 {
                    "counting words"
                } else {
                    "building the matrix"
                }
            ),
        );
        let mut row = 0usize;
        for path in &a.data {
            reader::read_blocks::<anyhow::Error>(path, &opts, block, |mut t| {
                let (mut rows, lines) = map.label(&mut t, path)?;
                prepare::clean_texts(&mut rows.texts, &cfg.clean);
                let mut batch = Labelled::default();
                for ((text, l), line) in rows.texts.into_iter().zip(rows.labels).zip(lines) {
                    let fate = match plan.fates.get(row) {
                        Some(&f) if plan.labels[row] == l => f,
                        _ => bail!("{} changed while training", path.display()),
                    };
                    row += 1;
                    match (fate, fate.reason()) {
                        (RowFate::Train, _) => {
                            batch.texts.push(text);
                            batch
                                .classes
                                .push(class[l as usize].expect("a training class"));
                        }
                        (RowFate::Test, _) if pass == 3 => {
                            if let Some(c) = class[l as usize] {
                                test.texts.push(text);
                                test.classes.push(c);
                            }
                        }
                        (_, Some(reason)) if pass == 3 => rejects.row(path, line, reason, ""),
                        _ => {}
                    }
                }
                sink(&batch.texts, &batch.classes);
                Ok(())
            })?;
        }
        if row != plan.fates.len() {
            bail!("the training files changed while training");
        }
        Ok(())
    };
    let mut on = training_progress(a.json);
    let (model, t) = train::train_streamed(cfg, replay, labels, map.scheme, &mut on)?;
    if stamps(a)? != before {
        bail!("a training file changed while training: its model would mix two versions");
    }
    rejects.finish()?;
    let (model, t) = train::score_held_out(model, t, &test, &mut on);
    Ok(Trained {
        model,
        t,
        read_s,
        all,
        tuning: None,
    })
}

/// Writes the artifact and reports.
fn finish(a: &TrainArgs, trained: Trained, t_start: Instant) -> Result<()> {
    let Trained {
        model,
        t,
        read_s,
        all,
        tuning,
    } = trained;
    if !model.meta.fit.converged {
        eprintln!(
            "warning: the fit did not converge within --max-iter {} (objective {:.6}); the model may be poor: raise --max-iter",
            model.meta.fit.iterations, model.meta.fit.objective
        );
    }
    let bytes = encode(&model);
    write_atomic(&a.out, &bytes)?;
    let m = model.meta.metrics.as_ref();
    let report = TrainReport {
        labels: model.meta.labels.clone(),
        n_train: model.meta.data.n_train,
        n_test: model.meta.data.n_test,
        rows_in: all.rows_in,
        rejected: all.rejected,
        rejected_reasons: all.reasons,
        metrics: MetricFields::from(m),
        n_features: model.tfidf.n_features(),
        iterations: model.meta.fit.iterations,
        evaluations: model.meta.fit.evaluations,
        converged: model.meta.fit.converged,
        model: a.out.display().to_string(),
        sha256: sha256_hex(&bytes),
        model_bytes: bytes.len(),
        tuning,
        timings: Timings {
            read_s,
            vectorize_s: t.vectorize_s,
            fit_s: t.fit_s,
            eval_s: t.eval_s,
            total_s: t_start.elapsed().as_secs_f64(),
        },
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "trained on {} rows ({} read, {} rejected{}), {} features, {} classes: {}",
        report.n_train,
        report.rows_in,
        report.rejected,
        if report.rejected > 0 {
            format!(" {:?}", report.rejected_reasons)
        } else {
            String::new()
        },
        report.n_features,
        report.labels.len(),
        report.labels.join(", ")
    );
    if let Some(t) = &report.tuning {
        let setting = |s: &polarity_core::tune::TuneScore| {
            format!(
                "C {}, sublinear tf {}, class weight {} (macro-F1 {:.4})",
                s.c,
                s.sublinear_tf,
                s.class_weight.as_str(),
                s.macro_f1
            )
        };
        let chosen = t.chosen().map_or_else(String::new, setting);
        let outcome = match &t.baseline {
            Some(_) if t.kept_baseline() => {
                format!("kept {chosen}; no setting was reliably better")
            }
            Some(b) => format!("{chosen}; the starting settings {}", setting(b)),
            None => chosen,
        };
        println!(
            "tuned on {} rows ({}-fold cross-validation x{}): {outcome}",
            t.rows, t.grid.folds, t.repeats
        );
    }
    print!(
        "held out {} rows: {}",
        report.n_test,
        summary(&report.labels, m)
    );
    println!(
        "model {} ({} bytes, sha256 {}) in {:.2} s (read {:.2}, vectorize {:.2}, fit {:.2}, eval {:.2})",
        report.model,
        report.model_bytes,
        report.sha256,
        report.timings.total_s,
        read_s,
        t.vectorize_s,
        t.fit_s,
        t.eval_s
    );
    Ok(())
}
