#!/usr/bin/env bash
# Drives Switchboard with Microsoft's M365 Agents Playground as the Teams client, offline and
# over HTTP (no browser): the Playground installs the bot (registration + welcome card), a
# customer starts a chat on the Interact API, the invitation card reaches the Playground, the
# agent accepts it through the Playground's invoke API, and messages go both ways.
#
#   scripts/playground.sh          # needs cargo, node/npm (the Playground is fetched from npm)
#
# Everything listens on 127.0.0.1 on free ports; the Playground's telemetry is switched off.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_for() { # wait_for WHAT 'SHELL CONDITION' (evaluated on every try)
  local what=$1; shift
  for _ in $(seq 1 150); do if eval "$1" >/dev/null 2>&1; then return 0; fi; sleep 0.2; done
  echo "FAILED: $what" >&2; tail -20 "$work/switchboard.log" >&2 || true
  sql "SELECT id, state, last_error, substr(call, 1, 60) FROM outbox" >&2 || true; exit 1
}
sql() { sqlite3 "$work/switchboard.db" "$1"; }

sb=$(port); pg=$(port); conv=personal-demo
(cd "$root" && cargo build --release -q)
(cd "$work" && SWITCHBOARD_SERVER__BIND=127.0.0.1:$sb "$root/target/release/switchboard" >switchboard.log 2>&1) &
pids+=($!)
npm install --silent --prefix "$work/pg" @microsoft/m365agentsplayground@0.2.28 >/dev/null
# The Playground binds every interface by default: keep it on loopback.
cat >"$work/loopback.js" <<'JS'
const net = require("net"); const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) { if (typeof a[0] === "number") a.splice(1, 0, "127.0.0.1"); return listen.apply(this, a); };
JS
(cd "$work" && APPLICATION_INSIGHTS_NO_STATSBEAT=true TEAMSAPPTESTER_BROWSER=none \
  node -r "$work/loopback.js" "$work/pg/node_modules/@microsoft/m365agentsplayground/cli.js" \
  -p "$pg" -e "http://127.0.0.1:$sb/api/messages" --service-url "http://127.0.0.1:$pg/_connector" \
  --conversation-id "$conv" --disable-telemetry >playground.out 2>&1) &
pids+=($!)
wait_for "Switchboard" 'curl -fsS "http://127.0.0.1:$sb/readyz"'
wait_for "the Playground" 'curl -fsS "http://127.0.0.1:$pg/_debug/ping"'
pgapi="http://127.0.0.1:$pg"

echo "1. install the bot in the Playground's personal chat"
curl -fsS -X POST -H 'content-type: application/json' -d '{}' "$pgapi/_debug/conversation/$conv/installation" >/dev/null
wait_for "the welcome card" 'test "$(sql "SELECT COUNT(*) FROM outbox WHERE state='\''delivered'\'' AND call LIKE '\''%Welcome to Switchboard%'\''")" -ge 1'

echo "2. a customer starts a chat with the demo service"
session=$(curl -fsS -H 'content-type: application/json' \
  -d '{"widgetKey":"demo","displayName":"Ada","email":"ada@example.com","privacyConsent":true,"message":"Hello from the website"}' \
  "http://127.0.0.1:$sb/api/interact/v1/contacts/demo/sessions")
sid=$(echo "$session" | python3 -c 'import json,sys;print(json.load(sys.stdin)["sessionId"])')
token=$(echo "$session" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
wait_for "the invitation card" 'test -n "$(sql "SELECT o.result_id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE o.state='\''delivered'\''")"'
offer=$(sql "SELECT offer_id FROM teams_invitations ORDER BY created_at DESC LIMIT 1")
card=$(sql "SELECT o.result_id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE i.offer_id = $offer")

echo "3. the agent presses Accept (adaptiveCard/action invoke through the Playground)"
answer=$(curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/invoke" -d "{
  \"name\": \"adaptiveCard/action\", \"from\": {\"id\": \"user-id-0\"}, \"conversation\": {\"id\": \"$conv\"},
  \"replyToId\": \"$card\",
  \"value\": {\"action\": {\"type\": \"Action.Execute\", \"title\": \"Accept\", \"verb\": \"im.invitation.accept\", \"data\": {\"invitationId\": \"$offer\"}}}}")
echo "$answer" | grep -q "You accepted this chat" || { echo "FAILED: accept answered $answer" >&2; exit 1; }
wait_for "the chat start card" 'test "$(sql "SELECT COUNT(*) FROM outbox WHERE state='\''delivered'\'' AND call LIKE '\''%Chat started%'\''")" -ge 1'

echo "4. customer -> agent"
curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"text":"Is anyone there?","clientMessageId":"m1"}' "http://127.0.0.1:$sb/api/interact/v1/sessions/$sid/messages" >/dev/null
wait_for "the customer's message in Teams" 'test "$(sql "SELECT COUNT(*) FROM outbox WHERE state='\''delivered'\'' AND call LIKE '\''%Is anyone there?%'\''")" -ge 1'

echo "5. agent -> customer"
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"Hello from Teams","textFormat":"plain"}' >/dev/null
wait_for "the agent's reply for the customer" 'test "$(sql "SELECT COUNT(*) FROM interact_events WHERE session_id='\''$sid'\'' AND event LIKE '\''%Hello from Teams%'\''")" -ge 1'

echo "6. the agent ends the chat"
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"end","textFormat":"plain"}' >/dev/null
wait_for "the outcome" 'test "$(sql "SELECT outcome FROM report_sessions WHERE session_id='\''$sid'\''")" = handled'
echo "PASS: registration, invitation, accept, relay both ways and end through the Agents Playground"
