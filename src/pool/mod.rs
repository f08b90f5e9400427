//! Credential pools: per-provider lists of credentials with rotation, cooldowns and leases.
//!
//! [`CredentialPool`] is a snapshot of one pool plus its strategy state. Every change is a
//! read-modify-write of `auth.json` under the store lock on the **latest** file contents, so
//! concurrent processes never lose each other's entries or marks, and a long-lived process (the
//! proxy) picks up changes made by others: before each selection the pool checks whether the file
//! changed on disk (one `stat`) and re-reads it only then.
//!
//! A pool is `Send`; share one between threads with `Arc<Mutex<CredentialPool>>`.

pub mod cooldown;
pub mod entry;
pub mod manage;
pub mod report;
pub mod sanitize;
pub mod seed;
pub mod strategy;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

pub use cooldown::ErrorContext;
pub use entry::PoolEntry;
pub use seed::EnvSource;
pub use strategy::Strategy;

use crate::clock::SharedClock;
use crate::home::Home;
use crate::store::{AuthStore, Config, StoreError, StoreLock};
use entry::{STATUS_DEAD, STATUS_EXHAUSTED, STATUS_OK};

/// Errors of pool operations.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("refreshing {label} failed: {message}")]
    Refresh { label: String, message: String },
}

/// Why `remove <target>` found no single entry. Messages are the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("No credential target provided.")]
    Empty,
    #[error("Ambiguous credential label \"{0}\". Use the numeric index or entry id instead.")]
    Ambiguous(String),
    #[error("No credential #{0}.")]
    NoIndex(String),
    #[error("No credential matching \"{0}\".")]
    NoMatch(String),
}

/// OAuth token refresh, plugged in by the OAuth layer. The pool calls it for entries that
/// are about to expire (proactive) or that an upstream rejected (forced).
pub trait TokenRefresher: Send + Sync {
    /// Whether `entry` is inside its provider's refresh margin at `now`.
    fn needs_refresh(&self, pool_key: &str, entry: &PoolEntry, now: f64) -> bool;
    /// Refreshes `entry` (single-flight across processes, under the store lock) and returns
    /// the updated entry as persisted.
    fn refresh(
        &self,
        ctx: &PoolContext,
        pool_key: &str,
        entry: &PoolEntry,
    ) -> Result<PoolEntry, PoolError>;
}

/// Everything a pool reads besides `auth.json`.
#[derive(Clone)]
pub struct PoolContext {
    pub home: Home,
    pub config: Arc<Config>,
    pub env: Arc<EnvSource>,
    pub clock: SharedClock,
    pub user_home: Option<PathBuf>,
    pub refresher: Option<Arc<dyn TokenRefresher>>,
    /// `pick(n)` returns an index below `n` for the `random` strategy.
    pub pick: Arc<dyn Fn(usize) -> usize + Send + Sync>,
}

impl std::fmt::Debug for PoolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolContext")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

fn random_index(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n.max(1) as u128) as usize
}

impl PoolContext {
    /// The real environment: process env + `.env`, config.yaml, system clock.
    pub fn from_env(home: Home) -> Result<Self, StoreError> {
        let config = Config::load(&home)?;
        let env = EnvSource::from_process(&home);
        Ok(Self::new(home, config, env, crate::clock::system()))
    }

    pub fn new(home: Home, config: Config, env: EnvSource, clock: SharedClock) -> Self {
        Self {
            home,
            config: Arc::new(config),
            env: Arc::new(env),
            clock,
            user_home: crate::home::user_home(),
            refresher: None,
            pick: Arc::new(random_index),
        }
    }

    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    fn seed_inputs(&self) -> seed::SeedInputs<'_> {
        seed::SeedInputs {
            env: &self.env,
            config: &self.config,
            home: &self.home,
            user_home: self.user_home.as_ref(),
        }
    }
}

/// Identity of the `auth.json` file we last read: (inode, size, mtime ns).
type Stamp = Option<(u64, u64, i64)>;

