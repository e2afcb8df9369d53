//! Validate: a candidate's train manifest → a decision. Steps: load the candidate ([`load_verified`]: the
//! same checks the server makes) → the held-out rows of the active datasets (`eval_rows`) → [`judge`]
//! candidate and production on the **same** rows with the [`PromotionPolicy`] → `commit` (move the
//! production pointer with a conditional transition; if another validator moved it first, judge again
//! against the new production model) → the decision record `decisions/<version>.json`, written once for
//! every candidate, the verdict on the registry, and the version's [`report`] page
//! `models/<version>/report.html`.

use std::sync::Arc;

use polarity_core::Classifier;
use polarity_core::labels::Labels;
use polarity_core::metrics::{Calibration, Metrics};
use polarity_core::model::{PredictScratch, argmax};
use polarity_core::prepare::PreparedRow;
use polarity_core::reader::quoted;

use super::Ctx;
use super::train::load_split;
use crate::artifacts::load_verified;
use crate::error::PipelineError;
use crate::layout::{self, MODELS, Stage};
use crate::policy::{PolicyOutcome, ProductionScores};
use crate::records::clock::now_secs;
use crate::records::decision::CALIBRATION_BINS;
use crate::records::json::to_json;
use crate::records::{
    Baselines, Decision, HeldOutSource, Paired, ProcessManifest, PromotionPolicy, Scored,
    StageOutcome, Verdict,
};
use crate::registry::{
    PointerState, Registry, RegistryError, Transition, TransitionKind, VerdictRecord,
};
use crate::report;
use crate::stored::read_json;

/// How many times a candidate is judged again after losing a race for the pointer.
const MAX_ATTEMPTS: usize = 4;

/// One model's predictions on rows.
struct Scores {
    pred: Vec<u32>,
    metrics: Metrics,
    calibration: Calibration,
}

/// Scores `model` on `rows` whose true classes (indices into `labels`) are `truth`; every text is cleaned
/// with the model's own settings.
fn score(model: &Classifier, rows: &[PreparedRow], labels: &Labels, truth: &[u32]) -> Scores {
    let mut s = PredictScratch::default();
    let mut pred = Vec::with_capacity(rows.len());
    let mut p_true = Vec::with_capacity(rows.len());
    let mut confidence = Vec::with_capacity(rows.len());
    let mut correct = Vec::with_capacity(rows.len());
    for (r, &t) in rows.iter().zip(truth) {
        model.predict_into(&r.text, &mut s);
        let best = argmax(&s.probs);
        let p = labels
            .index(&model.labels()[best])
            .expect("labels include the model's classes");
        pred.push(p);
        confidence.push(s.probs[best]);
        correct.push(p == t);
        p_true.push(
            model
                .labels()
                .iter()
                .position(|l| *l == r.label)
                .map_or(0.0, |i| s.probs[i]),
        );
    }
    let metrics = Metrics::compute(labels.names(), truth, &pred, &p_true);
    let calibration = Calibration::compute(&confidence, &correct, CALIBRATION_BINS);
    Scores {
        pred,
        metrics,
        calibration,
    }
}

/// What [`judge`] found.
pub struct Judged {
    /// Production's name, when there is one.
    pub production: Option<String>,
    /// The policy's verdict.
    pub outcome: PolicyOutcome,
    /// The candidate's metrics.
    pub candidate: Metrics,
    /// Production's metrics.
    pub production_metrics: Option<Metrics>,
    /// The candidate's reliability.
    pub calibration: Calibration,
    /// Production's reliability.
    pub production_calibration: Option<Calibration>,
    /// The baselines.
    pub baselines: Baselines,
    /// Candidate vs production.
    pub paired: Option<Paired>,
}

