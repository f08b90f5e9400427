//! The cross-process lock on `$HERMES_HOME/auth.lock`.
//!
//! Same file and same primitive (`flock(LOCK_EX)`) as the Python reference, so both binaries can
//! run side by side. The lock file is never deleted. Like the reference we poll a non-blocking
//! attempt every 50 ms until a deadline (15 s by default).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::StoreError;
use crate::home::Home;

const POLL: Duration = Duration::from_millis(50);
const DEFAULT_TIMEOUT_SECS: f64 = 15.0;

/// Proof that this process holds the store lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    home: PathBuf,
}

impl StoreLock {
    /// Locks `auth.lock` in `home`, creating the directory (0700) and the lock file as needed.
    pub fn acquire(home: &Home) -> Result<Self, StoreError> {
        let timeout = std::env::var(crate::envvars::HERMES_AUTH_LOCK_TIMEOUT)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Self::acquire_with_timeout(home, Duration::from_secs_f64(timeout.max(1.0)))
    }

    pub fn acquire_with_timeout(home: &Home, timeout: Duration) -> Result<Self, StoreError> {
        super::atomic::ensure_private_dir(home.dir())?;
        let path = home.auth_lock();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| StoreError::Lock {
                path: path.clone(),
                source,
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Self {
                        file,
                        home: home.dir().to_path_buf(),
                    });
                }
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::LockTimeout {
                            path,
                            seconds: timeout.as_secs_f64(),
                        });
                    }
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::Error(source)) => return Err(StoreError::Lock { path, source }),
            }
        }
    }

    /// The home directory this lock protects.
    pub fn home_dir(&self) -> &Path {
        &self.home
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
