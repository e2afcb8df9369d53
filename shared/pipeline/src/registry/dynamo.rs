//! [`DynamoRegistry`]: the registry in one DynamoDB table (hash key `pk` S, range key `sk` S, on-demand).
//!
//! | pk         | sk                  | attributes                                                           |
//! |------------|---------------------|----------------------------------------------------------------------|
//! | `VERSION`  | `<version>`         | version, artifact_key, sha256, card_key, labels (L), datasets (L), data_digest, parent, created_at (N), git_sha, n_test (N), accuracy (N), macro_f1 (N) |
//! | `VERDICT`  | `<version>`         | verdict, reason, at (N)                                              |
//! | `POINTER`  | `PRODUCTION`        | version, seq (N), frozen (BOOL), updated_at (N)                      |
//! | `HISTORY`  | `<seq, 10 digits>`  | seq (N), from, to, kind, reason, at (N)                              |
//!
//! Version, verdict and history items are written once (`attribute_not_exists(pk)`). The pointer moves only
//! in a `TransactWriteItems` of three parts: update the pointer on condition that `version` and `seq` are
//! what the caller read (and, for automatic promotions, that `frozen` is not set); put the history item;
//! check that the target version exists. Reads are strongly consistent.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ScalarAttributeType, TransactWriteItem, Update,
};

use super::{
    HistoryEntry, PointerState, Registry, RegistryError, Scores, Transition, TransitionKind,
    VerdictRecord, VersionRecord,
};
use crate::aws::classify;
use crate::records::clock::now_secs;

type Item = HashMap<String, AttributeValue>;

/// A registry in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoRegistry {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
}

/// Strict reading of stored items: a field the registry always writes must be there with its type; an
/// optional one may be absent but not mistyped. Every failure names the item and the field.
struct Fields<'a> {
    item: &'a Item,
    what: String,
}

impl<'a> Fields<'a> {
    fn of(item: &'a Item, what: impl Into<String>) -> Self {
        Self {
            item,
            what: what.into(),
        }
    }

    fn corrupt(&self, k: &str, problem: &str) -> RegistryError {
        RegistryError::Corrupt {
            item: self.what.clone(),
            problem: format!("field {k:?} {problem}"),
        }
    }

    fn opt_s(&self, k: &str) -> Result<Option<String>, RegistryError> {
        match self.item.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(v) => v
                .as_s()
                .map(|s| Some(s.clone()))
                .map_err(|_| self.corrupt(k, "is not a string")),
        }
    }

    fn s(&self, k: &str) -> Result<String, RegistryError> {
        self.opt_s(k)?.ok_or_else(|| self.corrupt(k, "is missing"))
    }

    fn n<T: std::str::FromStr>(&self, k: &str) -> Result<T, RegistryError> {
        let raw = self
            .item
            .get(k)
            .ok_or_else(|| self.corrupt(k, "is missing"))?
            .as_n()
            .map_err(|_| self.corrupt(k, "is not a number"))?;
        raw.parse()
            .map_err(|_| self.corrupt(k, &format!("is not a valid number: {raw:?}")))
    }

    fn score(&self, k: &str) -> Result<f64, RegistryError> {
        let v: f64 = self.n(k)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.corrupt(k, "is not finite"))
        }
    }

    fn list(&self, k: &str) -> Result<Vec<String>, RegistryError> {
        self.item
            .get(k)
            .ok_or_else(|| self.corrupt(k, "is missing"))?
            .as_l()
            .map_err(|_| self.corrupt(k, "is not a list"))?
            .iter()
            .map(|x| {
                x.as_s()
                    .cloned()
                    .map_err(|_| self.corrupt(k, "holds a non-string"))
            })
            .collect()
    }
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

impl From<&VersionRecord> for Item {
    fn from(r: &VersionRecord) -> Self {
        let mut item = key("VERSION", &r.version);
        item.insert("version".into(), s(&r.version));
        item.insert("artifact_key".into(), s(&r.artifact_key));
        item.insert("sha256".into(), s(&r.sha256));
        item.insert("card_key".into(), s(&r.card_key));
        item.insert("labels".into(), list(&r.labels));
        item.insert("datasets".into(), list(&r.datasets));
        item.insert("data_digest".into(), s(&r.data_digest));
        item.insert("created_at".into(), n(r.created_at));
        item.insert("n_test".into(), n(r.scores.n));
        item.insert("accuracy".into(), n(r.scores.accuracy));
        item.insert("macro_f1".into(), n(r.scores.macro_f1));
        if let Some(p) = &r.parent {
            item.insert("parent".into(), s(p));
        }
        if let Some(g) = &r.git_sha {
            item.insert("git_sha".into(), s(g));
        }
        item
    }
}