fn stamp(home: &Home) -> Stamp {
    std::fs::metadata(home.auth_json()).ok().map(|m| {
        (
            m.ino(),
            m.size(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        )
    })
}

/// What `remove` took out.
#[derive(Debug, Clone)]
pub struct Removed {
    /// 1-based position the entry had.
    pub index: usize,
    pub entry: PoolEntry,
}

/// One provider's pool.
pub struct CredentialPool {
    key: String,
    ctx: PoolContext,
    entries: Vec<PoolEntry>,
    strategy: Strategy,
    current: Option<String>,
    leases: HashMap<String, u32>,
    /// `request_count` increments not yet written.
    pending_counts: HashMap<String, i64>,
    stamp: Stamp,
}

impl std::fmt::Debug for CredentialPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialPool")
            .field("key", &self.key)
            .field("strategy", &self.strategy)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

fn parse_entries(store: &AuthStore, key: &str) -> Vec<PoolEntry> {
    store
        .pool_entries(key)
        .into_iter()
        .map(|m| PoolEntry::from_map(key, m))
        .collect()
}

impl CredentialPool {
    /// Loads (and seeds) a pool, reading `auth.json` fresh.
    pub fn load(ctx: &PoolContext, key: &str) -> Result<Self, PoolError> {
        let store = AuthStore::load(&ctx.home)?;
        Self::load_from(ctx, &store, key)
    }

    /// Loads (and seeds) a pool from an already-read store snapshot; writes only when seeding,
    /// sanitizing or pruning changed what is on disk (then under the lock, on the latest file).
    pub fn load_from(ctx: &PoolContext, store: &AuthStore, key: &str) -> Result<Self, PoolError> {
        let key = key.trim().to_lowercase();
        let (mut entries, changed) = Self::build(ctx, store, &key);
        let mut st = stamp(&ctx.home);
        if changed {
            let lock = StoreLock::acquire(&ctx.home)?;
            let mut fresh = AuthStore::load_locked(&lock)?;
            let (e2, changed2) = Self::build(ctx, &fresh, &key);
            if changed2 {
                write_entries(&mut fresh, &key, &e2);
                fresh.save(&lock)?;
            }
            entries = e2;
            st = stamp(&ctx.home);
        }
        let strategy = Strategy::parse_lenient(ctx.config.strategy_value(&key));
        Ok(Self {
            key,
            ctx: ctx.clone(),
            entries,
            strategy,
            current: None,
            leases: HashMap::new(),
            pending_counts: HashMap::new(),
            stamp: st,
        })
    }

    /// Parses, seeds, prunes and sorts; returns whether the stored form must change.
    fn build(ctx: &PoolContext, store: &AuthStore, key: &str) -> (Vec<PoolEntry>, bool) {
        let raw = store.pool_entries(key);
        let mut entries: Vec<PoolEntry> = Vec::with_capacity(raw.len());
        let mut changed = false;
        for m in &raw {
            let e = PoolEntry::from_map(key, m);
            if needs_rewrite(key, m, &e) {
                changed = true;
            }
            entries.push(e);
        }
        let inputs = ctx.seed_inputs();
        let seeded = if key.starts_with("custom:") {
            seed::seed_custom(&mut entries, key, store, &inputs)
        } else {
            seed::seed_provider(&mut entries, key, store, &inputs)
        };
        changed |= seeded.changed;
        entries.sort_by_key(|e| e.priority);
        (entries, changed)
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }
    pub fn set_strategy(&mut self, s: Strategy) {
        self.strategy = s;
    }
    pub fn context(&self) -> &PoolContext {
        &self.ctx
    }

    /// The entries in pool order.
    pub fn entries(&self) -> &[PoolEntry] {
        &self.entries
    }

    pub fn has_credentials(&self) -> bool {
        !self.entries.is_empty()
    }

    pub fn current(&self) -> Option<&PoolEntry> {
        let id = self.current.as_ref()?;
        self.entries.iter().find(|e| &e.id == id)
    }

    /// Re-reads the pool when `auth.json` changed on disk since we last read or wrote it.
    pub fn sync_if_changed(&mut self) -> Result<bool, PoolError> {
        let now = stamp(&self.ctx.home);
        if now == self.stamp {
            return Ok(false);
        }
        let store = AuthStore::load(&self.ctx.home)?;
        let fresh = self.hydrate(parse_entries(&store, &self.key));
        self.entries = fresh;
        self.entries.sort_by_key(|e| e.priority);
        self.stamp = now;
        Ok(true)
    }

    /// Borrowed rows come back from disk without their secret; take it from our copy.
    fn hydrate(&self, mut fresh: Vec<PoolEntry>) -> Vec<PoolEntry> {
        for f in &mut fresh {
            if !sanitize::is_borrowed(&self.key, &f.source) {
                continue;
            }
            if let Some(mine) = self
                .entries
                .iter()
                .find(|m| m.id == f.id || m.source == f.source)
            {
                if f.access_token.as_deref().unwrap_or("").is_empty() {
                    f.access_token = mine.access_token.clone();
                }
                if f.refresh_token.is_none() {
                    f.refresh_token = mine.refresh_token.clone();
                }
                if f.agent_key.is_none() {
                    f.agent_key = mine.agent_key.clone();
                }
            }
        }
        fresh
    }

    /// Applies `f` to the latest on-disk entries under the store lock, writes them, and adopts
    /// them as this pool's state. Pending `request_count` increments are folded in.
    pub fn mutate<R>(&mut self, f: impl FnOnce(&mut Vec<PoolEntry>) -> R) -> Result<R, PoolError> {
        let lock = StoreLock::acquire(&self.ctx.home)?;
        let mut store = AuthStore::load_locked(&lock)?;
        let mut fresh = self.hydrate(parse_entries(&store, &self.key));
        fresh.sort_by_key(|e| e.priority);
        for e in &mut fresh {
            if let Some(n) = self.pending_counts.get(&e.id) {
                e.request_count += n;
            }
        }
        let r = f(&mut fresh);
        write_entries(&mut store, &self.key, &fresh);
        store.save(&lock)?;
        self.pending_counts.clear();
        self.entries = fresh;
        self.stamp = stamp(&self.ctx.home);
        Ok(r)
    }

    /// Available entries (pool order). With `clear_expired`, exhausted entries whose cooldown
    /// ended become `ok`; dead manual entries older than 24 h are pruned either way.
    fn available(
        &mut self,
        clear_expired: bool,
        refresh: bool,
    ) -> Result<Vec<PoolEntry>, PoolError> {
        let now = self.ctx.now();
        let mut prune_ids = Vec::new();
        let mut clear_ids = Vec::new();
        let mut synced: Vec<PoolEntry> = Vec::new();
        let mut refreshed: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let store_for_sync = if self.entries.iter().any(|e| {
            (e.status_is(STATUS_EXHAUSTED) || e.status_is(STATUS_DEAD)) && e.source == "device_code"
        }) {
            AuthStore::load(&self.ctx.home).ok()
        } else {
            None
        };
        for e in &self.entries {
            let mut e = e.clone();
            if e.auth_type == entry::AUTH_API_KEY && e.runtime_api_key(&self.key, now).is_empty() {
                continue;
            }
            if (e.status_is(STATUS_EXHAUSTED) || e.status_is(STATUS_DEAD))
                && let Some(store) = &store_for_sync
                && let Some(tokens) = singleton_tokens(store, &self.key, &e.source)
                && tokens.0.as_deref() != e.access_token.as_deref()
            {
                e.access_token = tokens.0;
                if tokens.1.is_some() {
                    e.refresh_token = tokens.1;
                }
                e.clear_status();
                synced.push(e.clone());
            }
            if e.status_is(STATUS_DEAD) {
                if e.is_manual() && e.last_status_at.is_some_and(|at| now - at > 86_400.0) {
                    prune_ids.push(e.id.clone());
                }
                continue;
            }
            if e.status_is(STATUS_EXHAUSTED) {
                if cooldown::until(&e).is_some_and(|u| now < u) {
                    continue;
                }
                if clear_expired {
                    e.clear_status();
                    e.last_status = Some(STATUS_OK.into());
                    clear_ids.push(e.id.clone());
                }
            }
            if refresh
                && let Some(r) = self.ctx.refresher.clone()
                && r.needs_refresh(&self.key, &e, now)
            {
                match r.refresh(&self.ctx, &self.key, &e) {
                    Ok(updated) => {
                        e = updated;
                        refreshed.push(e.id.clone());
                    }
                    Err(_) => continue,
                }
            }
            out.push(e);
        }
        if !prune_ids.is_empty() || !clear_ids.is_empty() || !synced.is_empty() {
            self.mutate(|fresh| {
                fresh.retain(|f| !prune_ids.contains(&f.id));
                for f in fresh.iter_mut() {
                    if clear_ids.contains(&f.id) && f.status_is(STATUS_EXHAUSTED) {
                        f.clear_status();
                        f.last_status = Some(STATUS_OK.into());
                    }
                    if let Some(s) = synced.iter().find(|s| s.id == f.id) {
                        f.access_token = s.access_token.clone();
                        f.refresh_token = s.refresh_token.clone();
                        f.clear_status();
                    }
                }
            })?;
        }
        // Refreshed entries were persisted by the refresher; keep our copy in step. (Only
        // those: a lookup per available entry made listing 1,000 credentials quadratic.)
        for a in out.iter().filter(|a| refreshed.contains(&a.id)) {
            if let Some(m) = self.entries.iter_mut().find(|m| m.id == a.id) {
                *m = a.clone();
            }
        }
        Ok(out)
    }

    /// The entry the next request would use, without moving any strategy state.
    pub fn peek(&mut self) -> Result<Option<PoolEntry>, PoolError> {
        if let Some(c) = self.current() {
            return Ok(Some(c.clone()));
        }
        Ok(self.available(false, false)?.into_iter().next())
    }

    pub fn has_available(&mut self) -> Result<bool, PoolError> {
        Ok(!self.available(false, false)?.is_empty())
    }

    /// Picks a credential per the strategy (refreshing it first when it is about to expire).
    pub fn select(&mut self) -> Result<Option<PoolEntry>, PoolError> {
        self.sync_if_changed()?;
        let avail = self.available(true, true)?;
        if avail.is_empty() {
            self.current = None;
            return Ok(None);
        }
        let pick = match self.strategy {
            Strategy::FillFirst => avail[0].clone(),
            Strategy::RoundRobin if avail.len() > 1 => {
                let pick = avail[0].clone();
                let id = pick.id.clone();
                self.mutate(|fresh| {
                    if let Some(pos) = fresh.iter().position(|e| e.id == id) {
                        let e = fresh.remove(pos);
                        fresh.push(e);
                    }
                    for (i, e) in fresh.iter_mut().enumerate() {
                        e.priority = i as i64;
                    }
                })?;
                pick
            }
            Strategy::RoundRobin => avail[0].clone(),
            Strategy::LeastUsed if avail.len() > 1 => {
                let best = avail
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, e)| (e.request_count, *i))
                    .map(|(_, e)| e.id.clone())
                    .expect("non-empty");
                self.bump_count(&best);
                self.entries
                    .iter()
                    .find(|e| e.id == best)
                    .cloned()
                    .expect("present")
            }
            Strategy::LeastUsed => avail[0].clone(),
            Strategy::Random => avail[(self.ctx.pick)(avail.len()).min(avail.len() - 1)].clone(),
        };
        self.current = Some(pick.id.clone());
        Ok(Some(pick))
    }

    fn bump_count(&mut self, id: &str) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            e.request_count += 1;
            *self.pending_counts.entry(id.to_string()).or_default() += 1;
        }
    }

    /// Counts one request served by `id` (kept in memory until [`flush`](Self::flush) or the
    /// next write).
    pub fn mark_used(&mut self, id: &str) {
        self.bump_count(id);
    }

    /// Writes pending `request_count` increments.
    pub fn flush(&mut self) -> Result<(), PoolError> {
        if self.pending_counts.is_empty() {
            return Ok(());
        }
        self.mutate(|_| ())
    }

    /// Marks the credential that failed (the one whose key is `api_key_hint`, else the current
    /// one, else a fresh selection) and returns the next available credential.
    pub fn mark_exhausted_and_rotate(
        &mut self,
        status: Option<u16>,
        ctx: &ErrorContext,
        api_key_hint: Option<&str>,
    ) -> Result<Option<PoolEntry>, PoolError> {
        self.sync_if_changed()?;
        let now = self.ctx.now();
        let target = match api_key_hint.filter(|h| !h.is_empty()) {
            Some(h) => self
                .entries
                .iter()
                .find(|e| e.runtime_api_key(&self.key, now) == h)
                .cloned(),
            None => None,
        };
        let target = match target.or_else(|| self.current().cloned()) {
            Some(t) => Some(t),
            None => self.select()?,
        };
        let Some(target) = target else {
            return Ok(None);
        };
        self.mark(&target.id, status.map(i64::from), ctx)?;
        self.current = None;
        self.select()
    }

    /// Marks one entry exhausted (or dead) and persists it.
    pub fn mark(
        &mut self,
        id: &str,
        status: Option<i64>,
        ctx: &ErrorContext,
    ) -> Result<(), PoolError> {
        let now = self.ctx.now();
        self.mutate(|fresh| {
            if let Some(e) = fresh.iter_mut().find(|e| e.id == id) {
                cooldown::mark(e, status, ctx, now);
            }
        })
    }

    /// Forces a refresh of the current credential (after an upstream 401). A credential that
    /// cannot be refreshed is marked exhausted (code unknown) and `None` is returned.
    pub fn try_refresh_current(&mut self) -> Result<Option<PoolEntry>, PoolError> {
        let Some(cur) = self.current().cloned() else {
            return Ok(None);
        };
        let refreshable = cur.auth_type == entry::AUTH_OAUTH
            && cur.refresh_token.as_deref().is_some_and(|r| !r.is_empty());
        if refreshable && let Some(r) = self.ctx.refresher.clone() {
            match r.refresh(&self.ctx, &self.key, &cur) {
                Ok(updated) => {
                    if let Some(m) = self.entries.iter_mut().find(|m| m.id == updated.id) {
                        *m = updated.clone();
                    }
                    self.stamp = stamp(&self.ctx.home);
                    return Ok(Some(updated));
                }
                Err(_) => {
                    self.sync_if_changed()?;
                }
            }
        }
        self.mark(&cur.id, None, &ErrorContext::default())?;
        Ok(None)
    }

    /// Clears status and error fields of every entry; returns how many were cooling down or dead.
    pub fn reset_statuses(&mut self) -> Result<usize, PoolError> {
        let needs = self.entries.iter().any(|e| {
            e.last_status.is_some() || e.last_status_at.is_some() || e.last_error_code.is_some()
        });
        if !needs {
            return Ok(0);
        }
        self.mutate(|fresh| {
            let mut n = 0;
            for e in fresh.iter_mut() {
                let was_bad = e.status_is(STATUS_EXHAUSTED) || e.status_is(STATUS_DEAD);
                if e.clear_status() && was_bad {
                    n += 1;
                }
            }
            n
        })
    }

    /// Finds the entry `target` names: exact id, then a unique case-insensitive label, then a
    /// 1-based index.
    pub fn resolve_target(&self, target: &str) -> Result<(usize, PoolEntry), TargetError> {
        let t = target.trim();
        if t.is_empty() {
            return Err(TargetError::Empty);
        }
        if let Some(i) = self.entries.iter().position(|e| e.id == t) {
            return Ok((i + 1, self.entries[i].clone()));
        }
        let lower = t.to_lowercase();
        let by_label: Vec<usize> = (0..self.entries.len())
            .filter(|i| self.entries[*i].label.to_lowercase() == lower)
            .collect();
        match by_label.len() {
            1 => return Ok((by_label[0] + 1, self.entries[by_label[0]].clone())),
            n if n > 1 => return Err(TargetError::Ambiguous(t.to_string())),
            _ => {}
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return match t.parse::<usize>() {
                Ok(n) if (1..=self.entries.len()).contains(&n) => {
                    Ok((n, self.entries[n - 1].clone()))
                }
                _ => Err(TargetError::NoIndex(t.to_string())),
            };
        }
        Err(TargetError::NoMatch(t.to_string()))
    }

    /// Removes the entry `target` names; remaining priorities become 0..n-1.
    pub fn remove(&mut self, target: &str) -> Result<Removed, PoolError> {
        let (index, entry) = self.resolve_target(target)?;
        let id = entry.id.clone();
        self.mutate(|fresh| {
            fresh.retain(|e| e.id != id);
            for (i, e) in fresh.iter_mut().enumerate() {
                e.priority = i as i64;
            }
        })?;
        if self.current.as_deref() == Some(&entry.id) {
            self.current = None;
        }
        Ok(Removed { index, entry })
    }

    /// Appends `entry` with the next free priority; returns its 1-based position.
    pub fn add(&mut self, mut entry: PoolEntry) -> Result<usize, PoolError> {
        entry.normalize_auth_type(&self.key);
        self.mutate(|fresh| {
            entry.priority = fresh.iter().map(|e| e.priority).max().map_or(0, |m| m + 1);
            fresh.push(entry);
            fresh.len()
        })
    }

    /// A label `base-N` (N from `count + 1` up) that no entry has yet.
    pub fn next_free_label(&self, base: &str) -> String {
        free_label(&self.entries, base)
    }

    /// Appends `entry` like [`Self::add`], labelled with the first free `base-N` among the
    /// entries on disk at write time (under the lock), so parallel adds never share a default
    /// label. Returns the 1-based position and the label.
    pub fn add_with_free_label(
        &mut self,
        mut entry: PoolEntry,
        base: &str,
    ) -> Result<(usize, String), PoolError> {
        entry.normalize_auth_type(&self.key);
        self.mutate(|fresh| {
            entry.priority = fresh.iter().map(|e| e.priority).max().map_or(0, |m| m + 1);
            entry.label = free_label(fresh, base);
            let label = entry.label.clone();
            fresh.push(entry);
            (fresh.len(), label)
        })
    }

    /// Takes a lease on a credential (soft cap 1 per credential) for a parallel worker.
    pub fn acquire_lease(&mut self, id: Option<&str>) -> Result<Option<String>, PoolError> {
        if let Some(id) = id {
            *self.leases.entry(id.to_string()).or_default() += 1;
            self.current = Some(id.to_string());
            return Ok(Some(id.to_string()));
        }
        let avail = self.available(true, true)?;
        if avail.is_empty() {
            return Ok(None);
        }
        let below: Vec<&PoolEntry> = avail
            .iter()
            .filter(|e| self.leases.get(&e.id).copied().unwrap_or(0) < 1)
            .collect();
        let pool: Vec<&PoolEntry> = if below.is_empty() {
            avail.iter().collect()
        } else {
            below
        };
        let pick = pool
            .iter()
            .min_by_key(|e| (self.leases.get(&e.id).copied().unwrap_or(0), e.priority))
            .map(|e| e.id.clone())
            .expect("non-empty");
        *self.leases.entry(pick.clone()).or_default() += 1;
        self.current = Some(pick.clone());
        Ok(Some(pick))
    }

    pub fn release_lease(&mut self, id: &str) {
        if let Some(n) = self.leases.get_mut(id) {
            if *n <= 1 {
                self.leases.remove(id);
            } else {
                *n -= 1;
            }
        }
    }

    pub fn lease_count(&self, id: &str) -> u32 {
        self.leases.get(id).copied().unwrap_or(0)
    }
}

