//! Run directories that never lose or mix a result.
//!
//! - A run holds an exclusive OS lock on `<run>/.lock` for its whole life (released by the OS
//!   if the process dies); a second run on the same folder is refused with the holder's
//!   process id.
//! - A folder that already holds a run (finished: `summary.json`; unfinished: metrics or a
//!   checkpoint) is never replaced silently: the caller chooses to resume it, to overwrite it,
//!   or (reproductions) to reuse it when its config is the same.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// The exclusive lock of a run directory, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir` (created if missing), or fails naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        Self::take(dir, false)
    }

    /// Takes the lock of `dir`, waiting for a run that holds it to end (two reproductions
    /// sharing run folders: the second waits for the run and then reuses it).
    pub fn acquire_waiting(dir: &Path) -> Result<Self> {
        Self::take(dir, true)
    }

    fn take(dir: &Path, wait: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if wait => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                tracing::warn!(
                    "waiting for process {} to finish {}",
                    holder.trim(),
                    dir.display()
                );
                file.lock().map_err(|e| TrainError::io(&path, e))?;
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(TrainError::RunDir {
                    path: dir.into(),
                    reason: format!(
                        "another run is using this folder (process {}); wait for it to finish, or train into another --out",
                        if holder.is_empty() { "unknown" } else { holder }
                    ),
                });
            }
            Err(TryLockError::Error(e)) => return Err(TrainError::io(&path, e)),
        }
        file.set_len(0).map_err(|e| TrainError::io(&path, e))?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|_| file.flush())
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(RunLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a run directory holds already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing of a run.
    Empty,
    /// A run that did not finish (metrics, planes or a checkpoint, no summary).
    Unfinished,
    /// A finished run (`summary.json`).
    Finished,
}

/// Inspects `dir`.
pub fn existing(dir: &Path) -> Existing {
    if dir.join("summary.json").exists() {
        Existing::Finished
    } else if [
        "metrics.jsonl",
        "checkpoint",
        "checkpoint.tmp",
        "checkpoint.old",
        "infoplane.jsonl",
        "probes.csv",
    ]
    .iter()
    .any(|f| dir.join(f).exists())
    {
        Existing::Unfinished
    } else {
        Existing::Empty
    }
}

/// What to do with a run directory that already holds a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExisting {
    /// Refuse (the default): name the folder and the options.
    #[default]
    Refuse,
    /// Continue an unfinished run from its checkpoint (a finished one is returned as it is).
    Resume,
    /// Delete what is there and start again.
    Overwrite,
    /// Reproductions: reuse a finished run and resume an unfinished one when its saved config
    /// equals this one; otherwise start again.
    ReuseIfSame,
}

/// The files of a run, removed before a fresh start (with the temporary files of
/// [`write_atomic`] that a killed run left).
pub const RUN_FILES: [&str; 6] = [
    "metrics.jsonl",
    "infoplane.jsonl",
    "probes.csv",
    "summary.json",
    "config.toml",
    "provenance.json",
];

/// The checkpoint folders: the current one, the one being written, the one being replaced.
pub const CHECKPOINT_DIRS: [&str; 3] = ["checkpoint", "checkpoint.tmp", "checkpoint.old"];

/// Removes every file of a run from `dir` (not the lock, not foreign files).
pub fn clear(dir: &Path) -> Result<()> {
    for f in RUN_FILES {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| TrainError::io(&p, e))?;
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = RUN_FILES
                .iter()
                .any(|f| name.starts_with(&format!(".{f}.")) && name.ends_with(".tmp"));
            if ours {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for d in CHECKPOINT_DIRS {
        let p = dir.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| TrainError::io(&p, e))?;
        }
    }
    Ok(())
}

/// The refusal for a folder that holds a run.
pub fn refusal(dir: &Path, what: Existing) -> TrainError {
    let held = match what {
        Existing::Finished => "a finished run (summary.json)",
        _ => "an unfinished run",
    };
    TrainError::RunDir {
        path: dir.into(),
        reason: format!(
            "this folder already holds {held}; pass --resume to continue it, --overwrite to replace it, or another --out"
        ),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that
/// a reader (or a run killed while writing) sees the old content or the new, never a part.
///
/// The temporary file's name holds the process id, so two processes writing the same file
/// (two reproductions updating one index) never write into each other's temporary file; a
/// failed write (a full disk, a file-size limit) removes it and leaves `path` as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes)
        .map_err(|e| TrainError::io(&tmp, e))
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A locked run directory: the folder a loop writes into, held for the life of the value.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: RunLock,
}

impl RunDir {
    /// Takes the lock of `path` (created if missing).
    pub fn lock(path: &Path) -> Result<Self> {
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: RunLock::acquire(path)?,
        })
    }

    /// Takes the lock of `path`, waiting while another process holds it.
    pub fn lock_waiting(path: &Path) -> Result<Self> {
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: RunLock::acquire_waiting(path)?,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the run.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}
