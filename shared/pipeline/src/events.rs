//! S3 events in and out: [`object_refs`] turns an `S3Event` into URL-decoded object references (through
//! [`crate::layout::decode_s3_key`], the one decoder), ignoring everything that is not
//! `ObjectCreated:*`; [`object_created`] builds the event S3 would send for a new object (used by the
//! embedded runner and tests), with the key URL-encoded the way S3 encodes it (`+` for a space).

use crate::layout::{Stage, decode_s3_key, encode_s3_key, route};
use aws_lambda_events::event::s3::S3Event;

/// One created object named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// The event name (`ObjectCreated:Put`, …).
    pub event_name: String,
}

impl ObjectRef {
    /// The stage this object triggers, from the routing table.
    pub fn stage(&self) -> Option<Stage> {
        route(&self.key)
    }
}

/// The created objects of an event, keys decoded. Records that are not `ObjectCreated:*`, lack a key or a
/// bucket name, or whose key does not decode to UTF-8 are skipped (and logged); none is read as empty.
pub fn object_refs(event: &S3Event) -> Vec<ObjectRef> {
    let mut out = Vec::new();
    for r in &event.records {
        let name = r.event_name.clone().unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            tracing::debug!(event_name = name, "ignoring event");
            continue;
        }
        let Some(raw) = r.s3.object.key.as_deref() else {
            tracing::warn!(
                event_name = name,
                "event record without an object key; ignored"
            );
            continue;
        };
        let Some(bucket) = r.s3.bucket.name.clone() else {
            tracing::warn!(
                event_name = name,
                "event record without a bucket name; ignored"
            );
            continue;
        };
        let Some(key) = decode_s3_key(raw) else {
            tracing::warn!(
                raw_key = raw,
                "object key is not UTF-8 after decoding; ignored"
            );
            continue;
        };
        out.push(ObjectRef {
            bucket,
            key,
            event_name: name,
        });
    }
    out
}

/// The `ObjectCreated:Put` event S3 sends for `key` in `bucket`.
pub fn object_created(bucket: &str, key: &str, size: u64) -> S3Event {
    let v = serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "polarity-embedded" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "polarity",
                "bucket": { "name": bucket, "arn": format!("arn:aws:s3:::{bucket}") },
                "object": { "key": encode_s3_key(key), "size": size }
            }
        }]
    });
    serde_json::from_value(v).expect("this literal is a complete S3 event record")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_created_objects_and_ignores_the_rest() {
        let ev = object_created("b", "incoming/my reviews.csv", 10);
        assert_eq!(
            ev.records[0].s3.object.key.as_deref(),
            Some("incoming/my+reviews.csv")
        );
        let refs = object_refs(&ev);
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (refs[0].bucket.as_str(), refs[0].key.as_str()),
            ("b", "incoming/my reviews.csv")
        );
        assert_eq!(refs[0].stage(), Some(Stage::Ingest));
        let mut removed = ev.clone();
        removed.records[0].event_name = Some("ObjectRemoved:Delete".into());
        assert!(object_refs(&removed).is_empty());
        let mut nameless = ev.clone();
        nameless.records[0].s3.bucket.name = None;
        assert!(
            object_refs(&nameless).is_empty(),
            "no object in bucket \"\""
        );
    }
}
