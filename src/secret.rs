//! A string that never shows itself in `Display` or `Debug`.

use std::fmt;

/// A credential value. `Display`/`Debug` show at most a short prefix and suffix.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the one place that needs it (an HTTP header, the store file).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `sk-o…0001` for long values, `****` for short ones: enough to tell two keys apart.
pub fn redact(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "****".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", redact(&self.0))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_never_shows_the_whole_value() {
        let s = Secret::new("sk-or-v1-abcdefghijklmnop0001");
        assert_eq!(s.to_string(), "sk-o…0001");
        assert!(!format!("{s:?}").contains("abcdefghijklmnop"));
        assert_eq!(Secret::new("short").to_string(), "****");
    }
}
