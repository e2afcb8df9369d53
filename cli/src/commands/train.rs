//! `polarity train`: read files under the data contract, prepare them exactly as the pipeline does
//! ([`polarity_core::prepare`]), split, fit, score, write the artifact, report.

use clap::Args;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use polarity_core::artifact::{encode, sha256_hex};
use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::prepare::{self, Columns, prepare_eval};
use polarity_core::reader::{ReadReport, RejectReason, Table};
use polarity_core::train::{self, Labelled};
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
}

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
    let mut values: Vec<String> = tables
        .iter()
        .flat_map(|t| t.label_values.iter().cloned())
        .collect();
    values.sort();
    values.dedup();
    let (names, scheme) = contract.class_names(&values);
    let mut distinct: Vec<String> = names.iter().flatten().cloned().collect();
    distinct.sort();
    distinct.dedup();
    let by_value: HashMap<&str, Option<u32>> = values
        .iter()
        .map(String::as_str)
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
    let mut out = Inputs {
        rows: Columns::default(),
        names: Vec::new(),
        origin: Vec::new(),
        scheme: scheme.unwrap_or(LabelScheme::Names),
        reports: Vec::new(),
    };
    for (fi, mut t) in tables.into_iter().enumerate() {
        let classes: Vec<Option<u32>> = t
            .label_values
            .iter()
            .map(|v| by_value[v.as_str()])
            .collect();
        let (rows, lines) = prepare::label_columns(&mut t, &classes, reason);
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
    out.names = distinct;
    Ok(out)
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

    progress(a.json, "reading training data");
    let t0 = Instant::now();
    let inputs = read_training(a, &mut rejects)?;
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
        dropped.rejected += 1;
        *dropped
            .reasons
            .entry(reason.as_str().to_string())
            .or_insert(0) += 1;
        rejects.row(&a.data[fi], line, *reason, "");
    }
    // what placed each row in its file is no longer needed: free it before training
    drop((origin, prepared));
    let (train_rows, test_rows, labels) = match &a.test {
        Some(path) => {
            let labels = kept.classes(&names);
            let (test, report) =
                read_test(a, path, &labels, inputs.scheme, &cfg.clean, &mut rejects)?;
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
        bail!(
            "no usable training rows in {} ({} read, {} rejected: {:?})",
            a.data[0].display(),
            all.rows_in,
            all.rejected,
            all.reasons
        );
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
            &cfg,
            &train_rows.texts,
            &train_rows.classes,
            labels.names(),
            &TuneGrid::default(),
        )?;
        (chosen, Some(tuning))
    } else {
        (cfg, None)
    };
    progress(a.json, &format!("fitting on {} rows", train_rows.len()));
    let mut on = training_progress(a.json);
    let (model, t) =
        train::train_observed(&cfg, train_rows, &test_rows, labels, inputs.scheme, &mut on)?;
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
