//! The bucket layout, written once: prefixes, how keys are built ([`incoming`], [`raw`], …) and read back
//! ([`manifest_owner`], [`decode_s3_key`]), the prefix → stage routing table ([`ROUTES`], [`route`]) and who
//! may touch what ([`ACCESS`]; `terraform/access.json` is generated from it and Terraform builds every IAM
//! policy and the bucket notification from that file).
//!
//! ```text
//! incoming/<file> | incoming/<name>/<file>   uploads (CSV, TSV or JSONL, gzip optional)        → ingest
//! contracts/<name>.json                      the data contract of uploads under incoming/<name>/
//! raw/<dataset>/rows.jsonl                   accepted rows {"text","label"} (label = class name)
//! raw/<dataset>/manifest.json                ingest manifest (commit marker)                  → process
//! quarantine/<dataset>/rows.jsonl            rejected rows {"line","reason","raw"}
//! quarantine/<dataset>/upload                the whole upload, when the file itself is unusable
//! quarantine/<dataset>/manifest.json         the same ingest manifest (triggers nothing)
//! processed/<dataset>/{train,test}.jsonl     cleaned, de-duplicated rows {"text","clean","label"}
//! processed/<dataset>/manifest.json          process manifest (commit marker)                 → train
//! datasets/<dataset>.json                    an operator's exclude/include of a dataset          → train
//! models/<version>/model.plm                 artifact
//! models/<version>/card.json                 model card
//! models/<version>/manifest.json             train manifest (commit marker)                   → validate
//! models/<version>/report.html               the version's report page (written by validate)
//! models/<version>/dispatch.json             the ECS task training a version too large for one Lambda
//! decisions/<version>.json                   validation decision record
//! ```
//! `<dataset>` is `d-` + 16 hex digits of a SHA-256 over the upload's bytes (and its data contract, when it
//! has one); `<version>` is `v` + 12 hex digits of a SHA-256 over the training inputs (datasets and
//! settings). Both derive from content, so re-delivered events and re-uploads write nothing new.

use serde::Serialize;
use sha2::{Digest, Sha256};

polarity_core::named_enum! {
    /// A pipeline stage (also the Lambda function suffix: `polarity-<name>`).
    pub enum Stage {
        /// Validate and normalise an upload.
        Ingest = "ingest",
        /// Clean, de-duplicate, split and gate a dataset.
        Process = "process",
        /// Train a candidate model.
        Train = "train",
        /// Score the candidate against production and decide.
        Validate = "validate",
    }
}

/// Uploads land here.
pub const INCOMING: &str = "incoming/";
/// Named data contracts.
pub(crate) const CONTRACTS: &str = "contracts/";
/// Canonical JSONL of accepted rows, per dataset.
pub const RAW: &str = "raw/";
/// Rejected rows with reasons, per dataset.
pub(crate) const QUARANTINE: &str = "quarantine/";
/// Cleaned, de-duplicated, split rows, per dataset.
pub(crate) const PROCESSED: &str = "processed/";
/// Operators' decisions on datasets (exclude/include).
pub(crate) const DATASETS: &str = "datasets/";
/// Model artifacts, cards and reports, per version.
pub(crate) const MODELS: &str = "models/";
/// Validation decision records, per version.
pub(crate) const DECISIONS: &str = "decisions/";
/// File name of every stage's commit marker.
pub const MANIFEST: &str = "manifest.json";
/// File name of a version's artifact.
pub(crate) const ARTIFACT: &str = "model.plm";
/// File name of a version's model card.
pub(crate) const CARD: &str = "card.json";
/// File name of a version's report page.
pub(crate) const REPORT: &str = "report.html";
/// File name of the marker of a version's train task (see [`crate::dispatch`]).
pub(crate) const DISPATCH: &str = "dispatch.json";

/// An S3 notification filter: keys with this prefix and suffix trigger a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// Key prefix.
    pub prefix: &'static str,
    /// Key suffix (empty: any).
    pub suffix: &'static str,
}

impl Trigger {
    /// True when `key` (decoded) matches.
    pub fn matches(&self, key: &str) -> bool {
        key.len() > self.prefix.len() && key.starts_with(self.prefix) && key.ends_with(self.suffix)
    }
}

/// What one principal (a stage's role, or the model server's) may do: S3 key patterns it may read and
/// write (`*` matches any characters, `/` included, as in IAM resource ARNs), prefixes it may list, and
/// DynamoDB actions on the registry table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `s3:GetObject` key patterns.
    pub get: &'static [&'static str],
    /// `s3:ListBucket` prefixes.
    pub list: &'static [&'static str],
    /// `s3:PutObject` key patterns.
    pub put: &'static [&'static str],
    /// DynamoDB actions on the registry table.
    pub registry: &'static [&'static str],
}