/// Scores the candidate and (if any) production on `rows` and applies the policy.
pub fn judge(
    policy: &PromotionPolicy,
    candidate: &Classifier,
    production: Option<(&str, &Classifier)>,
    rows: &[PreparedRow],
) -> Judged {
    let mut names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    names.extend(candidate.labels().iter().map(String::as_str));
    if let Some((_, p)) = production {
        names.extend(p.labels().iter().map(String::as_str));
    }
    let labels = Labels::from_names(names);
    let truth: Vec<u32> = rows
        .iter()
        .map(|r| {
            labels
                .index(&r.label)
                .expect("labels include every row's class")
        })
        .collect();
    let c = score(candidate, rows, &labels, &truth);
    // the baselines guess the candidate's training classes, in the evaluation's label space
    let mut prior = vec![0.0; labels.len()];
    for (name, p) in candidate
        .labels()
        .iter()
        .zip(&candidate.meta.data.class_prior)
    {
        if let Some(i) = labels.index(name) {
            prior[i as usize] = *p;
        }
    }
    let baselines = Baselines::compute(labels.names(), &prior, &truth, &c.pred);
    match production {
        None => Judged {
            production: None,
            outcome: policy.decide(&c.metrics, candidate.labels(), &baselines, None),
            candidate: c.metrics,
            production_metrics: None,
            calibration: c.calibration,
            production_calibration: None,
            baselines,
            paired: None,
        },
        Some((name, p)) => {
            let ps = score(p, rows, &labels, &truth);
            let paired = Paired::count(&truth, &c.pred, &ps.pred);
            let outcome = policy.decide(
                &c.metrics,
                candidate.labels(),
                &baselines,
                Some(ProductionScores {
                    metrics: &ps.metrics,
                    paired,
                    labels: p.labels(),
                }),
            );
            Judged {
                production: Some(name.to_string()),
                outcome,
                candidate: c.metrics,
                production_metrics: Some(ps.metrics),
                calibration: c.calibration,
                production_calibration: Some(ps.calibration),
                baselines,
                paired: Some(paired),
            }
        }
    }
}

/// The held-out rows: the test splits of the active datasets (newest upload wins), and those datasets.
async fn eval_rows(
    ctx: Ctx<'_>,
) -> Result<(Vec<PreparedRow>, Vec<ProcessManifest>), PipelineError> {
    let datasets = crate::datasets::active(ctx.store).await?;
    let held_out = crate::dispatch::held_out_rows(&datasets);
    if let Some(limit) = ctx.cfg.dispatch.validate_max_rows
        && held_out > limit
    {
        tracing::warn!(
            stage = "validate",
            rows = held_out,
            limit,
            "the held-out rows exceed POLARITY_VALIDATE_MAX_ROWS (the rows-per-GB rule for this function's memory); validating anyway: if the function runs out of memory, raise stage_sizing.validate.memory or validate_max_held_out_rows (terraform/README.md)"
        );
    }
    let rows = load_split(ctx.store, &datasets, "test", ctx.cfg).await?;
    Ok((rows, datasets))
}

/// Where the held-out rows come from (see [`HeldOutSource`]).
fn provenance(datasets: &[ProcessManifest]) -> Vec<HeldOutSource> {
    datasets
        .iter()
        .map(|d| HeldOutSource {
            dataset: d.dataset.clone(),
            name: d.name.clone(),
            rows: d.test.values().sum(),
            relabelled: d.gate.as_ref().map_or(0, |g| g.changed_held_out),
        })
        .collect()
}

/// What a person reading the decision must also know about its rows and classes: held-out labels that
/// later uploads changed, and which datasets brought a class production does not have (with the command
/// that leaves them out).
fn notes(datasets: &[ProcessManifest], candidate: &[String], production: &[String]) -> Vec<String> {
    let mut notes = Vec::new();
    let relabelled: Vec<String> = datasets
        .iter()
        .filter_map(|d| {
            let n = d.gate.as_ref().map_or(0, |g| g.changed_held_out);
            (n > 0).then(|| format!("{n} by {} ({})", d.dataset, quoted(&d.name)))
        })
        .collect();
    if !relabelled.is_empty() {
        notes.push(format!(
            "held-out labels changed by later uploads: {}",
            relabelled.join(", ")
        ));
    }
    if production.is_empty() {
        return notes;
    }
    for class in candidate.iter().filter(|c| !production.contains(c)) {
        let from: Vec<(&str, String)> = datasets
            .iter()
            .filter_map(|d| {
                let n = d.train.get(class).copied().unwrap_or(0)
                    + d.test.get(class).copied().unwrap_or(0);
                (n > 0).then(|| {
                    let id = d.dataset.as_str();
                    (id, format!("{id} ({}, {n} rows)", quoted(&d.name)))
                })
            })
            .collect();
        let commands: Vec<String> = from
            .iter()
            .map(|(id, _)| format!("`polarity dataset exclude {id}`"))
            .collect();
        notes.push(format!(
            "class {} comes from {}; {} leaves it out",
            quoted(class),
            from.iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            commands.join(", ")
        ));
    }
    notes
}

