//! Validate: a candidate's train manifest → a decision. Loads the candidate and the production model from
//! their artifacts (the same [`polarity_core::artifact::decode`] and `predict` the server uses), scores
//! both on the **same** rows (the union of every processed dataset's test split), applies the
//! [`crate::policy::PromotionPolicy`], and moves the production pointer with a conditional transition.
//! If another validator moved it first, the candidate is re-judged against the new production model.
//! The decision record `decisions/<version>.json` is written once, for every candidate.

use std::collections::BTreeMap;
use std::sync::Arc;

use polarity_core::Classifier;
use polarity_core::labels::sort_classes;
use polarity_core::metrics::Metrics;
use polarity_core::model::{PredictScratch, argmax};
use polarity_core::routing::{MODELS, Stage};
use serde::{Deserialize, Serialize};

use super::{ProcessedRow, StageOutcome, load_split, processed_datasets, read_manifest};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, to_json};
use crate::layout;
use crate::policy::{Check, Paired, PromotionPolicy, Verdict};
use crate::registry::{
    Registry, RegistryError, Transition, TransitionKind, VerdictRecord, VersionRecord, now_secs,
};
use crate::store::ObjectStore;

/// How many times a candidate is re-judged after losing a race for the pointer.
const MAX_ATTEMPTS: usize = 4;

/// Headline scores on the evaluation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Unweighted mean F1 (primary metric).
    pub macro_f1: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Recall per class.
    pub recall: BTreeMap<String, f64>,
}

impl From<&Metrics> for Scored {
    fn from(m: &Metrics) -> Self {
        Self {
            macro_f1: m.macro_f1,
            accuracy: m.accuracy,
            recall: m
                .per_class
                .iter()
                .map(|(k, v)| (k.clone(), v.recall))
                .collect(),
        }
    }
}

/// The decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The candidate.
    pub version: String,
    /// Production when judged (`None`: no production model).
    pub production: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub reason: String,
    /// True when this candidate is now in production.
    pub promoted: bool,
    /// Candidate scores.
    pub candidate_scores: Scored,
    /// Production scores on the same rows.
    pub production_scores: Option<Scored>,
    /// Paired outcomes.
    pub paired: Option<Paired>,
    /// One-sided McNemar p-value.
    pub p_value: Option<f64>,
    /// The thresholds applied.
    pub policy: PromotionPolicy,
    /// Every rule with its numbers.
    pub checks: Vec<Check>,
    /// Rows both models were scored on.
    pub eval_rows: u64,
    /// Datasets whose test splits were used.
    pub eval_datasets: Vec<String>,
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// True when this run found the decision already made.
    #[serde(default)]
    pub already: bool,
}

/// Predictions of one model on the rows, as indices into `labels`, and the probability of the true class.
fn score(model: &Classifier, rows: &[ProcessedRow], labels: &[String]) -> (Vec<u32>, Vec<f64>) {
    let mut s = PredictScratch::default();
    let mut pred = Vec::with_capacity(rows.len());
    let mut p_true = Vec::with_capacity(rows.len());
    for r in rows {
        model.predict_into(&r.text, &mut s);
        let best = argmax(&s.probs);
        let name = &model.labels()[best];
        pred.push(labels.iter().position(|l| l == name).unwrap_or(0) as u32);
        p_true.push(
            model
                .labels()
                .iter()
                .position(|l| *l == r.label)
                .map_or(0.0, |i| s.probs[i]),
        );
    }
    (pred, p_true)
}

async fn load_model<S: ObjectStore + ?Sized>(
    store: &S,
    rec: &VersionRecord,
) -> Result<Classifier, PipelineError> {
    let bytes = store.get(&rec.artifact_key).await?;
    let corrupt = |problem: String| PipelineError::Corrupt {
        key: rec.artifact_key.clone(),
        problem,
    };
    let sha = polarity_core::artifact::sha256_hex(&bytes);
    if sha != rec.sha256 {
        return Err(corrupt(format!(
            "SHA-256 {sha} differs from the registry's {}",
            rec.sha256
        )));
    }
    polarity_core::artifact::decode(&bytes).map_err(|e| corrupt(e.to_string()))
}

struct Judged {
    production: Option<String>,
    outcome: crate::policy::PolicyOutcome,
    candidate: Scored,
    production_scores: Option<Scored>,
    paired: Option<Paired>,
}

/// Scores the candidate and (if any) production on `rows` and applies the policy.
fn judge(
    policy: &PromotionPolicy,
    candidate: &Classifier,
    production: Option<(&str, &Classifier)>,
    rows: &[ProcessedRow],
) -> Judged {
    let mut labels: Vec<String> = rows
        .iter()
        .map(|r| r.label.clone())
        .chain(candidate.labels().iter().cloned())
        .collect();
    if let Some((_, p)) = production {
        labels.extend(p.labels().iter().cloned());
    }
    sort_classes(&mut labels);
    labels.dedup();
    let truth: Vec<u32> = rows
        .iter()
        .map(|r| labels.iter().position(|l| *l == r.label).unwrap_or(0) as u32)
        .collect();
    let (cp, cpt) = score(candidate, rows, &labels);
    let cm = Metrics::compute(&labels, &truth, &cp, &cpt);
    match production {
        None => Judged {
            production: None,
            outcome: policy.decide(&cm, None),
            candidate: Scored::from(&cm),
            production_scores: None,
            paired: None,
        },
        Some((name, p)) => {
            let (pp, ppt) = score(p, rows, &labels);
            let pm = Metrics::compute(&labels, &truth, &pp, &ppt);
            let mut paired = Paired::default();
            for ((t, c), q) in truth.iter().zip(&cp).zip(&pp) {
                paired.candidate_only += u64::from(c == t && q != t);
                paired.production_only += u64::from(q == t && c != t);
            }
            Judged {
                production: Some(name.to_string()),
                outcome: policy.decide(&cm, Some((&pm, paired))),
                candidate: Scored::from(&cm),
                production_scores: Some(Scored::from(&pm)),
                paired: Some(paired),
            }
        }
    }
}

