//! [`LocalStore`]: a folder that behaves like a bucket. Writes go to a temporary file first and are renamed
//! (or hard-linked, for `put_if_absent`) into place, so readers never see half an object and exactly one
//! of several racing `put_if_absent` calls wins.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectStore, StoreError, check_key};

/// Temporary files live here, outside every key.
const TMP_DIR: &str = ".tmp";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bucket twin in a local folder: key `a/b.json` is the file `<root>/a/b.json`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write or by [`ObjectStore::ensure`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn other(op: &'static str, key: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Other {
            op,
            key: key.to_string(),
            message: e.to_string(),
        }
    }

    /// Writes `body` to a fresh temporary file and returns its path.
    async fn write_tmp(&self, key: &str, body: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.root.join(TMP_DIR);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Self::other("put", key, e))?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{}-{n}", std::process::id()));
        tokio::fs::write(&tmp, body)
            .await
            .map_err(|e| Self::other("put", key, e))?;
        Ok(tmp)
    }

    async fn make_parent(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Self::other("put", key, e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
            Err(e) => Err(Self::other("get", key, e)),
        }
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.make_parent(key, &path).await?;
        let tmp = self.write_tmp(key, &body).await?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| Self::other("put", key, e))
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        self.make_parent(key, &path).await?;
        let tmp = self.write_tmp(key, &body).await?;
        let linked = tokio::fs::hard_link(&tmp, &path).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Self::other("put_if_absent", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.root.clone();
        let p = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &root, &mut keys).map_err(|e| Self::other("list", &p, e))?;
            keys.retain(|k| k.starts_with(&p));
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| Self::other("list", prefix, e))?
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| Self::other("exists", key, e))
    }

    async fn ensure(&self) -> Result<bool, StoreError> {
        let existed = self.root.is_dir();
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|e| Self::other("ensure", "", e))?;
        Ok(!existed)
    }
}

/// Collects every file under `dir` as a `/`-separated key relative to `root`, skipping [`TMP_DIR`].
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if dir == root && entry.file_name() == TMP_DIR {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let key: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(key.join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_lists_and_writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path().join("bucket"));
        assert!(s.ensure().await.unwrap());
        assert!(matches!(
            s.get("a/x").await,
            Err(StoreError::NotFound { .. })
        ));
        s.put("a/x", Bytes::from_static(b"1")).await.unwrap();
        s.put("a/x", Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(&s.get("a/x").await.unwrap()[..], b"2");
        assert!(
            s.put_if_absent("b/y z", Bytes::from_static(b"first"))
                .await
                .unwrap()
        );
        assert!(
            !s.put_if_absent("b/y z", Bytes::from_static(b"second"))
                .await
                .unwrap()
        );
        assert_eq!(&s.get("b/y z").await.unwrap()[..], b"first");
        assert_eq!(s.list("").await.unwrap(), ["a/x", "b/y z"]);
        assert_eq!(s.list("b/").await.unwrap(), ["b/y z"]);
        assert!(s.exists("a/x").await.unwrap() && !s.exists("a/q").await.unwrap());
        assert!(s.get("../etc/passwd").await.is_err());
    }

    #[tokio::test]
    async fn exactly_one_racing_put_if_absent_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(LocalStore::new(dir.path()));
        crate::store::conformance::racing_put_if_absent(s, "k", 16).await;
    }
}