/// Judges off the async workers.
async fn judge_blocking(
    policy: PromotionPolicy,
    candidate: Arc<Classifier>,
    production: Option<(String, Arc<Classifier>)>,
    rows: Arc<Vec<PreparedRow>>,
) -> Result<Judged, PipelineError> {
    tokio::task::spawn_blocking(move || {
        judge(
            &policy,
            &candidate,
            production.as_ref().map(|(n, p)| (n.as_str(), p.as_ref())),
            &rows,
        )
    })
    .await
    .map_err(|e| PipelineError::Task(e.to_string()))
}

/// The verdict after the registry had its say, and whether the candidate is in production.
enum Committed {
    Done {
        verdict: Verdict,
        reason: String,
        promoted: bool,
    },
    /// Another validator moved the pointer: judge again.
    Moved,
}

/// Moves the pointer when the policy promotes (respecting a freeze), conditional on `state`.
async fn commit(
    registry: &dyn Registry,
    state: &PointerState,
    version: &str,
    verdict: Verdict,
    reason: String,
) -> Result<Committed, PipelineError> {
    if state.version.as_deref() == Some(version) {
        return Ok(Committed::Done {
            verdict,
            reason,
            promoted: true,
        });
    }
    if verdict != Verdict::Promote {
        return Ok(Committed::Done {
            verdict,
            reason,
            promoted: false,
        });
    }
    let held = |reason: &str| Committed::Done {
        verdict: Verdict::Hold,
        reason: format!(
            "held: the registry is frozen ({reason}); `polarity registry unfreeze` stops holding new candidates, `polarity registry promote {version}` promotes this one"
        ),
        promoted: false,
    };
    if state.frozen {
        return Ok(held(&reason));
    }
    let t = Transition {
        expected: state.clone(),
        to: version.to_string(),
        kind: TransitionKind::Promote,
        reason: reason.clone(),
    };
    match registry.transition(&t).await {
        Ok(_) => Ok(Committed::Done {
            verdict,
            reason,
            promoted: true,
        }),
        Err(RegistryError::Conflict { .. }) => Ok(Committed::Moved),
        Err(RegistryError::Frozen) => Ok(held(&reason)),
        Err(e) => Err(e.into()),
    }
}