impl TryFrom<&Item> for VersionRecord {
    type Error = RegistryError;

    fn try_from(item: &Item) -> Result<Self, RegistryError> {
        let f = Fields::of(item, "VERSION");
        let version = f.s("version")?;
        let f = Fields::of(item, format!("VERSION {version:?}"));
        Ok(Self {
            artifact_key: f.s("artifact_key")?,
            sha256: f.s("sha256")?,
            card_key: f.s("card_key")?,
            labels: f.list("labels")?,
            scores: Scores {
                n: f.n("n_test")?,
                accuracy: f.score("accuracy")?,
                macro_f1: f.score("macro_f1")?,
            },
            datasets: f.list("datasets")?,
            data_digest: f.s("data_digest")?,
            parent: f.opt_s("parent")?,
            created_at: f.n("created_at")?,
            git_sha: f.opt_s("git_sha")?,
            version,
        })
    }
}

impl TryFrom<&Item> for HistoryEntry {
    type Error = RegistryError;
    fn try_from(item: &Item) -> Result<Self, RegistryError> {
        let f = Fields::of(item, "HISTORY");
        let seq: u64 = f.n("seq")?;
        let f = Fields::of(item, format!("HISTORY {seq}"));
        let kind = f
            .s("kind")?
            .parse::<TransitionKind>()
            .map_err(|e| f.corrupt("kind", &e.to_string()))?;
        Ok(Self {
            seq,
            from: f.opt_s("from")?,
            to: f.s("to")?,
            kind,
            reason: f.s("reason")?,
            at: f.n("at")?,
        })
    }
}

fn history_item(e: &HistoryEntry) -> Item {
    let mut item = key("HISTORY", &format!("{:010}", e.seq));
    item.insert("seq".into(), n(e.seq));
    if let Some(f) = &e.from {
        item.insert("from".into(), s(f));
    }
    item.insert("to".into(), s(&e.to));
    item.insert("kind".into(), s(e.kind.as_str()));
    item.insert("reason".into(), s(&e.reason));
    item.insert("at".into(), n(e.at));
    item
}

fn err<E>(
    op: &str,
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> RegistryError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let (transient, msg) = classify("dynamodb", e);
    if transient {
        RegistryError::Transient(format!("{op}: {msg}"))
    } else {
        RegistryError::Other(format!("{op}: {msg}"))
    }
}

fn build_err(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Other(format!("building a DynamoDB request: {e}"))
}

impl DynamoRegistry {
    /// A registry over an existing client.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Builds the client from an SDK configuration.
    pub fn from_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, RegistryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", &e))?;
        Ok(out.item)
    }

    async fn query(&self, pk: &str) -> Result<Vec<Item>, RegistryError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| err("Query", &e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Puts an item only when its key is free. Returns `false` when it was taken.
    async fn put_new(&self, item: Item) -> Result<bool, RegistryError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(err("PutItem", &e)),
        }
    }

    fn transaction(
        &self,
        t: &Transition,
        entry: &HistoryEntry,
    ) -> Result<Vec<TransactWriteItem>, RegistryError> {
        let mut cond = vec![
            if t.expected.seq == 0 {
                "attribute_not_exists(#seq)".to_string()
            } else {
                "#seq = :expected_seq".to_string()
            },
            if t.expected.version.is_none() {
                "attribute_not_exists(#v)".to_string()
            } else {
                "#v = :expected".to_string()
            },
        ];
        if t.kind.respects_freeze() {
            cond.push("(attribute_not_exists(frozen) OR frozen = :false)".to_string());
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key("POINTER", "PRODUCTION")))
            .update_expression("SET #v = :to, #seq = :seq, updated_at = :now")
            .condition_expression(cond.join(" AND "))
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_values(":to", s(&t.to))
            .expression_attribute_values(":seq", n(entry.seq))
            .expression_attribute_values(":now", n(entry.at));
        if t.expected.seq != 0 {
            update = update.expression_attribute_values(":expected_seq", n(t.expected.seq));
        }
        if let Some(v) = &t.expected.version {
            update = update.expression_attribute_values(":expected", s(v));
        }
        if t.kind.respects_freeze() {
            update = update.expression_attribute_values(":false", AttributeValue::Bool(false));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history_item(entry)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key("VERSION", &t.to)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(build_err)?)
                .build(),
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().condition_check(check).build(),
        ])
    }
}

