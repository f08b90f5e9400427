#!/usr/bin/env bash
# Smoke test / executable walk-through for the OAuth test server (see README.md).
#
# Starts server.mjs on an ephemeral port, then drives with curl (+ python3 for JSON and
# PKCE): discovery, the device flow (authorization_pending -> slow_down -> approve ->
# tokens), the authorization-code + PKCE flow with auto login/consent, refresh-token
# rotation and replay -> invalid_grant, dynamic client registration with an MCP resource,
# and the request log. Exits 0 when every assertion holds, 1 otherwise. The server is
# always stopped on exit.
#
# Usage: bash tests/oauth-server/smoke.sh        (needs node_modules: npm ci in this dir)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
SRV_PID=""
FAILURES=0
PASSES=0

cleanup() {
  if [[ -n "$SRV_PID" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Loopback only; never let an http_proxy from the environment get in the way.
c() { curl -sS --noproxy '*' --max-time 10 "$@"; }
# Read a top-level field from a JSON file.
jget() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }
# Decode the payload of a JWT (no verification; this is a test).
jwt_payload() { python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4); print(json.dumps(json.loads(base64.urlsafe_b64decode(p)), sort_keys=True))' "$1"; }
# Query parameter from a URL.
qparam() { python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query).get(sys.argv[2],[""])[0])' "$1" "$2"; }

check() { # check DESCRIPTION ACTUAL EXPECTED
  if [[ "$2" == "$3" ]]; then
    PASSES=$((PASSES + 1)); echo "ok   - $1"
  else
    FAILURES=$((FAILURES + 1)); echo "FAIL - $1: expected [$3], got [$2]"
  fi
}
check_nonempty() { # check_nonempty DESCRIPTION VALUE
  if [[ -n "$2" ]]; then
    PASSES=$((PASSES + 1)); echo "ok   - $1"
  else
    FAILURES=$((FAILURES + 1)); echo "FAIL - $1: empty"
  fi
}

# ---------------------------------------------------------------------------------------
# 0. Start the server. Its stdin is a pipe we hold open (closing it stops the server); the
#    first and only stdout line is "LISTENING http://127.0.0.1:<port>".
# ---------------------------------------------------------------------------------------
cat > "$WORK/config.json" <<'JSON'
{
  "accessTokenTtl": 300,
  "clients": [
    { "client_id": "cli-public", "redirect_uris": ["http://127.0.0.1/callback"],
      "grant_types": ["authorization_code", "refresh_token", "device_code"] },
    { "client_id": "cli-confidential", "client_secret": "s3cret",
      "grant_types": ["device_code", "refresh_token"] }
  ],
  "resources": [
    { "resource": "{issuer}/api", "scope": "*" },
    { "resource": "http://127.0.0.1:*/mcp", "scope": "*" }
  ],
  "device": { "interval": 1 }
}
JSON

coproc SERVER { exec env OAUTH_SERVER_CONFIG="$WORK/config.json" node "$HERE/server.mjs" 2>"$WORK/server.err"; }
SRV_PID=$SERVER_PID # bash unsets SERVER_PID once the coprocess exits
SRV_OUT=${SERVER[0]}
SRV_IN=${SERVER[1]}
if ! read -r -t 20 LINE <&"$SRV_OUT"; then
  echo "FAIL - server did not report LISTENING"; cat "$WORK/server.err"; exit 1
fi
BASE="${LINE#LISTENING }"
echo "# $LINE"
check "LISTENING line format" "$(grep -Ec '^LISTENING http://127\.0\.0\.1:[0-9]+$' <<<"$LINE")" "1"

# ---------------------------------------------------------------------------------------
# 1. Discovery (both well-known documents).
# ---------------------------------------------------------------------------------------
c "$BASE/.well-known/openid-configuration" > "$WORK/oidc.json"
c "$BASE/.well-known/oauth-authorization-server" > "$WORK/as.json"
check "issuer" "$(jget "$WORK/oidc.json" issuer)" "$BASE"
check "token_endpoint" "$(jget "$WORK/oidc.json" token_endpoint)" "$BASE/token"
check "device_authorization_endpoint" "$(jget "$WORK/as.json" device_authorization_endpoint)" "$BASE/device/auth"
check "registration_endpoint" "$(jget "$WORK/as.json" registration_endpoint)" "$BASE/reg"

# ---------------------------------------------------------------------------------------
# 2. Device authorization grant (RFC 8628) with a confidential client (HTTP Basic).
# ---------------------------------------------------------------------------------------
DEVICE_GRANT=urn:ietf:params:oauth:grant-type:device_code
c -u cli-confidential:s3cret -d 'scope=openid offline_access email' "$BASE/device/auth" > "$WORK/da.json"
DEVICE_CODE=$(jget "$WORK/da.json" device_code)
USER_CODE=$(jget "$WORK/da.json" user_code)
check_nonempty "device_code issued" "$DEVICE_CODE"
check "interval advertised" "$(jget "$WORK/da.json" interval)" "1"
check "verification_uri" "$(jget "$WORK/da.json" verification_uri)" "$BASE/device"

poll() { c -o "$WORK/poll.json" -w '%{http_code}' -u cli-confidential:s3cret \
  -d grant_type=$DEVICE_GRANT -d device_code="$DEVICE_CODE" "$BASE/token"; }

STATUS=$(poll)
check "poll #1 -> 400" "$STATUS" "400"
check "poll #1 -> authorization_pending" "$(jget "$WORK/poll.json" error)" "authorization_pending"

c -H 'content-type: application/json' -d '{"count":1}' "$BASE/__test/device/slow_down" > /dev/null
poll > /dev/null
check "poll #2 (slow_down armed) -> slow_down" "$(jget "$WORK/poll.json" error)" "slow_down"
poll > /dev/null
check "poll #3 -> authorization_pending again" "$(jget "$WORK/poll.json" error)" "authorization_pending"

c -H 'content-type: application/json' -d "{\"user_code\":\"$USER_CODE\"}" "$BASE/__test/device/approve" > "$WORK/approve.json"
check "approve endpoint" "$(jget "$WORK/approve.json" approved)" "True"
check "approved for the default account" "$(jget "$WORK/approve.json" account_id)" "test-user"

STATUS=$(poll)
check "poll #4 -> 200" "$STATUS" "200"
cp "$WORK/poll.json" "$WORK/device_tokens.json"
check_nonempty "device flow access_token" "$(jget "$WORK/device_tokens.json" access_token)"
check_nonempty "device flow refresh_token" "$(jget "$WORK/device_tokens.json" refresh_token)"
check "device flow token_type" "$(jget "$WORK/device_tokens.json" token_type)" "Bearer"
AT_CLAIMS=$(jwt_payload "$(jget "$WORK/device_tokens.json" access_token)")
check "JWT access token carries email" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["email"])' "$AT_CLAIMS")" "test-user@example.test"
check "JWT access token audience = default resource" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["aud"])' "$AT_CLAIMS")" "$BASE/api"

