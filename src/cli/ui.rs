//! Terminal input: what is a terminal, secret entry, line prompts. Everything that could block
//! on input checks for a terminal first, so scripts never hang.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use super::error::CliError;

pub fn stdin_is_tty() -> bool {
    io::stdin().is_terminal()
}

pub fn stdout_is_tty() -> bool {
    io::stdout().is_terminal()
}

/// Reads a secret: a hidden prompt on a terminal, else all of standard input (so
/// `printf %s "$KEY" | hermes auth add …` keeps the key off argv). Empty → `None`.
pub fn read_secret(prompt: &str) -> Result<Option<String>, CliError> {
    let value = if stdin_is_tty() {
        match rpassword::prompt_password(prompt) {
            Ok(v) => v,
            Err(e)
                if e.kind() == io::ErrorKind::UnexpectedEof
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                String::new()
            }
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read the key from the terminal: {e}"
                )));
            }
        }
    } else {
        let mut buf = String::new();
        io::stdin()
            .lock()
            .take(1 << 20)
            .read_to_string(&mut buf)
            .map_err(|e| {
                CliError::failure(format!("cannot read the key from standard input: {e}"))
            })?;
        buf
    };
    let v = value.trim().to_string();
    Ok(Some(v).filter(|v| !v.is_empty()))
}

/// Asks one line on a terminal; `None` on EOF. Callers check [`stdin_is_tty`] first.
pub fn prompt_line(prompt: &str) -> Option<String> {
    let mut out = io::stdout();
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

/// Whether colour may be used on stdout.
pub fn colour() -> bool {
    stdout_is_tty()
        && std::env::var_os(crate::envvars::NO_COLOR).is_none()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}
