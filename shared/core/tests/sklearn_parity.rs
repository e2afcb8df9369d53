//! TF-IDF parity with scikit-learn: vocabulary, idf and row vectors equal (within 1e-6) to a golden fixture
//! that `fixtures/gen_sklearn_golden.py` generated once with scikit-learn's `TfidfVectorizer`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use polarity_core::text::{CleanConfig, clean};
use polarity_core::tfidf::{Tfidf, TfidfConfig};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    docs: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    config: serde_json::Map<String, serde_json::Value>,
    max_features: Option<usize>,
    vocabulary: BTreeMap<String, usize>,
    idf: Vec<f64>,
    rows: BTreeMap<String, BTreeMap<String, f64>>,
}

fn config_of(case: &Case) -> TfidfConfig {
    let c = &case.config;
    let ngram = c.get("ngram_range").and_then(|v| v.as_array()).map(|a| {
        (
            a[0].as_u64().unwrap() as usize,
            a[1].as_u64().unwrap() as usize,
        )
    });
    let (ngram_min, ngram_max) = ngram.unwrap_or((1, 1));
    TfidfConfig {
        ngram_min,
        ngram_max,
        max_features: case.max_features,
        min_df: c.get("min_df").and_then(|v| v.as_u64()).unwrap_or(1) as usize,
        max_df: c.get("max_df").and_then(|v| v.as_f64()).unwrap_or(1.0),
        sublinear_tf: c
            .get("sublinear_tf")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        smooth_idf: c
            .get("smooth_idf")
            .and_then(|v| v.as_bool())
            .unwrap_or(true),
        min_token_chars: match c.get("token_pattern").and_then(|v| v.as_str()) {
            Some(r"(?u)\b\w+\b") => 1,
            None => 2,
            Some(other) => panic!("unsupported token pattern {other}"),
        },
    }
}

#[test]
fn tfidf_matches_scikit_learn() {
    let golden: Golden =
        serde_json::from_str(include_str!("fixtures/sklearn_golden.json")).unwrap();
    // scikit-learn's default preprocessing is lower-casing only.
    let docs: Vec<String> = golden
        .docs
        .iter()
        .map(|d| clean(d, &CleanConfig::lowercase_only()))
        .collect();
    assert_eq!(golden.cases.len(), 10);
    for case in &golden.cases {
        let cfg = config_of(case);
        let (v, m) =
            Tfidf::fit_transform(&cfg, &docs).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let m = m.to_csr();
        let ours: BTreeMap<String, usize> = v
            .terms()
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        assert_eq!(ours, case.vocabulary, "{}: vocabulary", case.name);
        assert_eq!(v.idf().len(), case.idf.len());
        for (i, (a, b)) in v.idf().iter().zip(&case.idf).enumerate() {
            assert!((a - b).abs() < 1e-6, "{}: idf[{i}] {a} vs {b}", case.name);
        }
        for (r, expected) in &case.rows {
            let (idx, val) = m.row(r.parse().unwrap());
            let got: BTreeMap<String, f64> = idx
                .iter()
                .zip(val)
                .map(|(c, x)| (c.to_string(), f64::from(*x)))
                .collect();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{}: row {r} columns",
                case.name
            );
            for (c, x) in expected {
                assert!(
                    (got[c] - x).abs() < 1e-6,
                    "{}: row {r} col {c}: {} vs {x}",
                    case.name,
                    got[c]
                );
            }
        }
    }
}
