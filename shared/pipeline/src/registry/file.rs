//! [`FileRegistry`]: the registry in one JSON file, for embedded mode and tests. Every call is a
//! read-modify-write under an exclusive lock file (`<file>.lock`, created with `O_EXCL`, holding the
//! holder's process id; a lock whose holder no longer runs, or older than 30 s, is abandoned and taken
//! over), and the file is replaced atomically, so the conditional semantics hold across threads and
//! processes, and a process killed while holding the lock does not block the next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::records::clock::now_secs;

use super::{
    HistoryEntry, PointerState, Registry, RegistryError, Transition, VerdictRecord, VersionRecord,
};

/// A lock this old is abandoned whoever holds it (a read-modify-write takes milliseconds).
const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a caller waits for the lock; longer than [`STALE_LOCK`], so a lock whose holder cannot be
/// checked is taken over before the caller gives up.
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

/// An exclusive lock file, removed on drop.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let lock = path.with_extension("json.lock");
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    use std::io::Write as _;
                    // best effort: without the id, others go by the lock's age
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Self(lock));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    let holder_gone = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok())
                        .is_some_and(|pid| !crate::store::process_alive(pid));
                    if holder_gone || age.is_some_and(|a| a > STALE_LOCK) {
                        let _ = std::fs::remove_file(&lock);
                    } else if start.elapsed() > LOCK_WAIT {
                        return Err(RegistryError::Transient(format!(
                            "{} is locked",
                            lock.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(io(&lock, e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

    /// A pid that ran and exited.
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[tokio::test]
    async fn a_lock_left_by_a_killed_process_is_taken_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let reg = FileRegistry::new(&path);
        std::fs::write(path.with_extension("json.lock"), dead_pid().to_string()).unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(reg.pointer().await.unwrap(), PointerState::default());
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(!path.with_extension("json.lock").exists());
    }

    #[tokio::test]
    async fn a_lock_held_by_a_running_process_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let reg = std::sync::Arc::new(FileRegistry::new(&path));
        let mut holder = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let lock = path.with_extension("json.lock");
        std::fs::write(&lock, holder.id().to_string()).unwrap();
        let waiting = tokio::spawn({
            let reg = reg.clone();
            async move { reg.pointer().await }
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!waiting.is_finished(), "went ahead while the holder runs");
        std::fs::remove_file(&lock).unwrap();
        let state = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(state, PointerState::default());
        holder.kill().unwrap();
        holder.wait().unwrap();
    }
}
