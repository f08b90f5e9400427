//! `$HERMES_HOME/mcp-tokens/`: the per-server OAuth files, in the reference's layout.
//!
//! * `<stem>.json`: the token response (`access_token`, `token_type`, `expires_in`, `scope`,
//!   `refresh_token`, nulls omitted) plus `expires_at` (absolute epoch seconds, float).
//! * `<stem>.client.json`: the client registration (dynamic or pre-registered).
//! * `<stem>.meta.json`: the authorization server metadata found by discovery.
//! * `<stem>.client.json.bak`: the last client the token endpoint rejected as `invalid_client`.
//!
//! Every file is 0600 in a 0700 directory, written through temp + rename.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rmcp::transport::auth::{
    AuthError, AuthorizationMetadata, CredentialRefreshGuard, CredentialStore, OAuthTokenResponse,
    StoredCredentials,
};
use serde_json::{Map, Value};

use crate::home::Home;
use crate::store::{StoreError, atomic};

/// The file stem for a server name: every char outside letters, digits, `_` and `-` becomes `_`,
/// leading/trailing `_` are stripped, at most 128 chars, `default` when nothing is left.
pub fn file_stem(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed: String = mapped.trim_matches('_').chars().take(128).collect();
    if trimmed.is_empty() {
        "default".to_string()
    } else {
        trimmed
    }
}

fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The three files of one server.
#[derive(Debug, Clone)]
pub struct TokenFiles {
    dir: PathBuf,
    stem: String,
}

