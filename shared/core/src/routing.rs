//! The bucket layout and the prefix → stage routing table, written once for every binary, Terraform's S3
//! notification and the embedded runner.
//!
//! | prefix        | suffix          | triggers   | the stage writes                                   |
//! |---------------|-----------------|------------|----------------------------------------------------|
//! | `incoming/`   | (any)           | `ingest`   | `raw/<dataset>/…`, `quarantine/<dataset>/…`        |
//! | `raw/`        | `manifest.json` | `process`  | `processed/<dataset>/…`                            |
//! | `processed/`  | `manifest.json` | `train`    | `models/<version>/…`                               |
//! | `models/`     | `manifest.json` | `validate` | `decisions/<version>.json`                         |
//!
//! A stage's manifest is written last and is the commit marker that triggers the next stage. No stage
//! triggers on a prefix it writes (checked by a test below).

use serde::{Deserialize, Serialize};

/// A pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Validate and normalise an upload.
    Ingest,
    /// Clean, de-duplicate and split a dataset.
    Process,
    /// Train a candidate model.
    Train,
    /// Score the candidate against production and decide.
    Validate,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 4] = [Stage::Ingest, Stage::Process, Stage::Train, Stage::Validate];

    /// Lower-case name (also the Lambda function suffix: `polarity-<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Process => "process",
            Self::Train => "train",
            Self::Validate => "validate",
        }
    }
}

/// One row of the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Key prefix that triggers the stage.
    pub prefix: &'static str,
    /// Key suffix that triggers the stage (empty: any).
    pub suffix: &'static str,
    /// The stage triggered.
    pub stage: Stage,
    /// Prefixes the stage writes to.
    pub writes: &'static [&'static str],
}

/// Uploads land here.
pub const INCOMING: &str = "incoming/";
/// Canonical JSONL of accepted rows, per dataset.
pub const RAW: &str = "raw/";
/// Rejected rows with reasons, per dataset.
pub const QUARANTINE: &str = "quarantine/";
/// Cleaned, de-duplicated, split rows, per dataset.
pub const PROCESSED: &str = "processed/";
/// Model artifacts and cards, per version.
pub const MODELS: &str = "models/";
/// Validation decision records, per version.
pub const DECISIONS: &str = "decisions/";
/// File name of every stage's commit marker.
pub const MANIFEST: &str = "manifest.json";

/// The routing table.
pub const ROUTES: [Route; 4] = [
    Route {
        prefix: INCOMING,
        suffix: "",
        stage: Stage::Ingest,
        writes: &[RAW, QUARANTINE],
    },
    Route {
        prefix: RAW,
        suffix: MANIFEST,
        stage: Stage::Process,
        writes: &[PROCESSED],
    },
    Route {
        prefix: PROCESSED,
        suffix: MANIFEST,
        stage: Stage::Train,
        writes: &[MODELS],
    },
    Route {
        prefix: MODELS,
        suffix: MANIFEST,
        stage: Stage::Validate,
        writes: &[DECISIONS],
    },
];

/// The stage an object key (already URL-decoded) triggers, if any.
pub fn route(key: &str) -> Option<Stage> {
    ROUTES
        .iter()
        .find(|r| {
            key.starts_with(r.prefix) && key.ends_with(r.suffix) && key.len() > r.prefix.len()
        })
        .map(|r| r.stage)
}

/// Decodes an S3 event object key: `+` is a space and `%XX` is a byte (invalid escapes are kept as written).
/// Returns `None` when the decoded bytes are not UTF-8.
pub fn decode_s3_key(key: &str) -> Option<String> {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keys_to_stages() {
        assert_eq!(route("incoming/reviews.csv"), Some(Stage::Ingest));
        assert_eq!(route("incoming/"), None);
        assert_eq!(route("raw/abc/manifest.json"), Some(Stage::Process));
        assert_eq!(route("raw/abc/rows.jsonl"), None);
        assert_eq!(route("processed/abc/manifest.json"), Some(Stage::Train));
        assert_eq!(route("models/v1/manifest.json"), Some(Stage::Validate));
        assert_eq!(route("models/v1/model.plm"), None);
        assert_eq!(route("quarantine/abc/manifest.json"), None);
        assert_eq!(route("decisions/v1.json"), None);
    }

    #[test]
    fn no_stage_triggers_on_what_it_writes() {
        for r in ROUTES {
            for w in r.writes {
                for other in ROUTES.iter().filter(|o| o.stage == r.stage) {
                    assert!(
                        !w.starts_with(other.prefix) && !other.prefix.starts_with(w),
                        "{:?} writes {w}",
                        r.stage
                    );
                }
            }
        }
        // and the chain is a line: each stage's outputs trigger only the next stage
        for (i, r) in ROUTES.iter().enumerate() {
            let next: Vec<Stage> = ROUTES
                .iter()
                .filter(|o| r.writes.contains(&o.prefix))
                .map(|o| o.stage)
                .collect();
            assert_eq!(
                next,
                Stage::ALL
                    .get(i + 1)
                    .copied()
                    .into_iter()
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn decodes_s3_keys() {
        assert_eq!(
            decode_s3_key("incoming/my+file%281%29.csv").as_deref(),
            Some("incoming/my file(1).csv")
        );
        assert_eq!(
            decode_s3_key("incoming%2Fa.csv").as_deref(),
            Some("incoming/a.csv")
        );
        assert_eq!(decode_s3_key("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(decode_s3_key("100%").as_deref(), Some("100%"));
        assert_eq!(decode_s3_key("a%zzb").as_deref(), Some("a%zzb"));
        assert_eq!(decode_s3_key("%ff"), None);
    }
}
