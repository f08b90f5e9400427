//! `mcp_servers` in `config.yaml`: the part `hermes mcp login|reauth` reads.

use serde_yaml::Value;

use crate::store::Config;

/// The `oauth:` block of one server (every key optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OAuthSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    /// 0 or absent = pick one.
    pub redirect_port: Option<u16>,
    pub redirect_uri: Option<String>,
    pub redirect_host: Option<String>,
    pub client_name: Option<String>,
    /// Seconds to wait for the browser callback (default 300).
    pub timeout: Option<f64>,
}

/// One `mcp_servers.<name>` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    pub name: String,
    pub url: Option<String>,
    /// The raw `auth` value as text (`oauth`, `header`, …); `None` when absent.
    pub auth: Option<String>,
    pub connect_timeout: Option<f64>,
    pub oauth: OAuthSettings,
}

impl McpServer {
    pub fn is_oauth(&self) -> bool {
        self.auth.as_deref() == Some("oauth")
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_server(name: String, v: &Value) -> McpServer {
    let get = |k: &str| v.as_mapping().and_then(|m| m.get(k));
    let o = get("oauth");
    let oget = |k: &str| o.and_then(|o| o.as_mapping()).and_then(|m| m.get(k));
    McpServer {
        name,
        url: text(get("url")),
        auth: text(get("auth")),
        connect_timeout: number(get("connect_timeout")),
        oauth: OAuthSettings {
            client_id: text(oget("client_id")),
            client_secret: text(oget("client_secret")),
            scope: text(oget("scope")),
            redirect_port: number(oget("redirect_port"))
                .filter(|p| *p > 0.0 && *p <= 65535.0)
                .map(|p| p as u16),
            redirect_uri: text(oget("redirect_uri")),
            redirect_host: text(oget("redirect_host")),
            client_name: text(oget("client_name")),
            timeout: number(oget("timeout")).filter(|t| *t > 0.0),
        },
    }
}

/// Every `mcp_servers` entry, in file order. A missing or malformed section is empty.
pub fn servers(config: &Config) -> Vec<McpServer> {
    let Some(Value::Mapping(m)) = config.get(&["mcp_servers"]) else {
        return vec![];
    };
    m.iter()
        .filter_map(|(k, v)| {
            let name = match k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some(parse_server(name, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;

    #[test]
    fn parses_servers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "mcp_servers:\n  b:\n    url: http://x/mcp\n    auth: oauth\n    oauth:\n      redirect_port: 4567\n      timeout: 2\n  a:\n    command: npx\n",
        )
        .unwrap();
        let cfg = Config::load(&Home::at(dir.path())).unwrap();
        let s = servers(&cfg);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "b");
        assert!(s[0].is_oauth());
        assert_eq!(s[0].oauth.redirect_port, Some(4567));
        assert_eq!(s[0].oauth.timeout, Some(2.0));
        assert_eq!(s[1].name, "a");
        assert_eq!(s[1].url, None);
        assert_eq!(s[1].auth, None);
    }
}