#[async_trait]
impl Registry for DynamoRegistry {
    fn url(&self) -> String {
        format!("dynamodb://{}", self.table)
    }

    async fn ensure(&self) -> Result<bool, RegistryError> {
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(false);
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key_el = |name: &str, kt| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .map_err(build_err)
        };
        let r = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key_el("pk", KeyType::Hash)?)
            .key_schema(key_el("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match r {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(err("CreateTable", &e)),
        }
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| err("DescribeTable", &e))?;
            if d.table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE")
            {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(RegistryError::Transient(format!(
            "table {} did not become ACTIVE",
            self.table
        )))
    }

    async fn register(&self, rec: &VersionRecord) -> Result<bool, RegistryError> {
        if self.put_new(Item::from(rec)).await? {
            return Ok(true);
        }
        match self.version(&rec.version).await? {
            Some(existing) if existing.sha256 == rec.sha256 => Ok(false),
            _ => Err(RegistryError::VersionMismatch(rec.version.clone())),
        }
    }

    async fn version(&self, version: &str) -> Result<Option<VersionRecord>, RegistryError> {
        self.get("VERSION", version)
            .await?
            .as_ref()
            .map(VersionRecord::try_from)
            .transpose()
    }

    async fn versions(&self) -> Result<Vec<VersionRecord>, RegistryError> {
        let mut v: Vec<VersionRecord> = self
            .query("VERSION")
            .await?
            .iter()
            .map(VersionRecord::try_from)
            .collect::<Result<_, _>>()?;
        v.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.version.cmp(&b.version))
        });
        Ok(v)
    }

    async fn pointer(&self) -> Result<PointerState, RegistryError> {
        Ok(match self.get("POINTER", "PRODUCTION").await? {
            None => PointerState::default(),
            Some(item) => {
                let f = Fields::of(&item, "POINTER PRODUCTION");
                PointerState {
                    version: f.opt_s("version")?,
                    seq: f.n("seq")?,
                    frozen: match item.get("frozen") {
                        None => false,
                        Some(v) => *v
                            .as_bool()
                            .map_err(|_| f.corrupt("frozen", "is not a bool"))?,
                    },
                }
            }
        })
    }

    async fn transition(&self, t: &Transition) -> Result<HistoryEntry, RegistryError> {
        let entry = t.entry(now_secs());
        let items = self.transaction(t, &entry)?;
        let r = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let e = match r {
            Ok(_) => return Ok(entry),
            Err(e) => e,
        };
        let conflict = || RegistryError::Conflict {
            expected: t.expected.version.clone(),
            seq: t.expected.seq,
        };
        let Some(se) = e.as_service_error() else {
            return Err(err("TransactWriteItems", &e));
        };
        if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) = se {
            let codes: Vec<&str> = c.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
            if codes.get(2) == Some(&"ConditionalCheckFailed") {
                return Err(RegistryError::UnknownVersion(t.to.clone()));
            }
            if codes.contains(&"TransactionConflict") {
                return Err(conflict());
            }
            if codes.first() == Some(&"ConditionalCheckFailed") || codes.get(1) == Some(&"ConditionalCheckFailed") {
                let now = self.pointer().await?;
                let same = now.version == t.expected.version && now.seq == t.expected.seq;
                return Err(if same && now.frozen && t.kind.respects_freeze() { RegistryError::Frozen } else { conflict() });
            }
        }
        Err(err("TransactWriteItems", &e))
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError> {
        let mut h: Vec<HistoryEntry> = self
            .query("HISTORY")
            .await?
            .iter()
            .map(HistoryEntry::try_from)
            .collect::<Result<_, _>>()?;
        h.sort_by_key(|e| e.seq);
        Ok(h)
    }

    async fn set_frozen(&self, frozen: bool) -> Result<(), RegistryError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key("POINTER", "PRODUCTION")))
            .update_expression("SET frozen = :f, updated_at = :now")
            .expression_attribute_values(":f", AttributeValue::Bool(frozen))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err("UpdateItem", &e))
    }

    async fn record_verdict(
        &self,
        version: &str,
        v: &VerdictRecord,
    ) -> Result<bool, RegistryError> {
        let mut item = key("VERDICT", version);
        item.insert("verdict".into(), s(v.verdict.as_str()));
        item.insert("reason".into(), s(&v.reason));
        item.insert("at".into(), n(v.at));
        self.put_new(item).await
    }

    async fn verdicts(&self) -> Result<BTreeMap<String, VerdictRecord>, RegistryError> {
        self.query("VERDICT")
            .await?
            .iter()
            .map(|i| {
                let version = Fields::of(i, "VERDICT").s("sk")?;
                let f = Fields::of(i, format!("VERDICT {version:?}"));
                let verdict =
                    f.s("verdict")?
                        .parse()
                        .map_err(|e: polarity_core::names::UnknownName| {
                            f.corrupt("verdict", &e.to_string())
                        })?;
                let v = VerdictRecord {
                    verdict,
                    reason: f.s("reason")?,
                    at: f.n("at")?,
                };
                Ok((version, v))
            })
            .collect()
    }
}

