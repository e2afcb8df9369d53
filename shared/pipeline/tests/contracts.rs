//! The files outside the code that must agree with it: `terraform/access.json` (Terraform builds every
//! IAM policy and the bucket notification from it) is generated from [`layout::ROUTES`] and [`layout::SERVE`];
//! `localstack/init.sh` builds the local notifications from that file too; the alert rules and
//! dashboards match only outcome values the pipeline emits.
//!
//! `UPDATE_ACCESS_JSON=1 cargo test -p polarity-pipeline --test contracts` rewrites `terraform/access.json`
//! after a change to the layout, and `terraform/settings.json` (the names Terraform's `pipeline_settings`
//! accepts) after a change to the settings.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use polarity_pipeline::layout::{self, ROUTES};
use polarity_pipeline::records::Outcome;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compares the JSON file `rel` (under the repository) with `want`, which `source` generates; with
/// `UPDATE_ACCESS_JSON` set, writes `want` there first.
fn generated_json(rel: &str, want: &serde_json::Value, source: &str) {
    let path = repo().join(rel);
    if std::env::var_os("UPDATE_ACCESS_JSON").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(want).unwrap() + "\n").unwrap();
    }
    let got: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(
        &got, want,
        "{rel} differs from {source}; run UPDATE_ACCESS_JSON=1 cargo test -p polarity-pipeline --test contracts"
    );
}

#[test]
fn terraform_access_json_is_generated_from_the_layout() {
    generated_json(
        "terraform/access.json",
        &layout::access_json(),
        "shared/pipeline/src/layout.rs",
    );
}

#[test]
fn terraform_settings_json_lists_every_pipeline_setting() {
    // Terraform's pipeline_settings validation reads terraform/settings.json (root and pipeline module)
    generated_json(
        "terraform/settings.json",
        &serde_json::json!({
            "about": "Generated from shared/pipeline/src/config.rs (setting_variables) by `UPDATE_ACCESS_JSON=1 cargo test -p polarity-pipeline --test contracts`: the variables pipeline_settings may set.",
            "settings": polarity_pipeline::config::setting_variables(),
        }),
        "the pipeline's settings (shared/pipeline/src/config.rs)",
    );
    let names = polarity_pipeline::config::setting_variables();
    for must in [
        "POLARITY_C",
        "POLARITY_TUNE",
        "POLARITY_GIT_SHA",
        "POLARITY_GATE_ALPHA",
        "MLFLOW_TRACKING_URI",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    for never in [
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "POLARITY_TASK_CLUSTER",
        "POLARITY_TRAIN_MAX_ROWS",
        "POLARITY_VALIDATE_MAX_ROWS",
    ] {
        assert!(
            !names.iter().any(|n| n == never),
            "{never} must not be a user setting"
        );
    }
    // the settings page names every one
    let page = std::fs::read_to_string(repo().join("docs/settings.md")).unwrap();
    let unnamed: Vec<&String> = names
        .iter()
        .filter(|n| !page.contains(&format!("`{n}`")))
        .collect();
    assert!(
        unnamed.is_empty(),
        "docs/settings.md does not name {unnamed:?}"
    );
    // both validations read the file instead of keeping a list
    for tf in [
        "terraform/variables.tf",
        "terraform/modules/pipeline/variables.tf",
    ] {
        let text = std::fs::read_to_string(repo().join(tf)).unwrap();
        assert!(
            text.contains("settings.json"),
            "{tf} must read settings.json"
        );
        assert!(
            !text.contains("\"POLARITY_PROMOTE_MARGIN\""),
            "{tf} must not keep a copied list"
        );
    }
}

#[test]
fn localstack_init_builds_its_routes_from_the_access_table() {
    // localstack/init.sh builds the local notifications from access.json's triggers (its own test,
    // localstack/tests/test_init.sh, checks the notifications it creates); it must not keep a copy.
    let path = repo().join("localstack/init.sh");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        text.contains("terraform/access.json"),
        "init.sh must read terraform/access.json"
    );
    assert!(
        !text.contains("\nROUTES='"),
        "init.sh must not hold a copied route table"
    );
    // every trigger of the layout is in the file it reads
    let access: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("terraform/access.json")).unwrap(),
    )
    .unwrap();
    for r in ROUTES {
        let triggers = &access["stages"][r.stage.as_str()]["triggers"];
        assert_eq!(
            triggers.as_array().map(Vec::len),
            Some(r.triggers.len()),
            "{:?}",
            r.stage
        );
    }
}

#[test]
fn monitoring_only_matches_outcomes_that_exist() {
    // The alert rules once matched outcome="failure", a value nothing emits, so they could never fire.
    let root = repo().join("monitoring");
    let mut files = vec![root.join("prometheus/alerts.yml")];
    for e in std::fs::read_dir(root.join("grafana/dashboards")).unwrap() {
        files.push(e.unwrap().path());
    }
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, _) in text.match_indices("polarity_pipeline_runs_total{") {
            let sel = &text[i..i + text[i..].find('}').unwrap()];
            for part in sel.split(',') {
                if let Some(v) = part.split("outcome=").nth(1) {
                    let v = v.trim_matches(|c| c == '"' || c == '\\' || c == '~');
                    for alt in v.split('|') {
                        assert!(
                            Outcome::NAMES.contains(&alt),
                            "{}: outcome {alt:?} is never emitted",
                            f.display()
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(
        checked >= 2,
        "expected the alert rules to match on outcome; checked {checked}"
    );
}
