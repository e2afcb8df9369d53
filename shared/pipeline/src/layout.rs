//! Object keys under each stage's prefix (the prefixes themselves and the routing are in
//! [`polarity_core::routing`]). Written once; every stage and test builds keys here.
//!
//! ```text
//! incoming/<file name>                       uploads (any name; CSV, TSV or JSONL, gzip optional)
//! raw/<dataset>/rows.jsonl                   accepted rows {"text","label"} (label = class name)
//! raw/<dataset>/manifest.json                ingest manifest (commit marker → process)
//! quarantine/<dataset>/rows.jsonl            rejected rows {"line","reason","raw"}
//! quarantine/<dataset>/upload                the whole upload, when the file itself is unreadable
//! quarantine/<dataset>/manifest.json         same ingest manifest (no stage triggers on quarantine/)
//! processed/<dataset>/{train,test}.jsonl     cleaned, de-duplicated rows {"text","clean","label"}
//! processed/<dataset>/manifest.json          process manifest (commit marker → train)
//! models/<version>/model.plm                 artifact
//! models/<version>/card.json                 model card
//! models/<version>/manifest.json             train manifest (commit marker → validate)
//! decisions/<version>.json                   validation decision record
//! ```
//! `<dataset>` is `d-` + the first 16 hex digits of the upload's SHA-256; `<version>` is `v` + the first 12
//! hex digits of the SHA-256 of the training inputs (datasets and settings). Both derive from content, so
//! re-delivered events and re-uploads write nothing new.

use polarity_core::routing::{DECISIONS, INCOMING, MANIFEST, MODELS, PROCESSED, QUARANTINE, RAW};

/// The dataset id of an upload's bytes.
pub fn dataset_id(bytes: &[u8]) -> String {
    format!("d-{}", &polarity_core::artifact::sha256_hex(bytes)[..16])
}

/// `incoming/<name>`.
pub fn incoming(name: &str) -> String {
    format!("{INCOMING}{name}")
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

/// The file name part of an upload key (`incoming/a/b.csv` → `b.csv`).
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polarity_core::routing::{Stage, route};

    #[test]
    fn manifests_route_to_the_next_stage_and_data_files_do_not() {
        let d = dataset_id(b"text,label\nok,1\n");
        assert!(d.starts_with("d-") && d.len() == 18);
        assert_eq!(route(&raw(&d, MANIFEST)), Some(Stage::Process));
        assert_eq!(route(&raw(&d, "rows.jsonl")), None);
        assert_eq!(route(&quarantine(&d, MANIFEST)), None);
        assert_eq!(route(&processed(&d, MANIFEST)), Some(Stage::Train));
        assert_eq!(route(&processed(&d, "train.jsonl")), None);
        assert_eq!(route(&model("v1", MANIFEST)), Some(Stage::Validate));
        assert_eq!(route(&model("v1", "model.plm")), None);
        assert_eq!(route(&decision("v1")), None);
        assert_eq!(route(&incoming("my reviews.csv")), Some(Stage::Ingest));
        assert_eq!(manifest_owner(&raw(&d, MANIFEST), RAW), Some(d.as_str()));
        assert_eq!(manifest_owner("raw/a/b/manifest.json", RAW), None);
        assert_eq!(manifest_owner("raw/manifest.json", RAW), None);
    }
}
