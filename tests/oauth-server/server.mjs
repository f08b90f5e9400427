#!/usr/bin/env node
// Local OAuth 2.0 / OpenID Connect test server for the hermes integration tests.
//
// Built on the `oidc-provider` npm package. See README.md in this directory for the
// configuration format, the test-only `/__test/*` endpoints and a curl walk-through.
//
// Contract with test harnesses:
//   * listens on 127.0.0.1, port from --port / PORT (default 0 = ephemeral);
//   * prints exactly one line to stdout, `LISTENING http://127.0.0.1:<port>`, once it
//     accepts connections, and nothing else ever (all diagnostics go to stderr);
//   * exits when its stdin (a pipe or socket) reaches EOF, when its parent process
//     goes away, and on SIGTERM / SIGINT / SIGHUP.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------------------------------
// stdout hygiene: the harness reads stdout for the LISTENING line. oidc-provider prints its
// notices with console.info, so route every console method to stderr *before* importing it.
// ---------------------------------------------------------------------------------------
for (const method of ['log', 'info', 'debug', 'trace']) {
  console[method] = (...args) => console.error(...args);
}
// We deliberately hand oidc-provider pre-read request bodies in a few places (see
// `rewriteFormBody`); silence its one-time warning about that.
const originalWarn = console.warn.bind(console);
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('already parsed request body detected')) return;
  originalWarn(...args);
};

// A harness may close its end of stdout/stderr early; never crash on EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const DEBUG = /^(1|true|yes)$/i.test(process.env.OAUTH_SERVER_DEBUG ?? '');
const debug = DEBUG ? (...args) => console.error('[oauth-server]', ...args) : () => {};

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const GRANT_ALIASES = {
  device_code: DEVICE_GRANT,
  device: DEVICE_GRANT,
  code: 'authorization_code',
  refresh: 'refresh_token',
};
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const INTERNAL_HEADER = 'x-oauth-test-internal';
const ACCOUNT_HEADER = 'x-oauth-test-account';

class ConfigError extends Error {}

// ---------------------------------------------------------------------------------------
// Command line / environment
// ---------------------------------------------------------------------------------------
function parseCommandLine() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        port: { type: 'string', short: 'p' },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (err) {
    throw new ConfigError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stderr.write(
      'usage: node server.mjs [--port N] [--config FILE|JSON]\n'
        + '  env: PORT, OAUTH_SERVER_CONFIG (file path or inline JSON), OAUTH_SERVER_DEBUG=1,\n'
        + '       OAUTH_SERVER_STDIN=auto|watch|ignore, OAUTH_SERVER_WATCH_PARENT=1|0,\n'
        + '       OAUTH_SERVER_MAX_LIFETIME=<seconds>\n',
    );
    process.exit(0);
  }
  if (positionals.length > 1) {
    throw new ConfigError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  }
  const portText = values.port ?? process.env.PORT ?? '0';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`invalid port: ${portText}`);
  }
  const configSource = values.config ?? positionals[0] ?? process.env.OAUTH_SERVER_CONFIG ?? '';
  return { port, configSource };
}

function readRawConfig(source) {
  if (!source) return {};
  let text = source;
  if (!source.trimStart().startsWith('{')) {
    try {
      text = fs.readFileSync(source, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${source}: ${err.message}`);
    }
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config is not valid JSON: ${err.message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('config must be a JSON object');
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------
// Configuration: defaults, validation, placeholder substitution
// ---------------------------------------------------------------------------------------
const TOP_LEVEL_KEYS = new Set([
  '$schema', '$comment',
  'accessTokenTtl', 'refreshTokenTtl', 'idTokenTtl', 'authorizationCodeTtl', 'deviceCodeTtl',
  'rotateRefreshTokens', 'refreshTokenRequiresOfflineAccess', 'offlineAccessRequiresConsentPrompt',
  'accessTokenFormat', 'pkceRequired',
  'scopes', 'defaultScope', 'accounts', 'defaultAccount', 'clients', 'resources', 'defaultResource', 'device',
  'interactionMode', 'registration',
]);
const DEVICE_KEYS = new Set([
  'interval', 'enforceInterval', 'autoApproveOnVisit', 'autoApproveAfterPolls',
  'userCodeCharset', 'userCodeMask',
]);

function positiveInt(value, name) {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer (seconds), got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeInt(value, name) {
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function bool(value, name) {
  if (typeof value !== 'boolean') throw new ConfigError(`${name} must be a boolean`);
  return value;
}

function oneOf(value, allowed, name) {
  if (!allowed.includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function scopeList(value, name) {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value) && value.every((s) => typeof s === 'string')) {
    return value.flatMap((s) => s.split(' ')).filter(Boolean);
  }
  throw new ConfigError(`${name} must be a space separated string or an array of strings`);
}

function makeSubstituter(issuer, port) {
  return (value) => (typeof value === 'string'
    ? value.replaceAll('{issuer}', issuer).replaceAll('{port}', String(port))
    : value);
}

function isNativeRedirect(uri) {
  const parsed = URL.parse(uri);
  if (!parsed) return false;
  if (parsed.protocol === 'http:') return LOOPBACK_HOSTS.has(parsed.hostname);
  return parsed.protocol !== 'https:';
}

function normalizeClient(raw, index, subst) {
  const where = `clients[${index}]`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${where} must be an object`);
  }
  const {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    response_types: responseTypes,
    scope,
    token_endpoint_auth_method: authMethod,
    application_type: applicationType,
    ...rest
  } = raw;
  if (typeof clientId !== 'string' || !clientId) {
    throw new ConfigError(`${where}.client_id must be a non-empty string`);
  }
  const grants = (grantTypes ?? ['authorization_code', 'refresh_token', DEVICE_GRANT]).map((g) => {
    if (typeof g !== 'string') throw new ConfigError(`${where}.grant_types must be strings`);
    return GRANT_ALIASES[g] ?? g;
  });
  const isPublic = clientSecret === undefined || clientSecret === null || clientSecret === '';
  const usesRedirects = grants.includes('authorization_code') || grants.includes('implicit');
  const uris = (redirectUris ?? (usesRedirects
    ? ['http://127.0.0.1/callback', 'http://localhost/callback']
    : [])).map(subst);
  if (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string')) {
    throw new ConfigError(`${where}.redirect_uris must be an array of strings`);
  }
  const metadata = {
    ...rest,
    client_id: clientId,
    grant_types: grants,
    response_types: responseTypes ?? (usesRedirects ? ['code'] : []),
    redirect_uris: uris,
    token_endpoint_auth_method: authMethod ?? (isPublic ? 'none' : 'client_secret_basic'),
    // RFC 8252 7.3: loopback redirect URIs match on any port only for native clients.
    application_type: applicationType ?? (uris.every(isNativeRedirect) ? 'native' : 'web'),
  };
  if (!isPublic) metadata.client_secret = String(clientSecret);
  if (scope !== undefined) metadata.scope = scopeList(scope, `${where}.scope`).join(' ');
  return metadata;
}

function normalizeAccount(raw, index) {
  const where = `accounts[${index}]`;
  if (!raw || typeof raw !== 'object' || typeof raw.id !== 'string' || !raw.id) {
    throw new ConfigError(`${where}.id must be a non-empty string`);
  }
  const claims = raw.claims ?? {};
  const accessTokenClaims = raw.accessTokenClaims ?? {};
  for (const [k, v] of [['claims', claims], ['accessTokenClaims', accessTokenClaims]]) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      throw new ConfigError(`${where}.${k} must be an object`);
    }
  }
  return {
    id: raw.id,
    email: raw.email ?? (raw.id.includes('@') ? raw.id : `${raw.id}@example.test`),
    name: raw.name ?? raw.id,
    claims,
    accessTokenClaims,
  };
}

