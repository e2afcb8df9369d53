//! [`S3Store`]: the object store on S3 (or any S3-compatible server). `put_if_absent` is a conditional
//! `PutObject` with `If-None-Match: *`, so exactly one writer of a key wins.
//!
//! A missing key: S3 answers 404 only to a caller allowed to list the bucket; IAM policies here allow
//! `s3:ListBucket` under a prefix (`s3:prefix` condition), which does not apply to a `GetObject`, so S3
//! may answer 403. A 403 on a read is therefore checked with a listing of exactly that key: absent means
//! not found, present means the read really was denied.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{Metadata, Object, ObjectStore, StoreError, check_key};
use crate::aws::{AwsSettings, classify, status};

/// A bucket on S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// A store over an existing client.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Builds the client from an SDK configuration, with path-style addressing when `settings` (or the
    /// environment) name a custom endpoint.
    pub fn from_config(
        sdk: &aws_config::SdkConfig,
        settings: &AwsSettings,
        bucket: impl Into<String>,
    ) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(settings.custom_endpoint())
            .build();
        Self::new(Client::from_conf(conf), bucket)
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 client (tests and tools; the stages go through [`ObjectStore`]).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether a listing of exactly `key` finds it (`None` when the listing itself fails).
    async fn listed(&self, key: &str) -> Option<bool> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .ok()?;
        Some(out.contents().iter().any(|o| o.key() == Some(key)))
    }

    fn err<E>(
        op: &'static str,
        key: &str,
        e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (transient, message) = classify("s3", e);
        let key = key.to_string();
        if transient {
            StoreError::Transient { op, key, message }
        } else {
            StoreError::Other { op, key, message }
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn url(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        match self.get_object(key).await? {
            Some(o) => Ok(o.body),
            None => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
        }
    }

    async fn get_object(&self, key: &str) -> Result<Option<Object>, StoreError> {
        check_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) if status(&e) == Some(403) => {
                return match self.listed(key).await {
                    Some(false) => Ok(None),
                    _ => Err(Self::err("get", key, &e)),
                };
            }
            Err(e) => return Err(Self::err("get", key, &e)),
        };
        let meta: Metadata = out
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let modified_ms = out
            .last_modified()
            .and_then(|t| u64::try_from(t.to_millis().ok()?).ok());
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Transient {
                op: "get",
                key: key.to_string(),
                message: e.to_string(),
            })?;
        Ok(Some(Object {
            body: body.into_bytes(),
            meta,
            modified_ms,
        }))
    }

    async fn put_with_meta(
        &self,
        key: &str,
        body: Bytes,
        meta: &Metadata,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_metadata((!meta.is_empty()).then(|| meta.clone().into_iter().collect()))
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Self::err("put", key, &e))
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Self::err("put", key, &e))
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        check_key(key)?;
        let r = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            // 412: the key exists. 409: a concurrent conditional write is in flight; the other writer wins.
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(Self::err("put_if_absent", key, &e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| Self::err("list", prefix, &e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            token = out.next_continuation_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || status(&e) == Some(404) =>
            {
                Ok(false)
            }
            // denied HeadObject (module docs): a listing of exactly the key decides
            Err(e) if status(&e) == Some(403) => match self.listed(key).await {
                Some(found) => Ok(found),
                None => Err(Self::err("exists", key, &e)),
            },
            Err(e) => Err(Self::err("exists", key, &e)),
        }
    }

    async fn ensure(&self) -> Result<bool, StoreError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(false);
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(Self::err("create_bucket", &self.bucket, &e)),
        }
    }
}
