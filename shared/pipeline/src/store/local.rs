//! [`LocalStore`]: a folder that behaves like a bucket. Writes go to a temporary file first and are renamed
//! (or hard-linked, for `put_if_absent`) into place, so readers never see half an object and exactly one
//! of several racing `put_if_absent` calls wins. User metadata lives beside the data, in
//! `<root>/.meta/<key>.json`. Temporary files left by a killed process are removed by
//! [`ObjectStore::ensure`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Metadata, Object, ObjectStore, StoreError, check_key};

/// Temporary files live here, outside every key.
const TMP_DIR: &str = ".tmp";
/// Object metadata lives here, outside every key.
const META_DIR: &str = ".meta";
/// A temporary file older than this is stale even when its process id is in use again.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bucket twin in a local folder: key `a/b.json` is the file `<root>/a/b.json`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// Whether process `pid` may still run on this machine: this process, or a `/proc/<pid>` entry; where
/// there is no `/proc` (macOS), it cannot be told and the answer is yes (callers then go by age).
pub(crate) fn process_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new(&format!("/proc/{pid}")).exists()
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

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root.join(META_DIR).join(format!("{key}.json"))
    }

    /// Removes temporary files whose writer is gone (its process no longer runs, or the file is older than
    /// an hour). Returns how many were removed.
    fn clean_stale_tmp(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.root.join(TMP_DIR)) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(process_alive);
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if (!alive || old) && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
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

    async fn get_object(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let path = self.path(key)?;
        let body = match tokio::fs::read(&path).await {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::other("get", key, e)),
        };
        let modified_ms = tokio::fs::metadata(&path)
            .await
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok());
        let meta = match tokio::fs::read(self.meta_path(key)).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Self::other("get", key, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Metadata::new(),
            Err(e) => return Err(Self::other("get", key, e)),
        };
        Ok(Some(Object {
            body,
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
        let mpath = self.meta_path(key);
        if meta.is_empty() {
            let _ = tokio::fs::remove_file(&mpath).await;
        } else {
            self.make_parent(key, &mpath).await?;
            let json = serde_json::to_vec(meta).expect("string maps always serialise");
            let tmp = self.write_tmp(key, &json).await?;
            tokio::fs::rename(&tmp, &mpath)
                .await
                .map_err(|e| Self::other("put", key, e))?;
        }
        self.put(key, body).await
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
        let removed = self.clean_stale_tmp();
        if removed > 0 {
            tracing::info!(store = %self.url(), removed, "removed temporary files of interrupted writes");
        }
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
        if dir == root && (entry.file_name() == TMP_DIR || entry.file_name() == META_DIR) {
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
    async fn keeps_metadata_beside_objects_and_cleans_stale_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path());
        let meta = Metadata::from([("label-col".to_string(), "stars".to_string())]);
        s.put_with_meta("incoming/a.csv", Bytes::from_static(b"x"), &meta)
            .await
            .unwrap();
        let o = s.get_object("incoming/a.csv").await.unwrap().unwrap();
        assert_eq!((&o.body[..], &o.meta), (&b"x"[..], &meta));
        assert!(o.modified_ms.is_some());
        assert_eq!(s.list("").await.unwrap(), ["incoming/a.csv"]);
        assert!(s.get_object("nope").await.unwrap().is_none());
        // a temp file of a process that no longer runs (pid far above pid_max) is removed, ours is kept
        let tmp = dir.path().join(TMP_DIR);
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("999999999-0"), b"half").unwrap();
        std::fs::write(tmp.join(format!("{}-77", std::process::id())), b"mine").unwrap();
        s.ensure().await.unwrap();
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            [std::ffi::OsString::from(format!(
                "{}-77",
                std::process::id()
            ))]
        );
    }

    #[tokio::test]
    async fn exactly_one_racing_put_if_absent_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(LocalStore::new(dir.path()));
        crate::store::conformance::racing_put_if_absent(s, "k", 16).await;
    }
}
