//! Terraform's S3 notification must be the routing table of `polarity_core::routing`.
//!
//! Reads `terraform/modules/pipeline/main.tf` (no HCL crate: a small scanner that skips strings and comments
//! and matches braces), extracts each `lambda_function` block of the one `aws_s3_bucket_notification` and the
//! per-stage `writes` prefixes of the IAM scope (`locals.stages`), and checks them against `ROUTES`; also the
//! route table of `localstack/init.sh`, which builds the local notifications.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polarity_core::routing::{ROUTES, Stage};

fn terraform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../terraform")
}

fn pipeline_tf() -> String {
    let path = terraform_dir().join("modules/pipeline/main.tf");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Byte ranges of `text` that are code (outside strings and `#`/`//` comments), as a mask.
fn code_mask(text: &str) -> Vec<bool> {
    let b = text.as_bytes();
    let mut mask = vec![true; b.len()];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                for m in &mut mask[start..=i.min(b.len() - 1)] {
                    *m = false;
                }
            }
            b'#' => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                for m in &mut mask[start..i] {
                    *m = false;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                for m in &mut mask[start..i] {
                    *m = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    mask
}

/// The body (between the braces) of the block whose header starts at `from`: the first `{` after `from` and
/// its matching `}`, counting only braces in code.
fn block_body<'a>(text: &'a str, mask: &[bool], from: usize) -> (&'a str, usize) {
    let b = text.as_bytes();
    let open = (from..b.len())
        .find(|&i| mask[i] && b[i] == b'{')
        .expect("block has an opening brace");
    let mut depth = 0usize;
    for i in open..b.len() {
        if !mask[i] {
            continue;
        }
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return (&text[open + 1..i], i + 1);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after byte {from}");
}

/// Offsets (in code) where `needle` starts.
fn find_in_code(text: &str, mask: &[bool], needle: &str) -> Vec<usize> {
    text.match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| mask[i])
        .collect()
}

/// Top-level blocks named `name` inside `body` (e.g. `lambda_function {`), as bodies.
fn sub_blocks<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    let mask = code_mask(body);
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rel) = body[pos..].find(name) {
        let at = pos + rel;
        let after = body[at + name.len()..].trim_start();
        let boundary = at == 0
            || !body.as_bytes()[at - 1].is_ascii_alphanumeric() && body.as_bytes()[at - 1] != b'_';
        if mask[at] && boundary && after.starts_with('{') {
            let (inner, end) = block_body(body, &mask, at);
            out.push(inner);
            pos = end;
        } else {
            pos = at + name.len();
        }
    }
    out
}

/// `key = "value"` at the top level of a block body.
fn string_attr(body: &str, key: &str) -> Option<String> {
    body.lines().map(str::trim).find_map(|line| {
        let rest = line
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_string())
    })
}

/// `key = <expression>` at the top level of a block body, unparsed.
fn raw_attr(body: &str, key: &str) -> Option<String> {
    body.lines().map(str::trim).find_map(|line| {
        let rest = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(rest.trim().to_string())
    })
}

/// `key = ["a", "b"]` on one line.
fn list_attr(body: &str, key: &str) -> Option<Vec<String>> {
    let raw = raw_attr(body, key)?;
    let inner = raw.strip_prefix('[')?.split(']').next()?;
    Some(
        inner
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// Every `.tf` file under `dir`.
fn tf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
    {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != ".terraform") {
                tf_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "tf") {
            out.push(path);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Trigger {
    prefix: String,
    suffix: String,
    stage: String,
}

fn notification_triggers(tf: &str) -> Vec<Trigger> {
    let mask = code_mask(tf);
    let starts = find_in_code(tf, &mask, "resource \"aws_s3_bucket_notification\"");
    assert_eq!(
        starts.len(),
        1,
        "modules/pipeline/main.tf must hold exactly one aws_s3_bucket_notification"
    );
    let (body, _) = block_body(tf, &mask, starts[0]);
    assert!(
        !body.contains("dynamic"),
        "keep one literal lambda_function block per stage (no dynamic blocks)"
    );
    sub_blocks(body, "lambda_function")
        .into_iter()
        .map(|b| {
            let arn = raw_attr(b, "lambda_function_arn").expect("lambda_function_arn");
            let stage = arn
                .split("[\"")
                .nth(1)
                .and_then(|s| s.split("\"]").next())
                .unwrap_or_else(|| panic!("function reference {arn} should index aws_lambda_function.stage[\"<stage>\"]"))
                .to_string();
            assert!(arn.starts_with("aws_lambda_function.stage["), "{arn} should reference aws_lambda_function.stage");
            let events = list_attr(b, "events").expect("events");
            assert_eq!(events, vec!["s3:ObjectCreated:*".to_string()], "stage {stage}");
            if let Some(id) = string_attr(b, "id") {
                assert_eq!(id, stage, "notification id should name its stage");
            }
            Trigger {
                prefix: string_attr(b, "filter_prefix").unwrap_or_default(),
                suffix: string_attr(b, "filter_suffix").unwrap_or_default(),
                stage,
            }
        })
        .collect()
}

/// `locals { stages = { <stage> = { reads = [..] writes = [..] … } … } }` → stage → (reads, writes).
fn iam_scopes(tf: &str) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mask = code_mask(tf);
    let at = find_in_code(tf, &mask, "stages = {");
    assert_eq!(at.len(), 1, "one `stages = {{` map in locals");
    let (body, _) = block_body(tf, &mask, at[0]);
    Stage::ALL
        .iter()
        .map(|s| {
            let blocks = sub_blocks(body, &format!("{} =", s.name()));
            assert_eq!(blocks.len(), 1, "locals.stages.{} once", s.name());
            let reads = list_attr(blocks[0], "reads").expect("reads");
            let writes = list_attr(blocks[0], "writes").expect("writes");
            (s.name().to_string(), (reads, writes))
        })
        .collect()
}

#[test]
fn exactly_one_bucket_notification_in_terraform() {
    let mut files = Vec::new();
    tf_files(&terraform_dir(), &mut files);
    let count: usize = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read .tf");
            let mask = code_mask(&text);
            find_in_code(&text, &mask, "resource \"aws_s3_bucket_notification\"").len()
        })
        .sum();
    assert_eq!(
        count, 1,
        "S3 allows one notification configuration per bucket; terraform must declare exactly one"
    );
}

