//! The one error type of the CLI: it owns exit codes and `hint:` lines.

use std::fmt;

use crate::pool::PoolError;
use crate::store::StoreError;

/// Exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the operation failed.
    Failure = 1,
    /// 2: bad usage, or input needed that only a terminal could give.
    Usage = 2,
    /// 3: the provider or credential named does not exist.
    NotFound = 3,
}

/// A failed command: one message line, then `hint:` lines.
#[derive(Debug)]
pub struct CliError {
    pub kind: ExitKind,
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hints: vec![],
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Failure, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ExitKind::NotFound, message)
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
    /// A prompt was needed but standard input is not a terminal.
    pub fn needs_terminal(what: &str, flag: &str) -> Self {
        Self::usage(format!(
            "{what} needs a terminal, and standard input is not one."
        ))
        .hint(format!("pass {flag}"))
    }
    pub fn unknown_provider(p: &str) -> Self {
        let known = crate::providers::registry().sorted_ids().join(", ");
        Self::not_found(format!("Unknown provider: {p}")).hint(format!(
            "known providers: {known}; custom endpoints from config.yaml are `custom:<name>`"
        ))
    }

    pub fn exit_code(&self) -> u8 {
        self.kind as u8
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for h in &self.hints {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let hint = match &e {
            StoreError::Corrupt { path, .. } | StoreError::NotAnObject { path } => Some(format!(
                "fix the file by hand, or move it aside (e.g. `mv {0} {0}.bad`) to start from an empty store",
                path.display()
            )),
            StoreError::ConfigCorrupt { path, .. } => {
                Some(format!("fix the YAML in {}", path.display()))
            }
            StoreError::LockTimeout { .. } => {
                Some("retry once the other hermes command has finished".into())
            }
            StoreError::Read { .. } | StoreError::Write { .. } | StoreError::Lock { .. } => {
                Some("check the permissions of HERMES_HOME (it should be yours, mode 0700)".into())
            }
        };
        let mut err = CliError::failure(format!("error: {e}"));
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<PoolError> for CliError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Store(s) => s.into(),
            PoolError::Target(t) => CliError::not_found(t.to_string()),
            other => CliError::failure(format!("error: {other}")),
        }
    }
}

impl From<crate::providers::oauth::OAuthError> for CliError {
    fn from(e: crate::providers::oauth::OAuthError) -> Self {
        let mut err = CliError::failure(e.message);
        if let Some(next) = e.next {
            err = err.hint(format!("run `{next}`"));
        }
        err
    }
}