fn read_json(path: &Path) -> Option<Map<String, Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<Value>(&text).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn write_json(path: &Path, value: &Value) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        atomic::ensure_private_dir(dir)?;
    }
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    bytes.push(b'\n');
    atomic::write_atomic(path, &bytes, 0o600)
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A registered OAuth client as stored in `<stem>.client.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The scope the client was registered for (`None`: unrestricted / unknown).
    pub scope: Option<String>,
}

impl TokenFiles {
    pub fn new(home: &Home, server_name: &str) -> Self {
        Self {
            dir: home.dir().join("mcp-tokens"),
            stem: file_stem(server_name),
        }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn tokens_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stem))
    }
    pub fn client_path(&self) -> PathBuf {
        self.dir.join(format!("{}.client.json", self.stem))
    }
    pub fn meta_path(&self) -> PathBuf {
        self.dir.join(format!("{}.meta.json", self.stem))
    }
    pub fn client_backup_path(&self) -> PathBuf {
        self.dir.join(format!("{}.client.json.bak", self.stem))
    }
    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stem))
    }

    /// Deletes the token, client and metadata files (a forced re-login).
    pub fn remove_all(&self) {
        remove(&self.tokens_path());
        remove(&self.client_path());
        remove(&self.meta_path());
    }

    pub fn has_tokens(&self) -> bool {
        self.tokens_path().is_file()
    }

    /// The stored token as the OAuth response it came from, with `expires_in` recomputed as the
    /// seconds left (`expires_at`, or the file's mtime for files written without it).
    pub fn read_token_response(&self) -> Option<OAuthTokenResponse> {
        let path = self.tokens_path();
        let mut m = read_json(&path)?;
        let expires_at = m.remove("expires_at").and_then(|v| v.as_f64());
        let remaining = match (expires_at, m.get("expires_in").and_then(Value::as_f64)) {
            (Some(at), _) => Some((at - now_secs_f64()).max(0.0)),
            (None, Some(expires_in)) => {
                let written = std::fs::metadata(&path)
                    .and_then(|md| md.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_else(now_secs_f64);
                Some((written + expires_in - now_secs_f64()).max(0.0))
            }
            (None, None) => None,
        };
        match remaining {
            Some(r) => {
                m.insert("expires_in".into(), Value::from(r as u64));
            }
            None => {
                m.remove("expires_in");
            }
        }
        m.entry("token_type")
            .or_insert_with(|| Value::from("Bearer"));
        serde_json::from_value(Value::Object(m)).ok()
    }

    /// Writes `<stem>.json` from a token response, adding the absolute `expires_at`.
    pub fn write_token_response(&self, t: &OAuthTokenResponse) -> Result<(), StoreError> {
        use oauth2_types::*;
        let mut m = Map::new();
        m.insert(
            "access_token".into(),
            Value::from(t.access_token().secret().clone()),
        );
        m.insert("token_type".into(), Value::from("Bearer"));
        let expires_in = t.expires_in().map(|d| d.as_secs());
        if let Some(e) = expires_in {
            m.insert("expires_in".into(), Value::from(e));
        }
        if let Some(scopes) = t.scopes() {
            let s: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            m.insert("scope".into(), Value::from(s.join(" ")));
        }
        if let Some(r) = t.refresh_token() {
            m.insert("refresh_token".into(), Value::from(r.secret().clone()));
        }
        if let Some(e) = expires_in {
            m.insert("expires_at".into(), Value::from(now_secs_f64() + e as f64));
        }
        write_json(&self.tokens_path(), &Value::Object(m))
    }

    pub fn read_client(&self) -> Option<ClientInfo> {
        let m = read_json(&self.client_path())?;
        let client_id = m.get("client_id")?.as_str()?.to_string();
        Some(ClientInfo {
            client_id,
            client_secret: m
                .get("client_secret")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            redirect_uris: m
                .get("redirect_uris")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            scope: m.get("scope").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// Writes `<stem>.client.json` in the field order the reference's client model dumps.
    pub fn write_client(
        &self,
        client: &ClientInfo,
        client_name: &str,
        scope: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut m = Map::new();
        m.insert(
            "redirect_uris".into(),
            Value::from(client.redirect_uris.clone()),
        );
        m.insert(
            "token_endpoint_auth_method".into(),
            Value::from(if client.client_secret.is_some() {
                "client_secret_post"
            } else {
                "none"
            }),
        );
        m.insert(
            "grant_types".into(),
            Value::from(vec!["authorization_code", "refresh_token"]),
        );
        m.insert("response_types".into(), Value::from(vec!["code"]));
        if let Some(s) = scope.filter(|s| !s.is_empty()) {
            m.insert("scope".into(), Value::from(s));
        }
        m.insert("client_name".into(), Value::from(client_name));
        m.insert("client_id".into(), Value::from(client.client_id.clone()));
        if let Some(sec) = &client.client_secret {
            m.insert("client_secret".into(), Value::from(sec.clone()));
        }
        write_json(&self.client_path(), &Value::Object(m))
    }

    pub fn read_meta(&self) -> Option<AuthorizationMetadata> {
        serde_json::from_value(Value::Object(read_json(&self.meta_path())?)).ok()
    }

    /// Persists discovered metadata (nulls dropped). Metadata without an `issuer` is not
    /// written: the reference's model requires one, and such metadata is a synthesised fallback.
    pub fn write_meta(&self, meta: &AuthorizationMetadata) -> Result<(), StoreError> {
        if meta.issuer.is_none() {
            return Ok(());
        }
        let Ok(Value::Object(m)) = serde_json::to_value(meta) else {
            return Ok(());
        };
        let m: Map<String, Value> = m.into_iter().filter(|(_, v)| !v.is_null()).collect();
        write_json(&self.meta_path(), &Value::Object(m))
    }

    /// The token endpoint rejected a dynamically registered client: keep a backup of the client
    /// file and delete it and the metadata so the next flow registers again.
    pub fn forget_rejected_client(&self) {
        if self.client_path().is_file() {
            let _ = std::fs::copy(self.client_path(), self.client_backup_path());
            let _ = std::fs::set_permissions(
                self.client_backup_path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            );
        }
        remove(&self.client_path());
        remove(&self.meta_path());
    }
}

/// Imports used to read a token response (kept together so the trait names do not leak).
mod oauth2_types {
    pub use oauth2::TokenResponse;
}

/// rmcp's credential store over `<stem>.json`; the client id comes from `<stem>.client.json`.
/// Refreshes are serialised across processes by an exclusive `flock` on `<stem>.lock`.
pub struct FileCredentialStore {
    files: TokenFiles,
}

impl FileCredentialStore {
    pub fn new(files: TokenFiles) -> Self {
        Self { files }
    }
}

fn store_err(e: impl std::fmt::Display) -> AuthError {
    AuthError::CredentialStoreError(e.to_string())
}

#[async_trait::async_trait]
impl CredentialStore for FileCredentialStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let Some(token) = self.files.read_token_response() else {
            return Ok(None);
        };
        let client_id = self
            .files
            .read_client()
            .map(|c| c.client_id)
            .unwrap_or_default();
        let scopes = {
            use oauth2::TokenResponse;
            token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Some(StoredCredentials::new(
            client_id,
            Some(token),
            scopes,
            Some(now),
        )))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        match &credentials.token_response {
            Some(t) => self.files.write_token_response(t).map_err(store_err),
            None => {
                remove(&self.files.tokens_path());
                Ok(())
            }
        }
    }

    async fn clear(&self) -> Result<(), AuthError> {
        remove(&self.files.tokens_path());
        Ok(())
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        let path = self.files.lock_path();
        let dir = self.files.dir.clone();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            atomic::ensure_private_dir(&dir).map_err(std::io::Error::other)?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(store_err)?
        .map_err(store_err)?;
        Ok(Some(CredentialRefreshGuard::new(file)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(file_stem("linear"), "linear");
        assert_eq!(file_stem("my server/x"), "my_server_x");
        assert_eq!(file_stem("__a.b__"), "a_b");
        assert_eq!(file_stem("///"), "default");
        assert_eq!(file_stem(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn token_round_trip_keeps_layout() {
        let dir = tempfile::tempdir().unwrap();
        let files = TokenFiles::new(&Home::at(dir.path()), "srv");
        let t: OAuthTokenResponse = serde_json::from_value(serde_json::json!({
            "access_token": "at", "token_type": "bearer", "expires_in": 3600,
            "refresh_token": "rt", "scope": "read write"
        }))
        .unwrap();
        files.write_token_response(&t).unwrap();
        let raw: Value =
            serde_json::from_str(&std::fs::read_to_string(files.tokens_path()).unwrap()).unwrap();
        let keys: Vec<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "access_token",
                "token_type",
                "expires_in",
                "scope",
                "refresh_token",
                "expires_at"
            ]
        );
        assert_eq!(raw["token_type"], "Bearer");
        assert!(raw["expires_at"].as_f64().unwrap() > now_secs_f64() + 3500.0);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.tokens_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = files.read_token_response().unwrap();
        use oauth2::TokenResponse;
        assert_eq!(back.access_token().secret(), "at");
        assert!(back.expires_in().unwrap().as_secs() > 3500);
    }

    #[test]
    fn expired_expires_at_reads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        let files = TokenFiles::new(&Home::at(dir.path()), "srv");
        std::fs::create_dir_all(files.dir()).unwrap();
        std::fs::write(
            files.tokens_path(),
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"expires_at":1000.5}"#,
        )
        .unwrap();
        use oauth2::TokenResponse;
        assert_eq!(
            files
                .read_token_response()
                .unwrap()
                .expires_in()
                .unwrap()
                .as_secs(),
            0
        );
    }
}