/// The DynamoDB actions each registry operation of [`DynamoRegistry`] makes: what an IAM policy must allow
/// for it (a `TransactWriteItems` is authorised per contained action).
pub fn dynamo_actions(op: super::RegistryOp) -> &'static [&'static str] {
    use super::RegistryOp as Op;
    use crate::layout::{CONDITION_CHECK_ITEM, GET_ITEM, PUT_ITEM, QUERY, UPDATE_ITEM};
    match op {
        Op::Ensure => &["dynamodb:DescribeTable", "dynamodb:CreateTable"],
        Op::Register => &[PUT_ITEM, GET_ITEM],
        Op::Version | Op::Pointer => &[GET_ITEM],
        Op::Versions | Op::History | Op::Verdicts => &[QUERY],
        Op::Transition => &[UPDATE_ITEM, PUT_ITEM, CONDITION_CHECK_ITEM],
        Op::SetFrozen => &[UPDATE_ITEM],
        Op::RecordVerdict => &[PUT_ITEM],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> VersionRecord {
        VersionRecord {
            version: "v1".into(),
            artifact_key: "models/v1/model.plm".into(),
            sha256: "ab".into(),
            card_key: "models/v1/card.json".into(),
            labels: vec!["negative".into(), "positive".into()],
            scores: Scores {
                n: 10,
                accuracy: 0.9,
                macro_f1: 0.85,
            },
            datasets: vec!["d-1".into()],
            data_digest: "cd".into(),
            parent: None,
            created_at: 1_700_000_000,
            git_sha: None,
        }
    }

    #[test]
    fn stored_items_decode_strictly_and_name_the_field() {
        let item = Item::from(&record());
        assert_eq!(VersionRecord::try_from(&item).unwrap(), record());
        for (field, value, problem) in [
            ("accuracy", None, "\"accuracy\" is missing"),
            ("accuracy", Some(s("0.9")), "\"accuracy\" is not a number"),
            ("accuracy", Some(n("NaN")), "\"accuracy\" is not finite"),
            (
                "created_at",
                Some(n("-1")),
                "\"created_at\" is not a valid number",
            ),
            ("labels", Some(s("negative")), "\"labels\" is not a list"),
            ("card_key", None, "\"card_key\" is missing"),
        ] {
            let mut bad = item.clone();
            match value {
                Some(v) => bad.insert(field.into(), v),
                None => bad.remove(field),
            };
            let e = VersionRecord::try_from(&bad).unwrap_err().to_string();
            assert!(
                e.contains("VERSION \"v1\"") && e.contains(problem),
                "{field}: {e}"
            );
        }
        let entry = HistoryEntry {
            seq: 3,
            from: None,
            to: "v1".into(),
            kind: TransitionKind::Promote,
            reason: "better".into(),
            at: 0,
        };
        let mut h = history_item(&entry);
        assert_eq!(HistoryEntry::try_from(&h).unwrap(), entry);
        h.remove("at");
        let e = HistoryEntry::try_from(&h).unwrap_err().to_string();
        assert!(
            e.contains("HISTORY 3") && e.contains("\"at\" is missing"),
            "{e}"
        );
    }
}
