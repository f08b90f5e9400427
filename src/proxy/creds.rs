//! Credentials for the proxy: an in-memory snapshot of the pool that requests read without
//! touching the disk, and one background worker that owns every store access (re-reading
//! `auth.json` only when it changed, writing marks and request counts in batches, refreshing
//! OAuth entries off the request path).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use tokio::sync::{mpsc, oneshot};

use super::adapter::Adapter;
use crate::pool::entry::{AUTH_OAUTH, STATUS_DEAD, STATUS_EXHAUSTED};
use crate::pool::{CredentialPool, ErrorContext, PoolContext, PoolEntry, Strategy, cooldown};

/// How often the worker checks `auth.json` for changes made by other processes (one `stat`).
pub const SYNC_INTERVAL: Duration = Duration::from_millis(1000);
/// How often pending `request_count` increments are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// One credential as requests see it. Never printed: `Debug` shows only the label.
pub struct Cred {
    pub id: Arc<str>,
    pub label: Arc<str>,
    /// The upstream key; empty when the entry must be refreshed or minted first.
    pub key: Arc<str>,
    pub header: Option<(HeaderName, HeaderValue)>,
    pub base: Arc<str>,
    /// OAuth entry with a refresh token, and a refresher is plugged in.
    pub refreshable: bool,
    pub dead: bool,
    /// Cooling down until this epoch time (exhausted entries).
    pub until: Option<f64>,
    pub exhausted: bool,
    pub request_count: i64,
}

impl std::fmt::Debug for Cred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cred")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Cred {
    fn cooling(&self, now: f64) -> bool {
        self.exhausted && self.until.is_some_and(|u| now < u)
    }
    fn usable(&self, now: f64) -> bool {
        !self.dead && !self.cooling(now) && (!self.key.is_empty() || self.refreshable)
    }
}

/// What the pool holds right now.
#[derive(Debug)]
pub struct Snapshot {
    pub creds: Vec<Arc<Cred>>,
    pub strategy: Strategy,
}

/// The outcome of picking a credential for a request.
#[derive(Debug)]
pub enum Pick {
    Cred(Arc<Cred>),
    /// Every credential is cooling down; the earliest is back in this many seconds.
    AllCooling(u64),
    /// No credential can serve (none at all, or all dead).
    Nothing,
}

/// The outcome of a forced refresh.
#[derive(Debug)]
pub enum Refreshed {
    Fresh(Arc<Cred>),
    /// Not an OAuth entry, or no refresher: mark and rotate.
    NotRefreshable,
    /// The login is gone (quarantined, revoked): mark and rotate.
    Terminal(String),
    /// Network, 5xx, timeout: tell the client to retry later.
    Transient(String),
}

enum Job {
    Mark {
        id: Arc<str>,
        code: Option<i64>,
        ctx: ErrorContext,
    },
    Flush(oneshot::Sender<()>),
}

/// Shared by every request.
pub struct Credentials {
    pub adapter: Arc<dyn Adapter>,
    ctx: PoolContext,
    pool: Arc<Mutex<CredentialPool>>,
    snap: RwLock<Arc<Snapshot>>,
    rr: AtomicUsize,
    pending: Mutex<HashMap<Arc<str>, i64>>,
    gate: tokio::sync::Mutex<()>,
    jobs: mpsc::UnboundedSender<Job>,
    jobs_rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    last_label: Mutex<Option<Arc<str>>>,
    pub served: AtomicU64,
    /// Something `proxy status` shows changed since the state file was last written.
    pub status_dirty: AtomicBool,
    refresh_timeout: Duration,
    /// Entries whose proactive refresh failed, and when: retried after [`PROACTIVE_BACKOFF`].
    proactive_failed: Mutex<HashMap<String, std::time::Instant>>,
}

/// How long a failed proactive refresh is not retried by the worker (a request still may).
pub const PROACTIVE_BACKOFF: Duration = Duration::from_secs(30);

fn build(adapter: &dyn Adapter, ctx: &PoolContext, pool: &CredentialPool) -> Snapshot {
    let now = ctx.now();
    let creds = pool
        .entries()
        .iter()
        .map(|e| {
            let k = adapter.bearer(e, now);
            let refreshable = e.auth_type == AUTH_OAUTH
                && e.refresh_token.as_deref().is_some_and(|r| !r.is_empty())
                && ctx.refresher.is_some();
            Arc::new(Cred {
                id: e.id.as_str().into(),
                label: e.label.as_str().into(),
                header: if k.is_empty() {
                    None
                } else {
                    adapter.credential_header(e, &k)
                },
                key: k.into(),
                base: adapter.base_url(ctx, e).into(),
                refreshable,
                dead: e.status_is(STATUS_DEAD),
                until: cooldown::until(e),
                exhausted: e.status_is(STATUS_EXHAUSTED),
                request_count: e.request_count,
            })
        })
        .filter(|c: &Arc<Cred>| {
            // An API-key row without a key (an un-hydrated borrowed row) is not a credential.
            !(c.key.is_empty() && !c.refreshable && !is_oauth(pool, &c.id))
        })
        .collect();
    Snapshot {
        creds,
        strategy: pool.strategy(),
    }
}