# Device flow denial.
c -u cli-confidential:s3cret -d 'scope=openid' "$BASE/device/auth" > "$WORK/da2.json"
c -d "user_code=$(jget "$WORK/da2.json" user_code)" "$BASE/__test/device/deny" > /dev/null
c -u cli-confidential:s3cret -d grant_type=$DEVICE_GRANT -d device_code="$(jget "$WORK/da2.json" device_code)" \
  "$BASE/token" > "$WORK/denied.json" || true
check "denied device code -> access_denied" "$(jget "$WORK/denied.json" error)" "access_denied"

# ---------------------------------------------------------------------------------------
# 3. Authorization code + PKCE (S256) with a public client. The server auto-completes
#    login and consent; we follow redirects by hand (cookie jar kept, as a browser would)
#    until the one pointing at the client's loopback redirect_uri. Any port is accepted
#    for the registered http://127.0.0.1/callback (RFC 8252).
# ---------------------------------------------------------------------------------------
VERIFIER=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
CHALLENGE=$(python3 -c 'import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$VERIFIER")
REDIRECT_URI="http://127.0.0.1:53682/callback"
STATE=st-$RANDOM
AUTH_URL=$(python3 -c 'import sys,urllib.parse as u; print(sys.argv[1] + "/auth?" + u.urlencode({"response_type":"code","client_id":"cli-public","redirect_uri":sys.argv[2],"scope":"openid offline_access email","state":sys.argv[3],"code_challenge":sys.argv[4],"code_challenge_method":"S256"}))' "$BASE" "$REDIRECT_URI" "$STATE" "$CHALLENGE")

URL="$AUTH_URL"
HOPS=0
while [[ "$URL" != "$REDIRECT_URI"* && $HOPS -lt 10 ]]; do
  OUT=$(c -b "$WORK/jar" -c "$WORK/jar" -o /dev/null -w '%{http_code} %{redirect_url}' "$URL")
  echo "#   ${OUT%% *} -> ${OUT#* }"
  URL="${OUT#* }"
  HOPS=$((HOPS + 1))
  [[ -z "$URL" ]] && break
done
check "authorization ends at the loopback redirect_uri" "${URL%%\?*}" "$REDIRECT_URI"
check "state echoed" "$(qparam "$URL" state)" "$STATE"
CODE=$(qparam "$URL" code)
check_nonempty "authorization code" "$CODE"

# A wrong verifier is rejected (and burns the code) ...
c -d grant_type=authorization_code -d client_id=cli-public -d code="$CODE" \
  -d code_verifier="wrong-$VERIFIER" -d redirect_uri="$REDIRECT_URI" "$BASE/token" > "$WORK/badpkce.json" || true
check "wrong code_verifier -> invalid_grant" "$(jget "$WORK/badpkce.json" error)" "invalid_grant"

# ... so run the flow again without cookies (a cookie-less client works too) and redeem.
URL="$AUTH_URL"
HOPS=0
while [[ "$URL" != "$REDIRECT_URI"* && $HOPS -lt 10 ]]; do
  OUT=$(c -o /dev/null -w '%{http_code} %{redirect_url}' "$URL")
  URL="${OUT#* }"
  HOPS=$((HOPS + 1))
  [[ -z "$URL" ]] && break
done
CODE=$(qparam "$URL" code)
STATUS=$(c -o "$WORK/code_tokens.json" -w '%{http_code}' -d grant_type=authorization_code -d client_id=cli-public \
  -d code="$CODE" -d code_verifier="$VERIFIER" -d redirect_uri="$REDIRECT_URI" "$BASE/token")
check "code exchange -> 200" "$STATUS" "200"
check "granted scope" "$(jget "$WORK/code_tokens.json" scope)" "openid offline_access email"
check_nonempty "code flow id_token" "$(jget "$WORK/code_tokens.json" id_token)"
RT1=$(jget "$WORK/code_tokens.json" refresh_token)
check_nonempty "code flow refresh_token" "$RT1"

# PKCE is mandatory for public clients.
NOPKCE=$(c -o /dev/null -w '%{redirect_url}' "$BASE/auth?response_type=code&client_id=cli-public&redirect_uri=$(python3 -c 'import sys,urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "$REDIRECT_URI")&scope=openid&state=x")
check "no PKCE -> invalid_request" "$(qparam "$NOPKCE" error)" "invalid_request"

# ---------------------------------------------------------------------------------------
# 4. Refresh token rotation and reuse detection.
# ---------------------------------------------------------------------------------------
refresh() { c -o "$WORK/refresh.json" -w '%{http_code}' -d grant_type=refresh_token -d client_id=cli-public \
  -d refresh_token="$1" "$BASE/token"; }

STATUS=$(refresh "$RT1")
check "refresh #1 -> 200" "$STATUS" "200"
RT2=$(jget "$WORK/refresh.json" refresh_token)
check_nonempty "rotated refresh_token" "$RT2"
if [[ "$RT2" != "$RT1" ]]; then check "refresh token rotated" "rotated" "rotated"; else check "refresh token rotated" "same" "rotated"; fi

STATUS=$(refresh "$RT1")
check "replay of used refresh token -> 400" "$STATUS" "400"
check "replay of used refresh token -> invalid_grant" "$(jget "$WORK/refresh.json" error)" "invalid_grant"
STATUS=$(refresh "$RT2")
check "reuse detection revoked the whole family (newest token dead)" "$(jget "$WORK/refresh.json" error)" "invalid_grant"

# ---------------------------------------------------------------------------------------
# 5. Request log: exact counts of token-endpoint requests, without secrets.
# ---------------------------------------------------------------------------------------
c "$BASE/__test/log?client_id=cli-public&grant_type=refresh_token" > "$WORK/log.json"
check "log: 3 refresh requests from cli-public" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["token_requests"]))' "$WORK/log.json")" "3"
check "log: refresh_token_present" "$(python3 -c 'import json,sys; print(all(e["refresh_token_present"] for e in json.load(open(sys.argv[1]))["token_requests"]))' "$WORK/log.json")" "True"
check "log: replay reason recorded" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token_requests"][1]["error_detail"])' "$WORK/log.json")" "refresh token already used"
if grep -q -- "$RT1" "$WORK/log.json"; then check "log never contains refresh tokens" "leaked" "clean"; else check "log never contains refresh tokens" "clean" "clean"; fi