/// Runs validate on `models/<version>/manifest.json`.
///
/// # Errors
/// Store and registry errors (a pointer that keeps moving is a retryable `Conflict`); a candidate whose
/// artifact does not match its registry checksum is [`PipelineError::Corrupt`].
pub async fn validate<S: ObjectStore + ?Sized>(
    store: &S,
    registry: &dyn Registry,
    cfg: &PipelineConfig,
    key: &str,
) -> Result<StageOutcome, PipelineError> {
    let Some(version) = layout::manifest_owner(key, MODELS) else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Validate,
            reason: format!("{key} is not a model manifest"),
        });
    };
    let decision_key = layout::decision(version);
    if let Some(mut d) = read_manifest::<_, Decision>(store, &decision_key).await? {
        d.already = true;
        return Ok(StageOutcome::Validate(d));
    }
    let Some(rec) = registry.version(version).await? else {
        return Ok(StageOutcome::Skipped {
            of: Stage::Validate,
            reason: format!("{version} is not registered"),
        });
    };
    let candidate = Arc::new(load_model(store, &rec).await?);
    let eval_datasets = processed_datasets(store).await?;
    let rows = Arc::new(load_split(store, &eval_datasets, "test").await?);

    for _ in 0..MAX_ATTEMPTS {
        let state = registry.pointer().await?;
        let judged = if state.version.as_deref() == Some(version) {
            // Promoted by a racing duplicate of this event, or by an earlier run that crashed before the
            // record was written: record the promotion.
            let mut j = judge_blocking(cfg.policy, candidate.clone(), None, rows.clone()).await?;
            j.outcome.verdict = Verdict::Promote;
            j.outcome.reason = format!("already in production; {}", j.outcome.reason);
            j
        } else {
            let prod = match &state.version {
                Some(pv) => match registry.version(pv).await? {
                    Some(prec) => Some((pv.clone(), Arc::new(load_model(store, &prec).await?))),
                    None => return Err(RegistryError::UnknownVersion(pv.clone()).into()),
                },
                None => None,
            };
            judge_blocking(cfg.policy, candidate.clone(), prod, rows.clone()).await?
        };
        let mut verdict = judged.outcome.verdict;
        let mut reason = judged.outcome.reason.clone();
        let mut promoted = state.version.as_deref() == Some(version);
        if verdict == Verdict::Promote && !promoted {
            if state.frozen {
                verdict = Verdict::Hold;
                reason = format!("held: the registry is frozen ({reason})");
            } else {
                let t = Transition {
                    expected: state.clone(),
                    to: version.to_string(),
                    kind: TransitionKind::Promote,
                    reason: reason.clone(),
                };
                match registry.transition(&t).await {
                    Ok(_) => promoted = true,
                    Err(RegistryError::Conflict { .. }) => {
                        tracing::info!(
                            stage = "validate",
                            model_version = version,
                            "production moved while judging; judging again"
                        );
                        continue;
                    }
                    Err(RegistryError::Frozen) => {
                        verdict = Verdict::Hold;
                        reason = format!("held: the registry is frozen ({reason})");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let d = Decision {
            version: version.to_string(),
            production: judged.production,
            verdict,
            reason,
            promoted,
            candidate_scores: judged.candidate,
            production_scores: judged.production_scores,
            paired: judged.paired,
            p_value: judged.outcome.p_value,
            policy: cfg.policy,
            checks: judged.outcome.checks,
            eval_rows: rows.len() as u64,
            eval_datasets: eval_datasets.clone(),
            at: now_secs(),
            already: false,
        };
        if !store.put_if_absent(&decision_key, to_json(&d)).await? {
            // A racing duplicate recorded its decision first: report that one.
            if let Some(mut first) = read_manifest::<_, Decision>(store, &decision_key).await? {
                first.already = true;
                return Ok(StageOutcome::Validate(first));
            }
        }
        registry
            .record_verdict(
                version,
                &VerdictRecord {
                    verdict: d.verdict.as_str().into(),
                    reason: d.reason.clone(),
                    at: d.at,
                },
            )
            .await?;
        super::track::verdict(cfg, &d).await;
        tracing::info!(
            stage = "validate",
            model_version = version,
            verdict = d.verdict.as_str(),
            promoted = d.promoted,
            reason = d.reason,
            "decided"
        );
        return Ok(StageOutcome::Validate(d));
    }
    Err(RegistryError::Conflict {
        expected: None,
        seq: 0,
    }
    .into())
}

async fn judge_blocking(
    policy: PromotionPolicy,
    candidate: Arc<Classifier>,
    production: Option<(String, Arc<Classifier>)>,
    rows: Arc<Vec<ProcessedRow>>,
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
    .map_err(|e| PipelineError::Config(format!("scoring task failed: {e}")))
}