impl Access {
    /// True when `key` may be read.
    pub fn may_get(&self, key: &str) -> bool {
        self.get.iter().any(|p| glob(p, key))
    }
    /// True when `key` may be written.
    pub fn may_put(&self, key: &str) -> bool {
        self.put.iter().any(|p| glob(p, key))
    }
    /// True when keys under `prefix` may be listed.
    pub fn may_list(&self, prefix: &str) -> bool {
        self.list.iter().any(|p| prefix.starts_with(p))
    }
    /// True when the registry action (e.g. `dynamodb:GetItem`) is allowed.
    pub fn may_registry(&self, action: &str) -> bool {
        self.registry.contains(&action)
    }
}

/// One row of the routing table: what triggers a stage and what its role may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The stage.
    pub stage: Stage,
    /// The S3 notification filters that start it.
    pub triggers: &'static [Trigger],
    /// Its permissions.
    pub access: Access,
}

/// `dynamodb:GetItem`.
pub(crate) const GET_ITEM: &str = "dynamodb:GetItem";
/// `dynamodb:PutItem`.
pub(crate) const PUT_ITEM: &str = "dynamodb:PutItem";
/// `dynamodb:Query`.
pub(crate) const QUERY: &str = "dynamodb:Query";
/// `dynamodb:UpdateItem`.
pub(crate) const UPDATE_ITEM: &str = "dynamodb:UpdateItem";
/// `dynamodb:ConditionCheckItem`.
pub(crate) const CONDITION_CHECK_ITEM: &str = "dynamodb:ConditionCheckItem";

/// The routing table and each stage's permissions. A stage reads its own outputs too: that is how it
/// finds out it already ran (idempotency).
pub const ROUTES: [Route; 4] = [
    Route {
        stage: Stage::Ingest,
        triggers: &[Trigger {
            prefix: INCOMING,
            suffix: "",
        }],
        access: Access {
            get: &["incoming/*", "contracts/*", "raw/*", "quarantine/*"],
            list: &[INCOMING, CONTRACTS, RAW, QUARANTINE],
            put: &["raw/*", "quarantine/*"],
            registry: &[],
        },
    },
    Route {
        stage: Stage::Process,
        triggers: &[Trigger {
            prefix: RAW,
            suffix: MANIFEST,
        }],
        // processed/, datasets/, models/ and the registry: the label-noise gate compares a new dataset
        // with the active datasets' labels and scores it with the production model.
        access: Access {
            get: &["raw/*", "processed/*", "datasets/*", "models/*"],
            list: &[RAW, PROCESSED, DATASETS, MODELS],
            put: &["processed/*"],
            registry: &[GET_ITEM],
        },
    },
    Route {
        stage: Stage::Train,
        triggers: &[
            Trigger {
                prefix: PROCESSED,
                suffix: MANIFEST,
            },
            Trigger {
                prefix: DATASETS,
                suffix: ".json",
            },
        ],
        access: Access {
            get: &["processed/*", "datasets/*", "models/*"],
            list: &[PROCESSED, DATASETS, MODELS],
            put: &["models/*"],
            registry: &[GET_ITEM, PUT_ITEM],
        },
    },
    Route {
        stage: Stage::Validate,
        triggers: &[Trigger {
            prefix: MODELS,
            suffix: MANIFEST,
        }],
        access: Access {
            get: &["models/*", "processed/*", "datasets/*", "decisions/*"],
            list: &[MODELS, PROCESSED, DATASETS, DECISIONS],
            put: &["decisions/*", "models/*/report.html"],
            registry: &[GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, CONDITION_CHECK_ITEM],
        },
    },
];

/// What the model server (EC2 instances and the predict function) may do: read the production pointer,
/// the version record and the artifact.
pub const SERVE: Access = Access {
    get: &["models/*"],
    list: &[MODELS],
    put: &[],
    registry: &[GET_ITEM],
};

impl Stage {
    /// This stage's row of [`ROUTES`].
    pub fn route(&self) -> &'static Route {
        // ROUTES is in Stage::ALL order (checked by a test).
        &ROUTES[*self as usize]
    }

    /// What this stage may touch.
    pub fn access(&self) -> &'static Access {
        &self.route().access
    }
}

/// The stage a (decoded) object key triggers, if any.
pub fn route(key: &str) -> Option<Stage> {
    ROUTES
        .iter()
        .find(|r| r.triggers.iter().any(|t| t.matches(key)))
        .map(|r| r.stage)
}