function globToRegExp(pattern) {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('[^/?#]*')}$`);
}

function normalizeResource(raw, index, subst) {
  const where = `resources[${index}]`;
  if (!raw || typeof raw !== 'object' || typeof raw.resource !== 'string' || !raw.resource) {
    throw new ConfigError(`${where}.resource must be a non-empty string`);
  }
  const pattern = subst(raw.resource);
  const resource = {
    resource: pattern,
    match: pattern.includes('*') ? globToRegExp(pattern) : null,
    scope: raw.scope === undefined || raw.scope === '*' ? '*' : scopeList(raw.scope, `${where}.scope`).join(' '),
    accessTokenFormat: raw.accessTokenFormat === undefined
      ? undefined
      : oneOf(raw.accessTokenFormat, ['jwt', 'opaque'], `${where}.accessTokenFormat`),
    accessTokenTtl: raw.accessTokenTtl === undefined || raw.accessTokenTtl === null
      ? undefined
      : positiveInt(raw.accessTokenTtl, `${where}.accessTokenTtl`),
    audience: raw.audience === undefined || raw.audience === null ? undefined : subst(String(raw.audience)),
  };
  return resource;
}

function buildConfig(raw, issuer, port) {
  const subst = makeSubstituter(issuer, port);
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL_KEYS.has(key)) throw new ConfigError(`unknown config key: ${key}`);
  }
  const device = raw.device ?? {};
  if (typeof device !== 'object' || Array.isArray(device)) throw new ConfigError('device must be an object');
  for (const key of Object.keys(device)) {
    if (!DEVICE_KEYS.has(key)) throw new ConfigError(`unknown config key: device.${key}`);
  }

  const scopes = new Set(['openid', 'offline_access', ...scopeList(raw.scopes ?? ['profile', 'email'], 'scopes')]);

  const accounts = (raw.accounts ?? [{ id: 'test-user', email: 'test-user@example.test', name: 'Test User' }])
    .map(normalizeAccount);
  if (!accounts.length) throw new ConfigError('accounts must not be empty');
  const defaultAccount = raw.defaultAccount ?? accounts[0].id;
  if (!accounts.some((a) => a.id === defaultAccount)) {
    throw new ConfigError(`defaultAccount ${defaultAccount} is not in accounts`);
  }

  const rawClients = raw.clients ?? [
    { client_id: 'test-public-client' },
    { client_id: 'test-confidential-client', client_secret: 'test-client-secret' },
  ];
  if (!Array.isArray(rawClients)) throw new ConfigError('clients must be an array');
  const clients = rawClients.map((c, i) => normalizeClient(c, i, subst));
  const seen = new Set();
  for (const c of clients) {
    if (seen.has(c.client_id)) throw new ConfigError(`duplicate client_id ${c.client_id}`);
    seen.add(c.client_id);
  }

  const rawResources = raw.resources ?? [
    { resource: '{issuer}/api', scope: '*' },
    { resource: '{issuer}/mcp', scope: '*' },
  ];
  if (!Array.isArray(rawResources)) throw new ConfigError('resources must be an array');
  const resources = rawResources.map((r, i) => normalizeResource(r, i, subst));

  let defaultResource = raw.defaultResource === undefined ? '{issuer}/api' : raw.defaultResource;
  if (defaultResource !== null) {
    if (typeof defaultResource !== 'string') throw new ConfigError('defaultResource must be a string or null');
    defaultResource = subst(defaultResource);
  }

  let defaultScope = raw.defaultScope === undefined ? 'openid' : raw.defaultScope;
  if (defaultScope !== null) defaultScope = scopeList(defaultScope, 'defaultScope').join(' ') || null;

  const registration = raw.registration ?? {};
  const settings = {
    accessTokenTtl: positiveInt(raw.accessTokenTtl ?? 3600, 'accessTokenTtl'),
    refreshTokenTtl: positiveInt(raw.refreshTokenTtl ?? 14 * 24 * 3600, 'refreshTokenTtl'),
    idTokenTtl: positiveInt(raw.idTokenTtl ?? 3600, 'idTokenTtl'),
    authorizationCodeTtl: positiveInt(raw.authorizationCodeTtl ?? 60, 'authorizationCodeTtl'),
    deviceCodeTtl: positiveInt(raw.deviceCodeTtl ?? 600, 'deviceCodeTtl'),
    rotateRefreshTokens: bool(raw.rotateRefreshTokens ?? true, 'rotateRefreshTokens'),
    refreshTokenRequiresOfflineAccess: bool(
      raw.refreshTokenRequiresOfflineAccess ?? false,
      'refreshTokenRequiresOfflineAccess',
    ),
    offlineAccessRequiresConsentPrompt: bool(
      raw.offlineAccessRequiresConsentPrompt ?? false,
      'offlineAccessRequiresConsentPrompt',
    ),
    accessTokenFormat: oneOf(raw.accessTokenFormat ?? 'jwt', ['jwt', 'opaque'], 'accessTokenFormat'),
    pkceRequired: oneOf(raw.pkceRequired ?? 'public', ['public', 'always', 'never'], 'pkceRequired'),
    interactionMode: oneOf(raw.interactionMode ?? 'approve', ['approve', 'deny'], 'interactionMode'),
    defaultScope,
    defaultResource,
    device: {
      interval: nonNegativeInt(device.interval ?? 1, 'device.interval'),
      enforceInterval: bool(device.enforceInterval ?? false, 'device.enforceInterval'),
      autoApproveOnVisit: bool(device.autoApproveOnVisit ?? true, 'device.autoApproveOnVisit'),
      autoApproveAfterPolls: device.autoApproveAfterPolls === undefined || device.autoApproveAfterPolls === null
        ? null
        : nonNegativeInt(device.autoApproveAfterPolls, 'device.autoApproveAfterPolls'),
    },
  };

  return {
    issuer,
    scopes,
    accounts,
    defaultAccount,
    clients,
    resources,
    userCodeCharset: oneOf(device.userCodeCharset ?? 'base-20', ['base-20', 'digits'], 'device.userCodeCharset'),
    userCodeMask: typeof device.userCodeMask === 'string' ? device.userCodeMask : '****-****',
    registration: {
      enabled: bool(registration.enabled ?? true, 'registration.enabled'),
      initialAccessToken: registration.initialAccessToken ?? null,
    },
    settings,
  };
}

// Runtime-mutable settings (POST /__test/settings). Same names and validation as the file.
function applySettings(current, patch) {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new ConfigError('settings must be a JSON object');
  }
  const next = structuredClone(current);
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'accessTokenTtl': case 'refreshTokenTtl': case 'idTokenTtl':
      case 'authorizationCodeTtl': case 'deviceCodeTtl':
        next[key] = positiveInt(value, key);
        break;
      case 'rotateRefreshTokens': case 'refreshTokenRequiresOfflineAccess':
      case 'offlineAccessRequiresConsentPrompt':
        next[key] = bool(value, key);
        break;
      case 'accessTokenFormat':
        next[key] = oneOf(value, ['jwt', 'opaque'], key);
        break;
      case 'pkceRequired':
        next[key] = oneOf(value, ['public', 'always', 'never'], key);
        break;
      case 'interactionMode':
        next[key] = oneOf(value, ['approve', 'deny'], key);
        break;
      case 'defaultScope':
        next[key] = value === null ? null : (scopeList(value, key).join(' ') || null);
        break;
      case 'defaultResource':
        if (value !== null && typeof value !== 'string') throw new ConfigError('defaultResource must be a string or null');
        next[key] = value;
        break;
      case 'device':
        if (!value || typeof value !== 'object') throw new ConfigError('device must be an object');
        for (const [dk, dv] of Object.entries(value)) {
          if (dk === 'interval') next.device.interval = nonNegativeInt(dv, 'device.interval');
          else if (dk === 'enforceInterval') next.device.enforceInterval = bool(dv, 'device.enforceInterval');
          else if (dk === 'autoApproveOnVisit') next.device.autoApproveOnVisit = bool(dv, 'device.autoApproveOnVisit');
          else if (dk === 'autoApproveAfterPolls') {
            next.device.autoApproveAfterPolls = dv === null ? null : nonNegativeInt(dv, 'device.autoApproveAfterPolls');
          } else throw new ConfigError(`setting device.${dk} cannot be changed at runtime`);
        }
        break;
      default:
        throw new ConfigError(`setting ${key} cannot be changed at runtime`);
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------
// Storage adapter: plain in-memory maps without a size cap (oidc-provider's bundled
// development adapter is an LRU capped at ~1000 entries, which could silently evict a
// refresh token in a long test binary). Expiry is enforced by the models themselves; we
// keep entries for a grace period past `exp` so expired tokens are reported as expired
// rather than as unknown, and sweep periodically.
// ---------------------------------------------------------------------------------------
const GRACE_MS = 120_000;
const store = new Map(); // key `${model}:${id}` -> { payload, expiresAt }
const userCodeIndex = new Map(); // userCode -> DeviceCode id
const sessionUidIndex = new Map(); // uid -> Session id
const grantIndex = new Map(); // grantId -> Set of store keys

function dropKey(key) {
  const entry = store.get(key);
  if (!entry) return;
  store.delete(key);
  const { payload } = entry;
  if (payload.userCode && userCodeIndex.get(payload.userCode) === key) userCodeIndex.delete(payload.userCode);
  if (payload.uid && sessionUidIndex.get(payload.uid) === key) sessionUidIndex.delete(payload.uid);
  if (payload.grantId) grantIndex.get(payload.grantId)?.delete(key);
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiresAt !== null && entry.expiresAt <= now) dropKey(key);
  }
  for (const [grantId, keys] of grantIndex) if (!keys.size) grantIndex.delete(grantId);
}, 30_000).unref();

class MemoryAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    dropKey(key);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 + GRACE_MS : null;
    store.set(key, { payload: structuredClone(payload), expiresAt });
    if (this.name === 'DeviceCode' && payload.userCode) userCodeIndex.set(payload.userCode, key);
    if (this.name === 'Session' && payload.uid) sessionUidIndex.set(payload.uid, key);
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
  }

  static #get(key) {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      dropKey(key);
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async find(id) {
    return MemoryAdapter.#get(this.key(id));
  }

  async findByUserCode(userCode) {
    const key = userCodeIndex.get(userCode);
    return key ? MemoryAdapter.#get(key) : undefined;
  }

  async findByUid(uid) {
    const key = sessionUidIndex.get(uid);
    return key ? MemoryAdapter.#get(key) : undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    dropKey(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const keys = grantIndex.get(grantId);
    if (!keys) return;
    for (const key of [...keys]) dropKey(key);
    grantIndex.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------
function fingerprint(secret) {
  if (typeof secret !== 'string' || !secret) return null;
  return crypto.createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

function epochTime() {
  return Math.floor(Date.now() / 1000);
}

function normalizeUserCode(input) {
  // Same normalisation oidc-provider applies: case-insensitive, punctuation ignored.
  return String(input).toUpperCase().replace(/\W/g, '');
}

async function readRawBody(req, limit = 1024 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function parseBody(contentType, raw) {
  const text = raw.toString('utf8');
  if (!text.trim()) return {};
  if (/json/i.test(contentType ?? '') || /^\s*[{[]/.test(text)) {
    const value = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('JSON body must be an object');
    return value;
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function basicAuthClientId(header) {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  try {
    return decodeURIComponent(user.replace(/\+/g, ' '));
  } catch {
    return user;
  }
}

function clientAuthKind(ctx, body) {
  if (/^Basic\s/i.test(ctx.get('authorization'))) return 'client_secret_basic';
  if (body.client_secret !== undefined) return 'client_secret_post';
  if (body.client_assertion !== undefined) return 'client_assertion';
  return 'none';
}

function asList(value) {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

function html(title, message) {
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1><p>${esc(message)}</p></body></html>\n`;
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------
async function main() {
  const { port: requestedPort, configSource } = parseCommandLine();
  const rawConfig = readRawConfig(configSource);

  // Generate a fresh RS256 signing key per run (ID tokens and JWT access tokens). Key
  // generation runs on the libuv thread pool, in parallel with loading oidc-provider.
  const keyPromise = new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, key) => (
      err ? reject(err) : resolve({ publicKey, privateKey: key })));
  });
  const { default: Provider, errors } = await import('oidc-provider');
  const { privateKey } = await keyPromise;
  const jwks = { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' }] };

  const server = http.createServer();
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(requestedPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const cfg = buildConfig(rawConfig, issuer, port);
  const initialSettings = structuredClone(cfg.settings);
  let live = structuredClone(cfg.settings);
  const subst = makeSubstituter(issuer, port);

  // ---- mutable test state --------------------------------------------------------------
  const state = {
    seq: 0,
    tokenLog: [],
    deviceLog: [],
    registrationLog: [],
    slowDown: [], // [{ remaining, clientId }]
    tokenFailures: [], // [{ remaining, status, error, error_description, grantType, clientId, retryAfter }]
    devicePolls: new Map(), // device_code fingerprint -> { count, last, interval }
    pendingUserCodes: [], // [{ userCode (normalized), clientId, at }], newest last
    seenScopes: new Set(),
  };
  function resetState() {
    state.tokenLog = [];
    state.deviceLog = [];
    state.registrationLog = [];
    state.slowDown = [];
    state.tokenFailures = [];
    state.devicePolls.clear();
    live = structuredClone(initialSettings);
  }

  // ---- accounts --------------------------------------------------------------------------
  function accountFor(id) {
    const known = cfg.accounts.find((a) => a.id === id);
    if (known) return known;
    return normalizeAccount({ id }, -1);
  }
  function accountForHint(hint) {
    if (typeof hint !== 'string' || !hint) return null;
    const known = cfg.accounts.find((a) => a.id === hint || a.email === hint);
    return known ? known.id : hint;
  }

  // ---- resources -------------------------------------------------------------------------
  function resourceDefinition(indicator) {
    return cfg.resources.find((r) => (r.match ? r.match.test(indicator) : r.resource === indicator));
  }
  function currentDefaultResource() {
    return live.defaultResource === null ? null : subst(live.defaultResource);
  }
  function noteScopes(value) {
    for (const s of String(value ?? '').split(' ')) if (s) state.seenScopes.add(s);
  }

  // ---- provider configuration -----------------------------------------------------------
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    jwks,
    clients: cfg.clients,
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    scopes: [...cfg.scopes],
    responseTypes: ['code', 'none'],
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    async findAccount(ctx, sub) {
      const account = accountFor(sub);
      return {
        accountId: account.id,
        async claims() {
          return {
            sub: account.id,
            email: account.email,
            email_verified: true,
            name: account.name,
            preferred_username: account.id,
            ...account.claims,
          };
        },
      };
    },
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const account = accountFor(token.accountId);
      return { email: account.email, ...account.accessTokenClaims };
    },
    clientBasedCORS: () => true,
    conformIdTokenClaims: false,
    expiresWithSession: async () => false,
    async issueRefreshToken(ctx, client, source) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      if (live.refreshTokenRequiresOfflineAccess) return source.scopes.has('offline_access');
      return true;
    },
    rotateRefreshToken: () => live.rotateRefreshTokens,
    pkce: {
      required(ctx, client) {
        if (live.pkceRequired === 'always') return true;
        if (live.pkceRequired === 'never') return false;
        return client.clientAuthMethod === 'none';
      },
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || live.accessTokenTtl,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || live.accessTokenTtl,
      AuthorizationCode: () => live.authorizationCodeTtl,
      DeviceCode: () => live.deviceCodeTtl,
      IdToken: () => live.idTokenTtl,
      RefreshToken: () => live.refreshTokenTtl,
      Interaction: () => 3600,
      Session: () => 24 * 3600,
      Grant: () => Math.max(live.refreshTokenTtl, 24 * 3600),
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      registration: {
        enabled: cfg.registration.enabled,
        initialAccessToken: cfg.registration.initialAccessToken ?? false,
      },
      registrationManagement: { enabled: cfg.registration.enabled },
      deviceFlow: {
        enabled: true,
        charset: cfg.userCodeCharset,
        mask: cfg.userCodeMask,
        async userCodeInputSource(ctx, form, out, err) {
          ctx.type = 'html';
          const message = err ? `Error: ${out?.error_description ?? out?.error ?? 'invalid code'}` : 'Enter the code shown on your device.';
          ctx.body = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Device login</title></head><body>`
            + `<p>${message.replace(/</g, '&lt;')}</p>${form}<button type="submit" form="op.deviceInputForm">Continue</button></body></html>\n`;
        },
        async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
          ctx.type = 'html';
          ctx.body = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Confirm device</title></head><body>`
            + `<p>Authorize ${String(client.clientId).replace(/</g, '&lt;')} with code ${userCode}?</p>${form}`
            + '<button type="submit" form="op.deviceConfirmForm">Continue</button></body></html>\n';
        },
        async successSource(ctx) {
          ctx.type = 'html';
          ctx.body = html('Device approved', 'You can return to your device.');
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOfResources) {
          const fallback = currentDefaultResource();
          if (oneOfResources) {
            return fallback && oneOfResources.includes(fallback) ? fallback : oneOfResources;
          }
          return fallback ?? undefined;
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(ctx, indicator) {
          const def = resourceDefinition(indicator);
          if (!def) throw new errors.InvalidTarget(`resource indicator ${indicator} is not configured on this test server`);
          let { scope } = def;
          if (scope === '*') {
            noteScopes(ctx?.oidc?.params?.scope);
            const entities = ctx?.oidc?.entities ?? {};
            for (const name of ['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'Interaction']) {
              noteScopes(entities[name]?.scope ?? entities[name]?.params?.scope);
            }
            scope = [...new Set([...cfg.scopes, ...state.seenScopes])].join(' ');
          }
          const format = def.accessTokenFormat ?? live.accessTokenFormat;
          return {
            scope,
            audience: def.audience ?? indicator,
            accessTokenTTL: def.accessTokenTtl ?? live.accessTokenTtl,
            accessTokenFormat: format,
            ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
  });
  provider.proxy = false;

  // oidc-provider validates static client metadata lazily; surface mistakes at startup.
  for (const client of cfg.clients) {
    try {
      await provider.Client.find(client.client_id);
    } catch (err) {
      throw new ConfigError(`client ${client.client_id}: ${err.error_description ?? err.message}`);
    }
  }
  provider.on('server_error', (ctx, err) => console.error('[oauth-server] server_error', ctx?.method, ctx?.path, err));
  // Remember oidc-provider's internal reason (e.g. "refresh token already used") so the
  // request log can expose it; the HTTP response deliberately hides it.
  for (const event of ['grant.error', 'device_authorization.error', 'registration_create.error', 'authorization.error', 'code_verification.error', 'device_resume.error']) {
    provider.on(event, (ctx, err) => {
      if (ctx?.state) ctx.state.oauthTestErrorDetail = err?.error_detail ?? err?.message ?? null;
      debug(event, err?.error, err?.error_detail);
    });
  }

  // ---- interactions: auto login + auto consent -------------------------------------------
  async function finishInteraction(ctx, uid) {
    const interaction = await provider.Interaction.find(uid);
    if (!interaction) {
      ctx.status = 400;
      ctx.type = 'json';
      ctx.body = { error: 'invalid_request', error_description: 'interaction session not found or expired' };
      return;
    }
    const mode = ctx.get('x-oauth-test-interaction-mode') || live.interactionMode;
    let result;
    if (mode === 'deny') {
      result = { error: 'access_denied', error_description: 'denied by the test server (interactionMode=deny)' };
    } else {
      const { params = {}, prompt = {}, session } = interaction;
      const accountId = session?.accountId
        ?? accountForHint(ctx.get(ACCOUNT_HEADER))
        ?? accountForHint(params.login_hint)
        ?? cfg.defaultAccount;

      let grant;
      if (interaction.grantId) grant = await provider.Grant.find(interaction.grantId);
      if (!grant || grant.accountId !== accountId) {
        grant = new provider.Grant({ accountId, clientId: params.client_id });
      }
      const requested = String(params.scope ?? '').split(' ').filter(Boolean);
      if (requested.length) grant.addOIDCScope(requested.join(' '));
      const details = prompt.details ?? {};
      const claimNames = new Set(details.missingOIDCClaims ?? []);
      if (typeof params.claims === 'string') {
        try {
          const claims = JSON.parse(params.claims);
          for (const part of ['id_token', 'userinfo']) {
            for (const name of Object.keys(claims?.[part] ?? {})) claimNames.add(name);
          }
        } catch { /* the provider already validated it */ }
      }
      if (claimNames.size) grant.addOIDCClaims([...claimNames]);
      const resources = new Set(asList(params.resource));
      if (!resources.size && currentDefaultResource()) resources.add(currentDefaultResource());
      for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      for (const indicator of resources) {
        if (requested.length) grant.addResourceScope(indicator, requested.join(' '));
      }
      const grantId = await grant.save();
      result = {
        login: { accountId, amr: ['pwd'], remember: true },
        consent: { grantId },
      };
    }
    interaction.result = result;
    await interaction.save(Math.max(interaction.exp - epochTime(), 1));
    debug('interaction', uid, 'finished', mode);
    ctx.status = 303;
    ctx.redirect(interaction.returnTo);
  }

  // ---- device approval (drives the provider's own user-code flow over HTTP) ---------------
  async function findDeviceCodeByUserCode(userCode) {
    return provider.DeviceCode.findByUserCode(normalizeUserCode(userCode), { ignoreExpiration: true });
  }

  function latestPendingUserCode(clientId) {
    for (let i = state.pendingUserCodes.length - 1; i >= 0; i -= 1) {
      const entry = state.pendingUserCodes[i];
      if (!clientId || entry.clientId === clientId) return entry.userCode;
    }
    return null;
  }

  async function approveDevice(userCodeInput, accountIdInput) {
    const userCode = normalizeUserCode(userCodeInput);
    const code = await findDeviceCodeByUserCode(userCode);
    if (!code) return { status: 404, body: { error: 'not_found', error_description: `no device code for user_code ${userCodeInput}` } };
    if (code.isExpired) return { status: 410, body: { error: 'expired_token', error_description: 'device code expired' } };
    if (code.accountId || code.error || code.inFlight) {
      return { status: 409, body: { error: 'already_used', error_description: 'device code already approved or denied' } };
    }
    const accountId = accountForHint(accountIdInput) ?? cfg.defaultAccount;

    const cookies = new Map();
    const request = async (method, url, form) => {
      const headers = { [INTERNAL_HEADER]: '1', [ACCOUNT_HEADER]: accountId, 'x-oauth-test-interaction-mode': 'approve' };
      if (cookies.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      let body;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(form).toString();
      }
      const res = await fetch(new URL(url, issuer), { method, headers, body, redirect: 'manual' });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair.indexOf('=');
        if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      return res;
    };

    let res = await request('GET', '/device');
    const page = await res.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
    if (!xsrf) return { status: 500, body: { error: 'server_error', error_description: 'could not obtain xsrf token from /device' } };
    res = await request('POST', '/device', { xsrf, user_code: userCode, confirm: 'yes' });
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops += 1) {
      const location = res.headers.get('location');
      await res.arrayBuffer();
      res = await request('GET', location);
    }
    const finalText = await res.text();
    const after = await findDeviceCodeByUserCode(userCode);
    if (after?.accountId) {
      state.pendingUserCodes = state.pendingUserCodes.filter((e) => e.userCode !== userCode);
      return {
        status: 200,
        body: { approved: true, user_code: userCode, client_id: after.clientId, account_id: after.accountId, scope: after.scope ?? null },
      };
    }
    return {
      status: 500,
      body: { error: 'server_error', error_description: `device approval did not complete (HTTP ${res.status}): ${finalText.slice(0, 300)}` },
    };
  }

  async function denyDevice(userCodeInput, error, description) {
    const userCode = normalizeUserCode(userCodeInput);
    const code = await findDeviceCodeByUserCode(userCode);
    if (!code) return { status: 404, body: { error: 'not_found', error_description: `no device code for user_code ${userCodeInput}` } };
    if (code.isExpired) return { status: 410, body: { error: 'expired_token', error_description: 'device code expired' } };
    if (code.accountId || code.error) {
      return { status: 409, body: { error: 'already_used', error_description: 'device code already approved or denied' } };
    }
    code.error = error || 'access_denied';
    code.errorDescription = description || 'End-User denied the authorization request (test server)';
    await code.save();
    state.pendingUserCodes = state.pendingUserCodes.filter((e) => e.userCode !== userCode);
    return { status: 200, body: { denied: true, user_code: userCode, client_id: code.clientId, error: code.error } };
  }

  // ---- the /__test API ------------------------------------------------------------------
  function respond(ctx, status, body) {
    ctx.status = status;
    ctx.set('cache-control', 'no-store');
    ctx.type = 'json';
    ctx.body = body;
  }

  function filteredLog(list, query) {
    return list.filter((e) => (!query.client_id || e.client_id === query.client_id)
      && (!query.grant_type || e.grant_type === (GRANT_ALIASES[query.grant_type] ?? query.grant_type)));
  }

  async function testApi(ctx) {
    const route = `${ctx.method} ${ctx.path.replace(/\/+$/, '')}`;
    let body = {};
    if (ctx.method === 'POST' || ctx.method === 'PUT') {
      try {
        body = parseBody(ctx.get('content-type'), await readRawBody(ctx.req));
      } catch (err) {
        return respond(ctx, 400, { error: 'invalid_request', error_description: `bad request body: ${err.message}` });
      }
    }
    switch (route) {
      case 'GET /__test/health':
        return respond(ctx, 200, { ok: true, issuer, pid: process.pid });
      case 'GET /__test/log': {
        const q = Object.fromEntries(new URLSearchParams(ctx.querystring));
        const token = filteredLog(state.tokenLog, q);
        const counts = {};
        for (const e of token) counts[e.grant_type ?? 'unknown'] = (counts[e.grant_type ?? 'unknown'] ?? 0) + 1;
        return respond(ctx, 200, {
          token_requests: token,
          counts,
          device_authorization_requests: filteredLog(state.deviceLog, { client_id: q.client_id }),
          registration_requests: state.registrationLog,
        });
      }
      case 'DELETE /__test/log':
      case 'POST /__test/log/clear':
        state.tokenLog = [];
        state.deviceLog = [];
        state.registrationLog = [];
        return respond(ctx, 200, { cleared: true });
      case 'POST /__test/device/approve': {
        const userCode = body.user_code || latestPendingUserCode(body.client_id);
        if (!userCode) return respond(ctx, 404, { error: 'not_found', error_description: 'no pending device code' });
        const out = await approveDevice(userCode, body.account_id);
        return respond(ctx, out.status, out.body);
      }
      case 'POST /__test/device/deny': {
        const userCode = body.user_code || latestPendingUserCode(body.client_id);
        if (!userCode) return respond(ctx, 404, { error: 'not_found', error_description: 'no pending device code' });
        const out = await denyDevice(userCode, body.error, body.error_description);
        return respond(ctx, out.status, out.body);
      }
      case 'POST /__test/device/slow_down': {
        const count = body.count === undefined ? 1 : Number(body.count);
        if (!Number.isInteger(count) || count < 0) return respond(ctx, 400, { error: 'invalid_request', error_description: 'count must be a non-negative integer' });
        if (count === 0) state.slowDown = [];
        else state.slowDown.push({ remaining: count, clientId: body.client_id ?? null });
        return respond(ctx, 200, { armed: state.slowDown.reduce((n, s) => n + s.remaining, 0) });
      }
      case 'POST /__test/token/fail': {
        const count = body.count === undefined ? 1 : Number(body.count);
        const status = body.status === undefined ? 503 : Number(body.status);
        if (!Number.isInteger(count) || count < 0) return respond(ctx, 400, { error: 'invalid_request', error_description: 'count must be a non-negative integer' });
        if (!Number.isInteger(status) || status < 400 || status > 599) return respond(ctx, 400, { error: 'invalid_request', error_description: 'status must be 400..599' });
        if (count === 0) state.tokenFailures = [];
        else {
          state.tokenFailures.push({
            remaining: count,
            status,
            error: body.error ?? (status >= 500 ? 'temporarily_unavailable' : 'invalid_request'),
            errorDescription: body.error_description ?? 'failure injected by the test server',
            grantType: body.grant_type ? (GRANT_ALIASES[body.grant_type] ?? body.grant_type) : null,
            clientId: body.client_id ?? null,
            retryAfter: body.retry_after ?? null,
          });
        }
        return respond(ctx, 200, { armed: state.tokenFailures.reduce((n, f) => n + f.remaining, 0) });
      }
      case 'GET /__test/settings':
        return respond(ctx, 200, live);
      case 'POST /__test/settings':
        try {
          live = applySettings(live, body);
        } catch (err) {
          return respond(ctx, 400, { error: 'invalid_request', error_description: err.message });
        }
        return respond(ctx, 200, live);
      case 'POST /__test/reset':
        resetState();
        return respond(ctx, 200, { reset: true, settings: live });
      default:
        return respond(ctx, 404, { error: 'not_found', error_description: `no test endpoint ${route}` });
    }
  }

  // ---- token endpoint pre/post processing ------------------------------------------------
  function takeMatching(list, grantType, clientId) {
    const idx = list.findIndex((entry) => (!entry.grantType || entry.grantType === grantType)
      && (!entry.clientId || entry.clientId === clientId));
    if (idx === -1) return null;
    const entry = list[idx];
    entry.remaining -= 1;
    if (entry.remaining <= 0) list.splice(idx, 1);
    return entry;
  }

  function tokenLogEntry(ctx, body) {
    return {
      seq: (state.seq += 1),
      at: new Date().toISOString(),
      grant_type: body.grant_type ?? null,
      client_id: ctx.oidc?.client?.clientId ?? body.client_id ?? basicAuthClientId(ctx.get('authorization')),
      client_auth: clientAuthKind(ctx, body),
      refresh_token_present: typeof body.refresh_token === 'string' && body.refresh_token !== '',
      refresh_token_fp: fingerprint(body.refresh_token),
      code_present: typeof body.code === 'string' && body.code !== '',
      code_verifier_present: typeof body.code_verifier === 'string' && body.code_verifier !== '',
      device_code_present: typeof body.device_code === 'string' && body.device_code !== '',
      device_code_fp: fingerprint(body.device_code),
      scope: body.scope ?? null,
      resource: body.resource ?? null,
      status: null,
      error: null,
      error_detail: null,
      issued_access_token: false,
      issued_refresh_token_fp: null,
      injected: false,
    };
  }

  async function afterDevicePoll(ctx, body, entry) {
    if (entry.grant_type !== DEVICE_GRANT || ctx.status !== 400 || ctx.body?.error !== 'authorization_pending') return;
    const key = entry.device_code_fp;
    const poll = state.devicePolls.get(key) ?? { count: 0, last: 0, interval: live.device.interval };
    const now = Date.now();
    const tooFast = live.device.enforceInterval && poll.last && now - poll.last < poll.interval * 1000;
    poll.count += 1;
    poll.last = now;
    const armed = takeMatching(state.slowDown, null, entry.client_id);
    if (tooFast || armed) {
      if (tooFast) poll.interval += 5; // RFC 8628 3.5
      ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly and should back off (test server)' };
      entry.error = 'slow_down';
    }
    state.devicePolls.set(key, poll);
    const after = live.device.autoApproveAfterPolls;
    if (after !== null && poll.count >= after) {
      try {
        const code = await provider.DeviceCode.find(body.device_code, { ignoreExpiration: true });
        if (code?.userCode) {
          const out = await approveDevice(code.userCode, null);
          debug('auto-approve after polls', out.status, out.body);
        }
      } catch (err) {
        console.error('[oauth-server] auto-approve failed:', err);
      }
    }
  }

  async function tokenFailureInjection(ctx) {
    // Only reached when a failure is armed: we must read the body ourselves to apply the
    // grant_type/client_id filters. If nothing matches, hand the already-read body to
    // oidc-provider through req.body (its documented fallback for pre-parsed bodies).
    const raw = await readRawBody(ctx.req, 56 * 1024);
    let body = {};
    try {
      body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    } catch { /* leave empty */ }
    const clientId = body.client_id ?? basicAuthClientId(ctx.get('authorization'));
    const failure = takeMatching(state.tokenFailures, body.grant_type ?? null, clientId);
    if (!failure) {
      ctx.req.body = raw;
      return false;
    }
    const entry = tokenLogEntry(ctx, body);
    entry.status = failure.status;
    entry.error = failure.error;
    entry.injected = true;
    state.tokenLog.push(entry);
    if (failure.retryAfter !== null) ctx.set('retry-after', String(failure.retryAfter));
    respond(ctx, failure.status, { error: failure.error, error_description: failure.errorDescription });
    return true;
  }

  // oidc-provider denies requests that end up with no granted scope at all ("authorization
  // request resolved ... but no scope was granted"). Real servers fall back to a default
  // scope instead, so we add `defaultScope` to scope-less authorization and device
  // authorization requests. For form bodies this means reading the body here and handing it
  // to oidc-provider pre-parsed via req.body (its documented fallback).
  async function rewriteFormBody(ctx, mutate) {
    if (!ctx.is('application/x-www-form-urlencoded')) return;
    const raw = await readRawBody(ctx.req, 56 * 1024);
    const params = new URLSearchParams(raw.toString('utf8'));
    mutate(params);
    ctx.req.body = Buffer.from(params.toString(), 'utf8');
  }

  // ---- middleware (runs around oidc-provider's router) -----------------------------------
  provider.use(async (ctx, next) => {
    debug(ctx.method, ctx.url);
    const internal = ctx.get(INTERNAL_HEADER) === '1';

    try {
      if (ctx.path === '/__test' || ctx.path.startsWith('/__test/')) {
        await testApi(ctx);
        return;
      }
      const interactionMatch = /^\/interaction\/([^/]+)\/?$/.exec(ctx.path);
      if (interactionMatch && (ctx.method === 'GET' || ctx.method === 'POST')) {
        await finishInteraction(ctx, decodeURIComponent(interactionMatch[1]));
        return;
      }
    } catch (err) {
      console.error('[oauth-server] test handler failed:', err);
      respond(ctx, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
      return;
    }

    // OpenID Connect Core 11 says `offline_access` is ignored unless prompt=consent, and
    // oidc-provider enforces that. Most real providers hermes talks to do not, so by default
    // add `consent` to the prompt of GET authorization requests asking for offline_access
    // (the consent is auto-granted anyway). prompt=none is left alone.
    if (ctx.method === 'GET' && ctx.path === '/auth' && !live.offlineAccessRequiresConsentPrompt
      && typeof ctx.query.scope === 'string' && ctx.query.scope.split(' ').includes('offline_access')) {
      const prompts = new Set(String(ctx.query.prompt ?? '').split(' ').filter(Boolean));
      if (!prompts.has('none') && !prompts.has('consent')) {
        prompts.add('consent');
        ctx.query = { ...ctx.query, prompt: [...prompts].join(' ') };
      }
    }

    if (live.defaultScope && ctx.method === 'GET' && ctx.path === '/auth' && !ctx.query.scope
      && !ctx.query.request_uri && !ctx.query.request) {
      ctx.query = { ...ctx.query, scope: live.defaultScope };
    }
    try {
      if (ctx.method === 'POST' && (ctx.path === '/device/auth' || ctx.path === '/auth')) {
        await rewriteFormBody(ctx, (params) => {
          ctx.state.clientScope = params.get('scope');
          if (live.defaultScope && !params.get('scope') && !params.get('request_uri') && !params.get('request')) {
            params.set('scope', live.defaultScope);
          }
        });
      }
      const isTokenRequest = ctx.method === 'POST' && ctx.path === '/token';
      if (isTokenRequest && state.tokenFailures.length && await tokenFailureInjection(ctx)) return;
    } catch (err) {
      respond(ctx, 400, { error: 'invalid_request', error_description: `failed to read the request body: ${err.message}` });
      return;
    }

    // A $BROWSER stand-in opening verification_uri_complete approves the device code.
    // With interactionMode=deny the visit denies it instead.
    if (ctx.method === 'GET' && ctx.path === '/device' && ctx.query.user_code && !internal
      && live.device.autoApproveOnVisit) {
      const deny = live.interactionMode === 'deny';
      let out;
      try {
        out = deny
          ? await denyDevice(ctx.query.user_code)
          : await approveDevice(ctx.query.user_code, ctx.query.login_hint ?? ctx.query.account_id);
      } catch (err) {
        out = { status: 500, body: { error: 'server_error', error_description: String(err?.message ?? err) } };
      }
      ctx.status = out.status;
      ctx.type = 'html';
      if (out.status !== 200) ctx.body = html('Device authorization failed', out.body.error_description ?? out.body.error);
      else if (deny) ctx.body = html('Device denied', `Code ${out.body.user_code} denied.`);
      else ctx.body = html('Device approved', `Code ${out.body.user_code} approved for ${out.body.account_id}.`);
      return;
    }

    // Cookie-less user agents: oidc-provider resumes an authorization at /auth/<uid>
    // (/device/<uid> for device flow) only with the short-lived resume cookie it set at
    // /auth. The uid in the path is the cookie value, so supply it when it is missing.
    const resumeMatch = /^\/(?:auth|device)\/([^/]+)\/?$/.exec(ctx.path);
    if (resumeMatch && ctx.method === 'GET' && resumeMatch[1] !== 'auth') {
      const name = provider.cookieName('resume');
      if (!ctx.cookies.get(name)) {
        const existing = ctx.req.headers.cookie;
        ctx.req.headers.cookie = `${existing ? `${existing}; ` : ''}${name}=${resumeMatch[1]}`;
      }
    }

    await next();

    const route = ctx.oidc?.route;
    if (internal) return;
    if (route === 'token') {
      const body = ctx.oidc?.body ?? {};
      const entry = tokenLogEntry(ctx, body);
      await afterDevicePoll(ctx, body, entry);
      entry.status = ctx.status;
      entry.error = ctx.body?.error ?? entry.error;
      entry.error_detail = ctx.state.oauthTestErrorDetail ?? null;
      entry.issued_access_token = typeof ctx.body?.access_token === 'string';
      entry.issued_refresh_token_fp = fingerprint(ctx.body?.refresh_token);
      state.tokenLog.push(entry);
    } else if (route === 'device_authorization') {
      const body = ctx.oidc?.body ?? {};
      const entry = {
        seq: (state.seq += 1),
        at: new Date().toISOString(),
        client_id: ctx.oidc?.client?.clientId ?? body.client_id ?? basicAuthClientId(ctx.get('authorization')),
        scope: ctx.state.clientScope ?? null,
        resource: body.resource ?? null,
        status: ctx.status,
        error: ctx.body?.error ?? null,
        error_detail: ctx.state.oauthTestErrorDetail ?? null,
        user_code: ctx.body?.user_code ?? null,
      };
      state.deviceLog.push(entry);
      if (ctx.status === 200 && ctx.body?.device_code) {
        ctx.body = { ...ctx.body, interval: live.device.interval };
        state.pendingUserCodes.push({ userCode: normalizeUserCode(ctx.body.user_code), clientId: entry.client_id });
        if (state.pendingUserCodes.length > 1000) state.pendingUserCodes.shift();
        if (live.device.autoApproveAfterPolls === 0) {
          try {
            const out = await approveDevice(ctx.body.user_code, null);
            debug('auto-approve at creation', out.status, out.body);
          } catch (err) {
            console.error('[oauth-server] auto-approve failed:', err);
          }
        }
      }
    } else if (route === 'registration') {
      state.registrationLog.push({
        seq: (state.seq += 1),
        at: new Date().toISOString(),
        status: ctx.status,
        error: ctx.body?.error ?? null,
        error_detail: ctx.state.oauthTestErrorDetail ?? null,
        client_id: ctx.body?.client_id ?? null,
        token_endpoint_auth_method: ctx.body?.token_endpoint_auth_method ?? null,
        redirect_uris: ctx.body?.redirect_uris ?? null,
      });
    }
  });

  server.on('request', provider.callback());

  // ---- lifecycle ------------------------------------------------------------------------
  let shuttingDown = false;
  function shutdown(reason, code = 0) {
    if (shuttingDown) return;
    shuttingDown = true;
    debug('shutting down:', reason);
    server.close();
    server.closeAllConnections?.();
    process.exit(code);
  }
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => shutdown(signal));

  const stdinMode = process.env.OAUTH_SERVER_STDIN ?? 'auto';
  let watchStdin = stdinMode === 'watch';
  if (stdinMode === 'auto') {
    try {
      const st = fs.fstatSync(0);
      watchStdin = st.isFIFO() || st.isSocket();
    } catch {
      watchStdin = false;
    }
  }
  if (watchStdin) {
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('close', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.on('data', () => {});
    process.stdin.resume();
  }

  if (!/^(0|false|no)$/i.test(process.env.OAUTH_SERVER_WATCH_PARENT ?? '1')) {
    const parent = process.ppid;
    if (parent > 1) {
      setInterval(() => {
        if (process.ppid !== parent) shutdown('parent process exited');
      }, 1000).unref();
    }
  }

  const maxLifetime = Number(process.env.OAUTH_SERVER_MAX_LIFETIME ?? 0);
  if (Number.isFinite(maxLifetime) && maxLifetime > 0) {
    setTimeout(() => shutdown('max lifetime reached'), maxLifetime * 1000).unref();
  }

  process.stdout.write(`LISTENING ${issuer}\n`);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`oauth-server: config error: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`oauth-server: fatal: ${err?.stack ?? err}\n`);
  process.exit(1);
});
