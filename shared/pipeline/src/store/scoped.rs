//! [`Scoped`]: a store that refuses what the principal's [`Access`] does not allow, the same rules IAM
//! applies to that principal's role in AWS (Terraform builds the policies from the same table). Every stage
//! runs through it in every mode, so an access the AWS policy would deny fails here first, in the embedded
//! run and in the tests, not after a deployment.

use async_trait::async_trait;
use bytes::Bytes;

use super::{Metadata, Object, ObjectStore, StoreError};
use crate::layout::Access;

/// A store limited to `access`.
pub struct Scoped<'a> {
    inner: &'a dyn ObjectStore,
    access: &'static Access,
    principal: &'static str,
}

impl<'a> Scoped<'a> {
    /// `inner` as `principal` (a stage name or `serve`) would see it.
    pub fn new(
        inner: &'a dyn ObjectStore,
        access: &'static Access,
        principal: &'static str,
    ) -> Self {
        Self {
            inner,
            access,
            principal,
        }
    }

    fn deny(&self, op: &'static str, key: &str) -> StoreError {
        StoreError::Denied {
            op,
            key: key.to_string(),
            principal: self.principal.to_string(),
        }
    }

    fn get_ok(&self, key: &str) -> Result<(), StoreError> {
        if self.access.may_get(key) {
            Ok(())
        } else {
            Err(self.deny("get", key))
        }
    }

    fn put_ok(&self, key: &str) -> Result<(), StoreError> {
        if self.access.may_put(key) {
            Ok(())
        } else {
            Err(self.deny("put", key))
        }
    }
}

#[async_trait]
impl ObjectStore for Scoped<'_> {
    fn url(&self) -> String {
        self.inner.url()
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.get_ok(key)?;
        self.inner.get(key).await
    }
    async fn get_object(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.get_ok(key)?;
        self.inner.get_object(key).await
    }
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.put_ok(key)?;
        self.inner.put(key, body).await
    }
    async fn put_with_meta(
        &self,
        key: &str,
        body: Bytes,
        meta: &Metadata,
    ) -> Result<(), StoreError> {
        self.put_ok(key)?;
        self.inner.put_with_meta(key, body, meta).await
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        self.put_ok(key)?;
        self.inner.put_if_absent(key, body).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if !self.access.may_list(prefix) {
            return Err(self.deny("list", prefix));
        }
        self.inner.list(prefix).await
    }
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.get_ok(key)?;
        self.inner.exists(key).await
    }
    async fn ensure(&self) -> Result<bool, StoreError> {
        Err(self.deny("ensure", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{SERVE, Stage};
    use crate::store::LocalStore;

    #[tokio::test]
    async fn refuses_what_the_principal_may_not_touch() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalStore::new(dir.path());
        local
            .put("models/v1/model.plm", Bytes::from_static(b"m"))
            .await
            .unwrap();
        local
            .put("raw/d/rows.jsonl", Bytes::from_static(b"r"))
            .await
            .unwrap();
        let ingest = Scoped::new(&local, Stage::Ingest.access(), "ingest");
        assert!(
            ingest
                .put("raw/d/manifest.json", Bytes::new())
                .await
                .is_ok()
        );
        assert!(
            ingest
                .get_opt("raw/d/manifest.json")
                .await
                .unwrap()
                .is_some()
        );
        let e = ingest.put("models/v1/x", Bytes::new()).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "put models/v1/x: not allowed for ingest (see terraform/access.json)"
        );
        assert!(matches!(
            ingest.list("models/").await,
            Err(StoreError::Denied { .. })
        ));
        let serve = Scoped::new(&local, &SERVE, "serve");
        assert!(serve.get("models/v1/model.plm").await.is_ok());
        assert!(matches!(
            serve.get("raw/d/rows.jsonl").await,
            Err(StoreError::Denied { .. })
        ));
    }
}