# ---------------------------------------------------------------------------------------
# 6. Dynamic client registration + MCP resource indicator + short access-token TTL.
# ---------------------------------------------------------------------------------------
c -H 'content-type: application/json' \
  -d '{"client_name":"mcp","redirect_uris":["http://127.0.0.1:40111/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}' \
  "$BASE/reg" > "$WORK/reg.json"
MCP_CLIENT=$(jget "$WORK/reg.json" client_id)
check_nonempty "dynamic registration client_id" "$MCP_CLIENT"
c -H 'content-type: application/json' -d '{"accessTokenTtl":1}' "$BASE/__test/settings" > /dev/null
MCP_RESOURCE="http://127.0.0.1:9999/mcp"
AUTH_URL=$(python3 -c 'import sys,urllib.parse as u; print(sys.argv[1] + "/auth?" + u.urlencode({"response_type":"code","client_id":sys.argv[2],"redirect_uri":"http://127.0.0.1:40111/callback","scope":"mcp:tools","state":"m","code_challenge":sys.argv[3],"code_challenge_method":"S256","resource":sys.argv[4]}))' "$BASE" "$MCP_CLIENT" "$CHALLENGE" "$MCP_RESOURCE")
URL="$AUTH_URL"
HOPS=0
while [[ "$URL" != http://127.0.0.1:40111/* && $HOPS -lt 10 ]]; do
  OUT=$(c -o /dev/null -w '%{http_code} %{redirect_url}' "$URL"); URL="${OUT#* }"; HOPS=$((HOPS + 1)); [[ -z "$URL" ]] && break
done
c -d grant_type=authorization_code -d client_id="$MCP_CLIENT" -d code="$(qparam "$URL" code)" -d code_verifier="$VERIFIER" \
  -d redirect_uri=http://127.0.0.1:40111/callback -d resource="$MCP_RESOURCE" "$BASE/token" > "$WORK/mcp.json"
check "MCP token expires_in (short TTL)" "$(jget "$WORK/mcp.json" expires_in)" "1"
check "MCP token scope" "$(jget "$WORK/mcp.json" scope)" "mcp:tools"
check "MCP token audience = resource" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["aud"])' "$(jwt_payload "$(jget "$WORK/mcp.json" access_token)")")" "$MCP_RESOURCE"
c -X POST "$BASE/__test/reset" > /dev/null

# ---------------------------------------------------------------------------------------
# 7. Closing stdin stops the server.
# ---------------------------------------------------------------------------------------
exec {SRV_IN}>&-
EXITED=no
for _ in $(seq 1 50); do
  if ! kill -0 "$SRV_PID" 2>/dev/null; then EXITED=yes; break; fi
  sleep 0.1
done
check "server exits when stdin closes" "$EXITED" "yes"

echo "$PASSES passed, $FAILURES failed"
if [[ $FAILURES -ne 0 ]]; then
  echo "# server stderr:"; cat "$WORK/server.err"
  exit 1
fi
