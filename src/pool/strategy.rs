//! Rotation strategies (`credential_pool_strategies` in config.yaml).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Use the first available credential until it fails.
    #[default]
    FillFirst,
    /// Cycle through credentials; the order is persisted so other processes continue it.
    RoundRobin,
    /// Pick the credential with the lowest `request_count`.
    LeastUsed,
    /// Uniform random choice.
    Random,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Self::FillFirst,
        Self::RoundRobin,
        Self::LeastUsed,
        Self::Random,
    ];

    /// Case-insensitive; anything unknown is `fill_first`.
    pub fn parse_lenient(s: Option<&str>) -> Self {
        s.and_then(Self::parse).unwrap_or_default()
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "fill_first" => Some(Self::FillFirst),
            "round_robin" => Some(Self::RoundRobin),
            "least_used" => Some(Self::LeastUsed),
            "random" => Some(Self::Random),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FillFirst => "fill_first",
            Self::RoundRobin => "round_robin",
            Self::LeastUsed => "least_used",
            Self::Random => "random",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::FillFirst => "Use first key until exhausted, then next",
            Self::RoundRobin => "Cycle through keys evenly",
            Self::LeastUsed => "Always pick the least-used key",
            Self::Random => "Random selection",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_lenient() {
        assert_eq!(
            Strategy::parse_lenient(Some("ROUND_ROBIN")),
            Strategy::RoundRobin
        );
        assert_eq!(Strategy::parse_lenient(Some("bogus")), Strategy::FillFirst);
        assert_eq!(Strategy::parse_lenient(None), Strategy::FillFirst);
    }
}