fn is_oauth(pool: &CredentialPool, id: &str) -> bool {
    pool.entries()
        .iter()
        .any(|e| e.id == id && e.auth_type == AUTH_OAUTH)
}

fn random_index(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n.max(1) as u128) as usize
}

impl Credentials {
    /// Wraps a loaded pool. Call [`spawn_worker`](Self::spawn_worker) once inside a runtime.
    pub fn new(
        adapter: Arc<dyn Adapter>,
        ctx: PoolContext,
        pool: CredentialPool,
        refresh_timeout: Duration,
    ) -> Arc<Self> {
        let snap = build(adapter.as_ref(), &ctx, &pool);
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            adapter,
            ctx,
            pool: Arc::new(Mutex::new(pool)),
            snap: RwLock::new(Arc::new(snap)),
            rr: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            gate: tokio::sync::Mutex::new(()),
            jobs: tx,
            jobs_rx: Mutex::new(Some(rx)),
            last_label: Mutex::new(None),
            served: AtomicU64::new(0),
            status_dirty: AtomicBool::new(true),
            refresh_timeout,
            proactive_failed: Mutex::new(HashMap::new()),
        })
    }

    pub fn now(&self) -> f64 {
        self.ctx.now()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().expect("snapshot lock").clone()
    }

    fn publish(&self, s: Snapshot) {
        *self.snap.write().expect("snapshot lock") = Arc::new(s);
        self.status_dirty.store(true, Ordering::Relaxed);
    }

    /// Whether any credential could serve a request now (for `/health`).
    pub fn authenticated(&self) -> bool {
        let now = self.ctx.now();
        self.snapshot().creds.iter().any(|c| c.usable(now))
    }

    pub fn current_label(&self) -> Option<Arc<str>> {
        self.last_label.lock().expect("label lock").clone()
    }

    /// Picks a credential per the pool's strategy, skipping `skip` (ids tried by this request).
    pub fn pick(&self, skip: &[Arc<str>]) -> Pick {
        let now = self.ctx.now();
        let snap = self.snapshot();
        let avail: Vec<&Arc<Cred>> = snap
            .creds
            .iter()
            .filter(|c| c.usable(now) && !skip.iter().any(|s| *s == c.id))
            .collect();
        if avail.is_empty() {
            let earliest = snap
                .creds
                .iter()
                .filter(|c| !c.dead && c.cooling(now))
                .filter_map(|c| c.until)
                .fold(None, |m: Option<f64>, u| Some(m.map_or(u, |m| m.min(u))));
            return match earliest {
                Some(u) if skip.is_empty() => Pick::AllCooling((u - now).ceil().max(1.0) as u64),
                _ => Pick::Nothing,
            };
        }
        let chosen = match snap.strategy {
            Strategy::FillFirst => avail[0],
            Strategy::RoundRobin => avail[self.rr.fetch_add(1, Ordering::Relaxed) % avail.len()],
            Strategy::Random => avail[random_index(avail.len())],
            Strategy::LeastUsed => {
                let pending = self.pending.lock().expect("pending lock");
                avail
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, c)| {
                        (
                            c.request_count + pending.get(&c.id).copied().unwrap_or(0),
                            *i,
                        )
                    })
                    .map(|(_, c)| *c)
                    .expect("non-empty")
            }
        };
        Pick::Cred(chosen.clone())
    }

    /// Counts one upstream request sent with `c` (written to `auth.json` in batches).
    pub fn count(&self, c: &Cred) {
        self.served.fetch_add(1, Ordering::Relaxed);
        *self
            .pending
            .lock()
            .expect("pending lock")
            .entry(c.id.clone())
            .or_default() += 1;
        let mut last = self.last_label.lock().expect("label lock");
        if last.as_deref() != Some(&*c.label) {
            *last = Some(c.label.clone());
        }
        self.status_dirty.store(true, Ordering::Relaxed);
    }

    /// Marks `c` exhausted (or dead) at once in memory, and on disk by the worker.
    pub fn mark(&self, c: &Cred, code: u16, ctx: ErrorContext) {
        let now = self.ctx.now();
        let (reason, _msg, reset) = ctx.normalize(now);
        let dead = cooldown::is_dead_reason(Some(code as i64), reason.as_deref());
        let until = reset.unwrap_or(now + cooldown::ttl(Some(code as i64)));
        {
            let mut guard = self.snap.write().expect("snapshot lock");
            let creds = guard
                .creds
                .iter()
                .map(|x| {
                    if x.id == c.id {
                        Arc::new(Cred {
                            id: x.id.clone(),
                            label: x.label.clone(),
                            key: x.key.clone(),
                            header: x.header.clone(),
                            base: x.base.clone(),
                            refreshable: x.refreshable,
                            dead,
                            until: Some(until),
                            exhausted: !dead,
                            request_count: x.request_count,
                        })
                    } else {
                        x.clone()
                    }
                })
                .collect();
            *guard = Arc::new(Snapshot {
                creds,
                strategy: guard.strategy,
            });
        }
        self.status_dirty.store(true, Ordering::Relaxed);
        let _ = self.jobs.send(Job::Mark {
            id: c.id.clone(),
            code: Some(code as i64),
            ctx,
        });
    }

    /// Forces a refresh of `c` after an upstream 401 (or mints a missing key). Concurrent
    /// callers share one refresh: whoever comes second finds the key already changed.
    pub async fn refresh(self: &Arc<Self>, c: &Cred) -> Refreshed {
        if !c.refreshable {
            return Refreshed::NotRefreshable;
        }
        let _g = self.gate.lock().await;
        if let Some(now) = self.snapshot().creds.iter().find(|x| x.id == c.id)
            && !now.key.is_empty()
            && now.key != c.key
        {
            return Refreshed::Fresh(now.clone());
        }
        let me = self.clone();
        let id = c.id.clone();
        let failed: Arc<str> = c.key.clone();
        let job = tokio::task::spawn_blocking(move || me.refresh_blocking(&id, &failed));
        match tokio::time::timeout(self.refresh_timeout + Duration::from_secs(5), job).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Refreshed::Transient("refresh task failed".into()),
            Err(_) => Refreshed::Transient("credential refresh timed out".into()),
        }
    }

    fn refresh_blocking(&self, id: &str, failed: &str) -> Refreshed {
        let mut pool = self.pool.lock().expect("pool lock");
        let _ = pool.sync_if_changed();
        let now = self.ctx.now();
        let find = |pool: &CredentialPool| pool.entries().iter().find(|e| e.id == id).cloned();
        let Some(entry) = find(&pool) else {
            self.publish(build(self.adapter.as_ref(), &self.ctx, &pool));
            return Refreshed::Terminal("the credential was removed".into());
        };
        let on_disk = self.adapter.bearer(&entry, now);
        if !on_disk.is_empty() && on_disk != failed {
            // Another process (or an earlier refresh) already rotated it.
            return self.fresh(&pool, id);
        }
        let Some(refresher) = self.ctx.refresher.clone() else {
            return Refreshed::NotRefreshable;
        };
        let key = pool.key().to_string();
        let result = refresher.refresh(&self.ctx, &key, &entry);
        let _ = pool.sync_if_changed();
        match result {
            Ok(_) => self.fresh(&pool, id),
            Err(e) => {
                let msg = e.to_string();
                let after = find(&pool);
                let snap = build(self.adapter.as_ref(), &self.ctx, &pool);
                self.publish(snap);
                match after {
                    Some(a)
                        if !a.status_is(STATUS_DEAD)
                            && a.refresh_token.as_deref().is_some_and(|r| !r.is_empty()) =>
                    {
                        let k = self.adapter.bearer(&a, now);
                        if !k.is_empty() && k != failed {
                            return self.fresh(&pool, id);
                        }
                        Refreshed::Transient(msg)
                    }
                    _ => Refreshed::Terminal(msg),
                }
            }
        }
    }

    fn fresh(&self, pool: &CredentialPool, id: &str) -> Refreshed {
        let snap = build(self.adapter.as_ref(), &self.ctx, pool);
        let c = snap.creds.iter().find(|c| &*c.id == id).cloned();
        self.publish(snap);
        match c {
            Some(c) if !c.key.is_empty() => Refreshed::Fresh(c),
            _ => Refreshed::Transient("the refreshed credential holds no usable key".into()),
        }
    }

    /// Writes pending marks and request counts now (shutdown).
    pub async fn flush(self: &Arc<Self>) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).is_ok() {
            let _ = rx.await;
        } else {
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.work(Vec::new(), true)).await;
        }
    }

    /// Starts the background worker (store re-reads, batched writes, proactive refreshes).
    pub fn spawn_worker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut rx = self
            .jobs_rx
            .lock()
            .expect("jobs lock")
            .take()
            .expect("worker started once");
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_flush = tokio::time::Instant::now();
            loop {
                let mut jobs = Vec::new();
                tokio::select! {
                    _ = tick.tick() => {}
                    j = rx.recv() => match j {
                        Some(j) => jobs.push(j),
                        None => break,
                    },
                }
                while let Ok(j) = rx.try_recv() {
                    jobs.push(j);
                }
                let mut replies = Vec::new();
                let mut marks = Vec::new();
                for j in jobs {
                    match j {
                        Job::Flush(tx) => replies.push(tx),
                        m @ Job::Mark { .. } => marks.push(m),
                    }
                }
                let flush = !replies.is_empty() || last_flush.elapsed() >= FLUSH_INTERVAL;
                if flush {
                    last_flush = tokio::time::Instant::now();
                }
                let needs_refresh = me.proactive_candidates();
                if !needs_refresh.is_empty() {
                    let _g = me.gate.lock().await;
                    let w = me.clone();
                    let _ = tokio::task::spawn_blocking(move || w.proactive(&needs_refresh)).await;
                }
                let w = me.clone();
                let _ = tokio::task::spawn_blocking(move || w.work(marks, flush)).await;
                for r in replies {
                    let _ = r.send(());
                }
            }
        })
    }

    fn proactive_candidates(&self) -> Vec<String> {
        let Some(r) = self.ctx.refresher.as_ref() else {
            return vec![];
        };
        let now = self.ctx.now();
        let Ok(pool) = self.pool.try_lock() else {
            return vec![];
        };
        let failed = self.proactive_failed.lock().expect("backoff lock");
        pool.entries()
            .iter()
            .filter(|e| {
                e.auth_type == AUTH_OAUTH
                    && !e.status_is(STATUS_DEAD)
                    && failed
                        .get(&e.id)
                        .is_none_or(|t| t.elapsed() >= PROACTIVE_BACKOFF)
                    && r.needs_refresh(pool.key(), e, now)
            })
            .map(|e| e.id.clone())
            .collect()
    }

    fn proactive(&self, ids: &[String]) {
        let Some(r) = self.ctx.refresher.clone() else {
            return;
        };
        let mut pool = self.pool.lock().expect("pool lock");
        let _ = pool.sync_if_changed();
        let key = pool.key().to_string();
        let now = self.ctx.now();
        for id in ids {
            let Some(e) = pool.entries().iter().find(|e| &e.id == id).cloned() else {
                continue;
            };
            if r.needs_refresh(&key, &e, now) {
                let mut failed = self.proactive_failed.lock().expect("backoff lock");
                match r.refresh(&self.ctx, &key, &e) {
                    Ok(_) => failed.remove(id),
                    Err(_) => failed.insert(id.clone(), std::time::Instant::now()),
                };
            }
        }
        let _ = pool.sync_if_changed();
        self.publish(build(self.adapter.as_ref(), &self.ctx, &pool));
    }

    /// One worker step, on a blocking thread: write marks, maybe flush counts, re-read the
    /// store if it changed, publish a new snapshot when anything moved.
    fn work(&self, marks: Vec<Job>, flush: bool) {
        let mut pool = self.pool.lock().expect("pool lock");
        let mut changed = false;
        for m in marks {
            if let Job::Mark { id, code, ctx } = m {
                let _ = pool.mark(&id, code, &ctx);
                changed = true;
            }
        }
        if flush {
            let pending = std::mem::take(&mut *self.pending.lock().expect("pending lock"));
            if !pending.is_empty() {
                for (id, n) in pending {
                    for _ in 0..n {
                        pool.mark_used(&id);
                    }
                }
                if pool.flush().is_ok() {
                    changed = true;
                }
            }
        }
        if let Ok(true) = pool.sync_if_changed() {
            changed = true;
        }
        if changed {
            self.publish(build(self.adapter.as_ref(), &self.ctx, &pool));
        }
    }
}

/// A description of a pool's readiness for `proxy status` (no network, no refresh).
pub fn readiness(adapter: &dyn Adapter, ctx: &PoolContext, entries: &[PoolEntry]) -> String {
    let now = ctx.now();
    if entries.is_empty() {
        return "not logged in".into();
    }
    let usable: Vec<&PoolEntry> = entries
        .iter()
        .filter(|e| {
            !e.status_is(STATUS_DEAD)
                && !cooldown::cooling(e, now)
                && (!adapter.bearer(e, now).is_empty()
                    || (e.auth_type == AUTH_OAUTH && e.refresh_token.is_some()))
        })
        .collect();
    let n = entries.len();
    let plural = if n == 1 { "" } else { "s" };
    if usable.is_empty() {
        let cooling = entries.iter().any(|e| cooldown::cooling(e, now));
        return if cooling {
            format!("all {n} credential{plural} cooling down")
        } else {
            format!("credentials need attention ({n} credential{plural}, none usable)")
        };
    }
    format!(
        "ready ({} of {n} credential{plural} available)",
        usable.len()
    )
}