/// IAM-style wildcard match: `*` matches any run of characters (including `/`), everything else itself.
pub(crate) fn glob(pattern: &str, key: &str) -> bool {
    let (p, k) = (pattern.as_bytes(), key.as_bytes());
    let (mut pi, mut ki, mut star, mut mark) = (0, 0, None, 0);
    while ki < k.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ki;
            pi += 1;
        } else if pi < p.len() && p[pi] == k[ki] {
            pi += 1;
            ki += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ki = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The access table as `terraform/access.json` holds it (what Terraform reads).
pub fn access_json() -> serde_json::Value {
    let stages: serde_json::Map<String, serde_json::Value> = ROUTES
        .iter()
        .map(|r| {
            (
                r.stage.as_str().to_string(),
                serde_json::json!({
                    "triggers": r.triggers,
                    "get": r.access.get,
                    "list": r.access.list,
                    "put": r.access.put,
                    "registry": r.access.registry,
                }),
            )
        })
        .collect();
    serde_json::json!({
        "comment": "Generated from shared/pipeline/src/layout.rs (ACCESS); a test fails when this file and the code disagree. Who may touch which keys of the data bucket and which registry actions, per stage and for the model server. `get` and `put` are key patterns (IAM resource suffixes), `list` the prefixes a role may list, `triggers` the S3 notification filters.",
        "stages": stages,
        "serve": { "get": SERVE.get, "list": SERVE.list, "registry": SERVE.registry },
    })
}

/// Lower-case hex SHA-256 of `bytes`: the digest every id here derives from.
pub(crate) fn digest_hex(bytes: &[u8]) -> String {
    polarity_core::artifact::hex(&Sha256::digest(bytes))
}

/// The dataset id of an upload: `d-` + 16 hex digits of the SHA-256 of its bytes, followed (when the upload
/// has a data contract) by the contract's canonical JSON, so a corrected contract makes a new dataset.
pub fn dataset_id(bytes: &[u8], contract: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    if let Some(c) = contract {
        h.update([0u8]);
        h.update(c.as_bytes());
    }
    format!("d-{}", &polarity_core::artifact::hex(&h.finalize())[..16])
}

/// A version name: `v` + 12 hex digits of the SHA-256 of `inputs` (the canonical JSON of what was trained
/// on and how).
pub(crate) fn version_name(inputs: &serde_json::Value) -> String {
    format!("v{}", &digest_hex(inputs.to_string().as_bytes())[..12])
}

/// `incoming/<name>`.
pub fn incoming(name: &str) -> String {
    format!("{INCOMING}{name}")
}

/// `contracts/<name>.json`.
pub fn contract(name: &str) -> String {
    format!("{CONTRACTS}{name}.json")
}

/// `raw/<dataset>/<file>`.
pub fn raw(dataset: &str, file: &str) -> String {
    format!("{RAW}{dataset}/{file}")
}

/// `quarantine/<dataset>/<file>`.
pub fn quarantine(dataset: &str, file: &str) -> String {
    format!("{QUARANTINE}{dataset}/{file}")
}

/// `processed/<dataset>/<file>`.
pub fn processed(dataset: &str, file: &str) -> String {
    format!("{PROCESSED}{dataset}/{file}")
}

/// `datasets/<dataset>.json`.
pub(crate) fn dataset_control(dataset: &str) -> String {
    format!("{DATASETS}{dataset}.json")
}

/// `models/<version>/<file>`.
pub fn model(version: &str, file: &str) -> String {
    format!("{MODELS}{version}/{file}")
}

/// `decisions/<version>.json`.
pub fn decision(version: &str) -> String {
    format!("{DECISIONS}{version}.json")
}

/// The `<id>` of `<prefix><id>/manifest.json`, if `key` has that shape.
pub fn manifest_owner<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let id = key
        .strip_prefix(prefix)?
        .strip_suffix(MANIFEST)?
        .strip_suffix('/')?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The `<dataset>` of `datasets/<dataset>.json`.
pub fn control_owner(key: &str) -> Option<&str> {
    let id = key.strip_prefix(DATASETS)?.strip_suffix(".json")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The file name part of an upload key (`incoming/a/b.csv` → `b.csv`).
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The dataset name of an upload key: the folder under `incoming/` when there is one
/// (`incoming/tweets/jan.csv` → `tweets`, whose contract is `contracts/tweets.json`), else `None`.
pub(crate) fn upload_folder(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(INCOMING)?;
    let (folder, file) = rest.split_once('/')?;
    (!folder.is_empty() && !file.is_empty()).then_some(folder)
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

/// Encodes a key as S3 does in event notifications: unreserved characters and `/` as they are, space as
/// `+`, every other byte as `%XX`. [`decode_s3_key`] inverts it.
pub fn encode_s3_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keys_to_stages() {
        let d = dataset_id(b"text,label\nok,1\n", None);
        assert!(d.starts_with("d-") && d.len() == 18);
        assert_ne!(d, dataset_id(b"text,label\nok,1\n", Some("{}")));
        assert_eq!(route(&incoming("my reviews.csv")), Some(Stage::Ingest));
        assert_eq!(route(&incoming("tweets/jan.csv")), Some(Stage::Ingest));
        assert_eq!(route(INCOMING), None);
        assert_eq!(route(&raw(&d, MANIFEST)), Some(Stage::Process));
        assert_eq!(route(&raw(&d, "rows.jsonl")), None);
        assert_eq!(route(&quarantine(&d, MANIFEST)), None);
        assert_eq!(route(&processed(&d, MANIFEST)), Some(Stage::Train));
        assert_eq!(route(&processed(&d, "train.jsonl")), None);
        assert_eq!(route(&dataset_control(&d)), Some(Stage::Train));
        assert_eq!(route(&model("v1", MANIFEST)), Some(Stage::Validate));
        assert_eq!(route(&model("v1", ARTIFACT)), None);
        assert_eq!(route(&model("v1", REPORT)), None);
        assert_eq!(route(&decision("v1")), None);
        assert_eq!(route(&contract("tweets")), None);
        assert_eq!(manifest_owner(&raw(&d, MANIFEST), RAW), Some(d.as_str()));
        assert_eq!(manifest_owner("raw/a/b/manifest.json", RAW), None);
        assert_eq!(manifest_owner("raw/manifest.json", RAW), None);
        assert_eq!(control_owner(&dataset_control(&d)), Some(d.as_str()));
        assert_eq!(upload_folder("incoming/tweets/jan.csv"), Some("tweets"));
        assert_eq!(upload_folder("incoming/jan.csv"), None);
    }

    #[test]
    fn routes_are_in_stage_order() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(ROUTES[i].stage, *s);
            assert_eq!(s.route().stage, *s);
        }
    }

    #[test]
    fn no_stage_writes_what_triggers_itself_and_the_chain_is_a_line() {
        // sample keys a stage may write: each put pattern with its `*` filled in
        let written = |a: &Access| -> Vec<String> {
            let mut keys = Vec::new();
            for p in a.put {
                match p.strip_suffix('*') {
                    Some(dir) => {
                        for f in [MANIFEST, "rows.jsonl", ARTIFACT, REPORT] {
                            keys.push(format!("{dir}id/{f}"));
                        }
                        keys.push(format!("{dir}id.json"));
                    }
                    None => keys.push(p.replace('*', "id")),
                }
            }
            keys
        };
        for (i, r) in ROUTES.iter().enumerate() {
            let keys = written(&r.access);
            assert!(!keys.is_empty());
            for k in &keys {
                let next = route(k);
                assert_ne!(
                    next,
                    Some(r.stage),
                    "{:?} may write {k}, which triggers itself",
                    r.stage
                );
                if let Some(n) = next {
                    assert_eq!(
                        Some(&n),
                        Stage::ALL.get(i + 1),
                        "{:?} writes {k} → {n:?}",
                        r.stage
                    );
                }
                // and it can read back what it writes (its idempotency check)
                assert!(r.access.may_get(k), "{:?} cannot read back {k}", r.stage);
            }
            // every trigger of a stage is readable by it
            for t in r.triggers {
                let key = format!(
                    "{}x/{}",
                    t.prefix,
                    if t.suffix.is_empty() {
                        "f.csv"
                    } else {
                        t.suffix
                    }
                );
                assert!(
                    r.access.may_get(&key),
                    "{:?} cannot read its trigger {key}",
                    r.stage
                );
            }
        }
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("raw/*", "raw/d-1/manifest.json"));
        assert!(!glob("raw/*", "processed/raw/x"));
        assert!(glob("models/*/report.html", "models/v1/report.html"));
        assert!(!glob("models/*/report.html", "models/v1/model.plm"));
        assert!(glob("*", ""));
        assert!(!glob("a", "ab"));
    }

    #[test]
    fn encodes_like_s3_and_decodes_back() {
        for k in [
            "incoming/my reviews.csv",
            "incoming/café (1)+x.csv",
            "raw/d-1/manifest.json",
            "incoming/100%.tsv",
        ] {
            assert_eq!(decode_s3_key(&encode_s3_key(k)).as_deref(), Some(k));
        }
        assert_eq!(
            encode_s3_key("incoming/my reviews (1).csv"),
            "incoming/my+reviews+%281%29.csv"
        );
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
