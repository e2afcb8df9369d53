//! [`FileRegistry`]: the registry in one JSON file, for embedded mode and tests. Every call is a
//! read-modify-write under an exclusive operating-system lock on `<file>.lock` (`flock`, through
//! `std::fs::File::lock`), and the file is replaced atomically, so the conditional semantics hold across
//! threads and processes. The system releases the lock when its holder exits, killed or not, so nothing
//! ever has to guess that a lock is abandoned (a hand-made lock file could be taken over by two waiters).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::records::clock::now_secs;

use super::{
    HistoryEntry, PointerState, Registry, RegistryError, Transition, VerdictRecord, VersionRecord,
};

/// How long a caller waits for the lock (a read-modify-write takes milliseconds) before a retryable error.
const LOCK_WAIT: Duration = Duration::from_secs(40);

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    pointer: PointerState,
    versions: Vec<VersionRecord>,
    history: Vec<HistoryEntry>,
    verdicts: BTreeMap<String, VerdictRecord>,
}

/// A registry stored in one local JSON file.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    path: PathBuf,
}

impl FileRegistry {
    /// A registry in `path` (created on first write or by [`Registry::ensure`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the document under the lock; writes it back when `f` returns `Ok((_, true))`.
    async fn with_doc<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Doc) -> Result<(T, bool), RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = Lock::acquire(&path)?;
            let mut doc = read(&path)?;
            let (out, dirty) = f(&mut doc)?;
            if dirty {
                write(&path, &doc)?;
            }
            Ok(out)
        })
        .await
        .map_err(|e| RegistryError::Other(e.to_string()))?
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Other(format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<Doc, RegistryError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Doc::default()),
        Err(e) => Err(io(path, e)),
    }
}

fn write(path: &Path, doc: &Doc) -> Result<(), RegistryError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(doc).map_err(|e| io(path, e))?;
    std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The exclusive lock on `<file>.lock`, held while this lives (released when the file closes, or by the
/// system when the process dies).
struct Lock {
    _held: std::fs::File,
}

impl Lock {
    fn acquire(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let lock = path.with_extension("json.lock");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(|e| io(&lock, e))?;
        let start = std::time::Instant::now();
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(Self { _held: f }),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() > LOCK_WAIT => {
                    return Err(RegistryError::Transient(format!(
                        "{} is locked",
                        lock.display()
                    )));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock, e)),
            }
        }
    }
}

#[async_trait]
impl Registry for FileRegistry {
    fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    async fn ensure(&self) -> Result<bool, RegistryError> {
        let existed = self.path.exists();
        self.with_doc(move |_| Ok(((), !existed))).await?;
        Ok(!existed)
    }

    async fn register(&self, rec: &VersionRecord) -> Result<bool, RegistryError> {
        let rec = rec.clone();
        self.with_doc(
            move |doc| match doc.versions.iter().find(|v| v.version == rec.version) {
                Some(v) if v.sha256 == rec.sha256 => Ok((false, false)),
                Some(_) => Err(RegistryError::VersionMismatch(rec.version)),
                None => {
                    doc.versions.push(rec);
                    Ok((true, true))
                }
            },
        )
        .await
    }

    async fn version(&self, version: &str) -> Result<Option<VersionRecord>, RegistryError> {
        let version = version.to_string();
        self.with_doc(move |doc| {
            Ok((
                doc.versions.iter().find(|v| v.version == version).cloned(),
                false,
            ))
        })
        .await
    }

    async fn versions(&self) -> Result<Vec<VersionRecord>, RegistryError> {
        self.with_doc(|doc| Ok((doc.versions.clone(), false))).await
    }

    async fn pointer(&self) -> Result<PointerState, RegistryError> {
        self.with_doc(|doc| Ok((doc.pointer.clone(), false))).await
    }

    async fn transition(&self, t: &Transition) -> Result<HistoryEntry, RegistryError> {
        let t = t.clone();
        self.with_doc(move |doc| {
            if !doc.versions.iter().any(|v| v.version == t.to) {
                return Err(RegistryError::UnknownVersion(t.to));
            }
            if doc.pointer.version != t.expected.version || doc.pointer.seq != t.expected.seq {
                return Err(RegistryError::Conflict {
                    expected: t.expected.version,
                    seq: t.expected.seq,
                });
            }
            if doc.pointer.frozen && t.kind.respects_freeze() {
                return Err(RegistryError::Frozen);
            }
            let entry = t.entry(now_secs());
            doc.pointer.version = Some(t.to.clone());
            doc.pointer.seq = entry.seq;
            doc.history.push(entry.clone());
            Ok((entry, true))
        })
        .await
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError> {
        self.with_doc(|doc| Ok((doc.history.clone(), false))).await
    }

    async fn set_frozen(&self, frozen: bool) -> Result<(), RegistryError> {
        self.with_doc(move |doc| {
            doc.pointer.frozen = frozen;
            Ok(((), true))
        })
        .await
    }

    async fn record_verdict(
        &self,
        version: &str,
        v: &VerdictRecord,
    ) -> Result<bool, RegistryError> {
        let (version, v) = (version.to_string(), v.clone());
        self.with_doc(move |doc| {
            if doc.verdicts.contains_key(&version) {
                return Ok((false, false));
            }
            doc.verdicts.insert(version, v);
            Ok((true, true))
        })
        .await
    }

    async fn verdicts(&self) -> Result<BTreeMap<String, VerdictRecord>, RegistryError> {
        self.with_doc(|doc| Ok((doc.verdicts.clone(), false))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::conformance::{contract, race};

    #[tokio::test]
    async fn file_registry_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        contract(&FileRegistry::new(dir.path().join("registry.json"))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_file_registry_promotes_once() {
        let dir = tempfile::tempdir().unwrap();
        race(std::sync::Arc::new(FileRegistry::new(
            dir.path().join("registry.json"),
        )))
        .await;
    }

    #[tokio::test]
    async fn the_lock_is_held_while_its_holder_runs_and_released_when_it_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let reg = std::sync::Arc::new(FileRegistry::new(&path));
        reg.ensure().await.unwrap();
        // another process holds the same OS lock (util-linux flock), then is killed mid-hold
        let lock = path.with_extension("json.lock");
        // --no-fork: flock itself runs the command, so killing it kills the holder of the lock
        let mut holder = std::process::Command::new("flock")
            .arg("--no-fork")
            .arg(&lock)
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let probe = std::fs::File::open(&lock).unwrap();
        let t0 = std::time::Instant::now();
        while probe.try_lock().is_ok() {
            probe.unlock().unwrap();
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "flock never took the lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let waiting = tokio::spawn({
            let reg = reg.clone();
            async move { reg.pointer().await }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!waiting.is_finished(), "went ahead while the holder runs");
        holder.kill().unwrap();
        holder.wait().unwrap();
        let state = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the lock of a killed holder is free at once")
            .unwrap()
            .unwrap();
        assert_eq!(state, PointerState::default());
    }
}