fn write_entries(store: &mut AuthStore, key: &str, entries: &[PoolEntry]) {
    store.set_pool_entries(
        key,
        entries
            .iter()
            .map(|e| serde_json::Value::Object(e.to_map(key)))
            .collect(),
    );
}

/// `(access_token, refresh_token)` a login stored for a singleton-seeded source.
fn singleton_tokens(
    store: &AuthStore,
    key: &str,
    source: &str,
) -> Option<(Option<String>, Option<String>)> {
    if source != "device_code" {
        return None;
    }
    let state = store.provider_state(key)?;
    let get = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        m.get(k).and_then(|v| v.as_str()).map(str::to_string)
    };
    match key {
        "nous" => Some((get(state, "access_token"), get(state, "refresh_token"))),
        "openai-codex" | "xai-oauth" => {
            let t = state.get("tokens")?.as_object()?;
            Some((get(t, "access_token"), get(t, "refresh_token")))
        }
        _ => None,
    }
    .filter(|(a, _)| a.as_deref().is_some_and(|a| !a.is_empty()))
}

#[cfg(test)]
mod tests;

/// Whether loading must rewrite a stored entry: a borrowed row that still holds a secret
/// (legacy plaintext), a missing id (so ids stay stable), or an `sk-ant-oat` token whose
/// auth type is not `oauth`. Nothing else: a store that only differs in form (an integer
/// timestamp, a missing default field) is left alone, so `auth list` does not write it.
/// (Comparing the full re-serialized entry also made loading 1,000 entries slow.)
fn needs_rewrite(key: &str, m: &serde_json::Map<String, serde_json::Value>, e: &PoolEntry) -> bool {
    let id_missing = m
        .get("id")
        .and_then(serde_json::Value::as_str)
        .is_none_or(str::is_empty);
    let stored_type = m
        .get("auth_type")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(entry::AUTH_API_KEY);
    let borrowed_secret = sanitize::is_borrowed(key, &e.source)
        && m.iter()
            .any(|(k, v)| !v.is_null() && sanitize::is_secret_like(k));
    id_missing || stored_type != e.auth_type || borrowed_secret
}

/// The first `base-N` (N from `entries.len() + 1` up) that no entry uses as its label.
fn free_label(entries: &[PoolEntry], base: &str) -> String {
    let mut n = entries.len() + 1;
    loop {
        let candidate = format!("{base}-{n}");
        if !entries
            .iter()
            .any(|e| e.label.eq_ignore_ascii_case(&candidate))
        {
            return candidate;
        }
        n += 1;
    }
}
