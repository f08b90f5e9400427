//! `$HERMES_HOME/.env`: read for env seeding, edited by `auth remove` of an `env:` entry.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{StoreError, atomic};

/// Parses dotenv text: `#` comments, optional `export `, first `=` splits, matching quotes
/// stripped, `\"` and `\\` decoded inside double quotes.
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = parse_line(line) {
            out.insert(k, v);
        }
    }
    out
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let t = t.strip_prefix("export ").map(str::trim_start).unwrap_or(t);
    let (k, v) = t.split_once('=')?;
    let k = k.trim();
    if k.is_empty() {
        return None;
    }
    let v = v.trim();
    let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    };
    Some((k.to_string(), v))
}

pub fn read(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Whether the file has a line defining `var` (with or without `export `).
pub fn defines(path: &Path, var: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .any(|l| parse_line(l).is_some_and(|(k, _)| k == var))
        })
        .unwrap_or(false)
}

/// Deletes every line defining `var`; keeps the others and the file mode. Returns whether a line went.
pub fn remove_var(path: &Path, var: &str) -> Result<bool, StoreError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(false);
    };
    let mut removed = false;
    let mut kept = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if parse_line(line).is_some_and(|(k, _)| k == var) {
            removed = true;
        } else {
            kept.push_str(line);
        }
    }
    if removed {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        atomic::write_atomic(path, kept.as_bytes(), mode)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_exports_and_comments() {
        let m = parse("# c\nA=1\nexport B=\"x \\\"y\\\"\"\nC='z'\n=bad\nD\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x \"y\"");
        assert_eq!(m["C"], "z");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn remove_keeps_other_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".env");
        std::fs::write(&p, "A=1\nDEEPSEEK_API_KEY=x\n# keep\nB=2\n").unwrap();
        assert!(remove_var(&p, "DEEPSEEK_API_KEY").unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "A=1\n# keep\nB=2\n");
        assert!(!remove_var(&p, "DEEPSEEK_API_KEY").unwrap());
    }
}
