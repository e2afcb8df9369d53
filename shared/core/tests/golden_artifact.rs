//! A committed v1 artifact (`fixtures/golden-v1.plm`, trained on `fixtures/sst2_dev_head.tsv`) must keep
//! loading, predicting the recorded probabilities, and re-encoding to the same bytes: a change of the
//! artifact format or of prediction breaks this test instead of every deployed model.
#![allow(missing_docs, clippy::unwrap_used)]

use polarity_core::artifact::{FORMAT_VERSION, decode, encode, sha256_hex};

const GOLDEN: &[u8] = include_bytes!("fixtures/golden-v1.plm");

#[test]
fn the_committed_v1_artifact_loads_predicts_and_round_trips() {
    assert_eq!(
        FORMAT_VERSION, 1,
        "a new format version needs its own golden file; keep this one loading"
    );
    assert_eq!(
        sha256_hex(GOLDEN),
        "6bca2f1c1c9e6e4fc55e8b841b71d0d717660b258898ebbdf9086afad2d861f6"
    );
    let m = decode(GOLDEN).unwrap();
    assert_eq!(m.labels(), ["negative", "positive"]);
    for (text, negative) in [
        ("a gorgeous , witty , seductive movie .", 0.6878057072937696),
        ("the plot is thin and the acting dull", 0.7145920915736638),
    ] {
        let p = m.predict(text);
        assert!(
            (p.probabilities[0].1 - negative).abs() < 1e-12,
            "{text}: {p:?}"
        );
    }
    assert_eq!(encode(&m), GOLDEN, "decode → encode gives the same bytes");
}