#[test]
fn notification_filters_equal_the_routing_table() {
    let got = notification_triggers(&pipeline_tf());
    let want: Vec<Trigger> = ROUTES
        .iter()
        .map(|r| Trigger {
            prefix: r.prefix.to_string(),
            suffix: r.suffix.to_string(),
            stage: r.stage.name().to_string(),
        })
        .collect();
    assert_eq!(
        got, want,
        "terraform/modules/pipeline/main.tf notification vs polarity_core::routing::ROUTES"
    );
}

#[test]
fn iam_write_scopes_equal_the_routing_table_and_never_retrigger() {
    let tf = pipeline_tf();
    let scopes = iam_scopes(&tf);
    let triggers = notification_triggers(&tf);
    for r in ROUTES {
        let (reads, writes) = &scopes[r.stage.name()];
        let mut tf_writes = writes.clone();
        tf_writes.sort();
        let mut want: Vec<String> = r.writes.iter().map(|w| w.to_string()).collect();
        want.sort();
        assert_eq!(tf_writes, want, "IAM write prefixes of {}", r.stage.name());
        assert!(
            reads.iter().any(|p| p == r.prefix),
            "{} must be allowed to read its trigger prefix {}",
            r.stage.name(),
            r.prefix
        );
        // No stage triggers on a prefix it may write (per terraform's own notification and IAM scope).
        for t in triggers.iter().filter(|t| t.stage == r.stage.name()) {
            for w in writes {
                assert!(
                    !w.starts_with(&t.prefix) && !t.prefix.starts_with(w.as_str()),
                    "stage {} triggers on {} but writes {w}",
                    t.stage,
                    t.prefix
                );
            }
        }
    }
}

#[test]
fn scanner_reads_blocks_strings_and_comments() {
    let tf = r#"
resource "aws_s3_bucket_notification" "x" { # a { brace in a comment
  lambda_function {
    lambda_function_arn = aws_lambda_function.stage["ingest"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "in}coming/"
  }
}
"#;
    let t = notification_triggers(tf);
    assert_eq!(
        t,
        vec![Trigger {
            prefix: "in}coming/".into(),
            suffix: String::new(),
            stage: "ingest".into()
        }]
    );
}

#[test]
fn localstack_init_routes_equal_the_routing_table() {
    // localstack/init.sh builds the local notifications (Lambda or SQS) from its `ROUTES='…'` block.
    let path = terraform_dir().join("../localstack/init.sh");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let block = text
        .split("\nROUTES='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("ROUTES='…' block in init.sh");
    let got: Vec<Trigger> = block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            assert_eq!(f.len(), 3, "prefix|suffix|stage, got {l}");
            Trigger {
                prefix: f[0].into(),
                suffix: f[1].into(),
                stage: f[2].into(),
            }
        })
        .collect();
    let want: Vec<Trigger> = ROUTES
        .iter()
        .map(|r| Trigger {
            prefix: r.prefix.to_string(),
            suffix: r.suffix.to_string(),
            stage: r.stage.name().to_string(),
        })
        .collect();
    assert_eq!(
        got, want,
        "localstack/init.sh ROUTES vs polarity_core::routing::ROUTES"
    );
}
