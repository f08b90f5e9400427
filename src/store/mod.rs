//! Everything `hermes` keeps on disk in `HERMES_HOME`.
//!
//! * [`auth::AuthStore`] — `auth.json` (provider state, credential pools, suppressions).
//! * [`lock::StoreLock`] — the exclusive `flock` on `auth.lock`, shared with the Python reference.
//!   [`auth::AuthStore::save`] takes the guard as an argument: an unlocked write does not compile.
//! * [`atomic`] — temp file + fsync + rename + directory fsync.
//! * [`config::Config`] — `config.yaml`.
//! * [`dotenv`] — `$HERMES_HOME/.env`.

pub mod atomic;
pub mod auth;
pub mod config;
pub mod dotenv;
pub mod json;
pub mod lock;

use std::path::PathBuf;

pub use auth::AuthStore;
pub use config::Config;
pub use lock::StoreLock;

/// Errors of the storage layer. Messages name the file and never include its content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not valid JSON ({detail}); it was left untouched")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} does not hold a JSON object; it was left untouched")]
    NotAnObject { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "timed out after {seconds} s waiting for the lock on {path} (another hermes process holds it)"
    )]
    LockTimeout { path: PathBuf, seconds: f64 },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML ({detail}); it was left untouched")]
    ConfigCorrupt { path: PathBuf, detail: String },
}