/// Runs validate on `models/<version>/manifest.json`.
///
/// # Errors
/// Store and registry errors (a pointer that keeps moving is the retryable
/// [`RegistryError::RetriesExhausted`]); a candidate whose artifact does not match its registry checksum
/// is [`PipelineError::Corrupt`].
pub async fn validate(ctx: Ctx<'_>, key: &str) -> Result<StageOutcome, PipelineError> {
    let Some(version) = layout::manifest_owner(key, MODELS) else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Validate,
            reason: format!("{key} is not a model manifest"),
        });
    };
    let decision_key = layout::decision(version);
    if let Some(mut d) = read_json::<Decision>(ctx.store, &decision_key).await? {
        d.already = true;
        d.since = since(ctx.registry(Stage::Validate)?, &d).await?;
        // an earlier run may have stopped between the record and the page
        if !ctx
            .store
            .exists(&layout::model(version, layout::REPORT))
            .await?
        {
            let data = report::load(ctx.store, ctx.registry(Stage::Validate)?, version).await?;
            write_report(ctx, &data).await?;
        }
        return Ok(StageOutcome::Validate(d));
    }
    let registry = ctx.registry(Stage::Validate)?;
    let Some(rec) = registry.version(version).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Validate,
            reason: format!("{version} is not registered"),
        });
    };
    let candidate = Arc::new(load_verified(ctx.store, &rec).await?);
    let record_of_candidate = rec.clone();
    let converged = candidate.meta.fit.converged;
    let (rows, eval_manifests) = eval_rows(ctx).await?;
    let eval_datasets: Vec<String> = eval_manifests.iter().map(|d| d.dataset.clone()).collect();
    let rows = Arc::new(rows);
    for _ in 0..MAX_ATTEMPTS {
        let state = registry.pointer().await?;
        let production = match &state.version {
            // promoted by a racing duplicate of this event, or by an earlier run that crashed before the
            // record was written: judge it alone and record the promotion
            Some(pv) if pv == version => None,
            Some(pv) => match registry.version(pv).await? {
                Some(prec) => Some((pv.clone(), Arc::new(load_verified(ctx.store, &prec).await?))),
                None => return Err(RegistryError::UnknownVersion(pv.clone()).into()),
            },
            None => None,
        };
        let production_labels: Vec<String> = production
            .as_ref()
            .map(|(_, p)| p.labels().to_vec())
            .unwrap_or_default();
        let judged =
            judge_blocking(ctx.cfg.policy, candidate.clone(), production, rows.clone()).await?;
        let (mut verdict, mut reason) = (judged.outcome.verdict, judged.outcome.reason.clone());
        if state.version.as_deref() == Some(version) {
            verdict = Verdict::Promote;
            reason = format!("already in production; {reason}");
        }
        let notes = notes(&eval_manifests, candidate.labels(), &production_labels);
        if !notes.is_empty() {
            reason = format!("{reason} (note: {})", notes.join("; "));
        }
        let Committed::Done {
            verdict,
            reason,
            promoted,
        } = commit(registry, &state, version, verdict, reason).await?
        else {
            tracing::info!(
                stage = "validate",
                model_version = version,
                "production moved while judging; judging again"
            );
            continue;
        };
        let d = Decision {
            version: version.to_string(),
            production: judged.production,
            verdict,
            reason,
            promoted,
            candidate_scores: Scored::from(&judged.candidate),
            production_scores: judged.production_metrics.as_ref().map(Scored::from),
            candidate_metrics: Some(judged.candidate),
            production_metrics: judged.production_metrics,
            calibration: Some(judged.calibration),
            production_calibration: judged.production_calibration,
            baselines: Some(judged.baselines),
            paired: judged.paired,
            p_value: judged.outcome.p_value,
            policy: ctx.cfg.policy,
            checks: judged.outcome.checks,
            converged,
            eval_rows: rows.len() as u64,
            eval_datasets: eval_datasets.clone(),
            held_out: provenance(&eval_manifests),
            at: now_secs(),
            already: false,
            since: None,
        };
        let out = record(ctx, registry, &decision_key, d).await?;
        let data = report::gather(ctx.store, registry, record_of_candidate, &candidate).await?;
        write_report(ctx, &data).await?;
        return Ok(out);
    }
    Err(RegistryError::RetriesExhausted {
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// For a decision found already made: when production has since moved to another version, names it
/// and the datasets it was trained on that this version leaves out (an excluded dataset, say), and the
/// command that serves this version instead. A decision is made once per version; the same training
/// input names the same version, so going back to earlier data does not judge it again.
async fn since(registry: &dyn Registry, d: &Decision) -> Result<Option<String>, PipelineError> {
    let pointer = registry.pointer().await?;
    let Some(pv) = pointer.version.as_deref() else {
        return Ok(None);
    };
    if pv == d.version || d.production.as_deref() == Some(pv) {
        return Ok(None);
    }
    let (Some(p), Some(c)) = (
        registry.version(pv).await?,
        registry.version(&d.version).await?,
    ) else {
        return Ok(None);
    };
    let extra: Vec<&str> = p
        .datasets
        .iter()
        .filter(|x| !c.datasets.contains(x))
        .map(String::as_str)
        .collect();
    let trained = if extra.is_empty() {
        String::new()
    } else {
        format!(
            ", trained also on {} which this version leaves out",
            extra.join(", ")
        )
    };
    Ok(Some(format!(
        "production is now {pv}{trained}; `polarity registry promote {}` serves this version",
        d.version
    )))
}

/// Writes the version's report page beside its model (`models/<version>/report.html`).
async fn write_report(ctx: Ctx<'_>, data: &report::ReportData) -> Result<(), PipelineError> {
    let key = layout::model(&data.record.version, layout::REPORT);
    ctx.store
        .put(&key, bytes::Bytes::from(report::render(data)))
        .await?;
    Ok(())
}

/// Writes the decision record once (a racing duplicate's record wins), the verdict on the registry, and
/// tells the tracker.
async fn record(
    ctx: Ctx<'_>,
    registry: &dyn Registry,
    decision_key: &str,
    d: Decision,
) -> Result<StageOutcome, PipelineError> {
    if !ctx.store.put_if_absent(decision_key, to_json(&d)).await?
        && let Some(mut first) = read_json::<Decision>(ctx.store, decision_key).await?
    {
        first.already = true;
        return Ok(StageOutcome::Validate(first));
    }
    registry
        .record_verdict(
            &d.version,
            &VerdictRecord {
                verdict: d.verdict,
                reason: d.reason.clone(),
                at: d.at,
            },
        )
        .await?;
    ctx.tracker.decided(&d).await;
    if d.promoted {
        ctx.tracker.production_moved(&d.version).await;
    }
    tracing::info!(
        stage = "validate",
        model_version = d.version,
        verdict = d.verdict.as_str(),
        promoted = d.promoted,
        reason = d.reason,
        "decided"
    );
    Ok(StageOutcome::Validate(d))
}
