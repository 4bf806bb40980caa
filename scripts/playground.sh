#!/usr/bin/env bash
# Drives Switchboard with Microsoft's M365 Agents Playground as the Teams client, offline and
# over HTTP (no browser): the Playground installs the bot (registration + welcome card), a
# customer starts a chat on the Interact API, the invitation card reaches the Playground, the
# agent accepts it through the Playground's invoke API, and messages go both ways; a supervisor
# (the same user, made supervisor with the admin API) whispers, and a transfer to the service
# comes back (nobody else is there); then the same
# with a WhatsApp customer on the dev-mode WhatsApp simulator (signed webhooks in, Graph calls
# out to its built-in mock).
#
#   scripts/playground.sh          # needs cargo, node/npm (the Playground is fetched from npm),
#                                  # curl, python3 and sqlite3
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
now_ms() { python3 -c 'import time;print(int(time.time()*1000))'; }
# Delivered calls keep no payload, so a step waits for a call queued since it began to be delivered.
delivered_since() { sql "SELECT COUNT(*) FROM outbox WHERE state='delivered' AND created_at >= $1"; }

sb=$(port); pg=$(port); conv=personal-demo
(cd "$root" && cargo build --release -q)
target=${CARGO_TARGET_DIR:-$root/target}
# exec: the recorded PID is the process itself, so the cleanup stops it.
(cd "$work" && SWITCHBOARD_SERVER__BIND=127.0.0.1:$sb exec "$target/release/switchboard" >switchboard.log 2>&1) &
pids+=($!)
npm install --silent --prefix "$work/pg" @microsoft/m365agentsplayground@0.2.28 >/dev/null
# The Playground binds every interface by default: keep it on loopback.
cat >"$work/loopback.js" <<'JS'
const net = require("net"); const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) { if (typeof a[0] === "number") a.splice(1, 0, "127.0.0.1"); return listen.apply(this, a); };
JS
(cd "$work" && APPLICATION_INSIGHTS_NO_STATSBEAT=true TEAMSAPPTESTER_BROWSER=none \
  exec node -r "$work/loopback.js" "$work/pg/node_modules/@microsoft/m365agentsplayground/cli.js" \
  -p "$pg" -e "http://127.0.0.1:$sb/api/messages" --service-url "http://127.0.0.1:$pg/_connector" \
  --conversation-id "$conv" --disable-telemetry >playground.out 2>&1) &
pids+=($!)
wait_for "Switchboard" 'curl -fsS "http://127.0.0.1:$sb/readyz"'
wait_for "the Playground" 'curl -fsS "http://127.0.0.1:$pg/_debug/ping"'
pgapi="http://127.0.0.1:$pg"
# press CARD_ACTIVITY_ID TITLE VERB DATA_JSON: the agent presses a card button (an
# adaptiveCard/action invoke sent by the Playground); prints the bot's answer.
press() {
  curl -sS -H 'content-type: application/json' "$pgapi/_conversation/v1/invoke" -d "{
  \"name\": \"adaptiveCard/action\", \"from\": {\"id\": \"user-id-0\"}, \"conversation\": {\"id\": \"$conv\"},
  \"replyToId\": \"$1\",
  \"value\": {\"action\": {\"type\": \"Action.Execute\", \"title\": \"$2\", \"verb\": \"$3\", \"data\": $4}}}"
}

echo "1. install the bot in the Playground's personal chat"
t=$(now_ms)
curl -fsS -X POST -H 'content-type: application/json' -d '{}' "$pgapi/_debug/conversation/$conv/installation" >/dev/null
wait_for "the welcome card" 'test "$(sql "SELECT COUNT(*) FROM registrations")" -ge 1 && test "$(delivered_since $t)" -ge 1'

echo "2. a customer starts a chat with the demo service"
session=$(curl -fsS -H 'content-type: application/json' \
  -d '{"widgetKey":"demo","displayName":"Ada","email":"ada@example.com","privacyConsent":true,"message":"Hello from the website"}' \
  "http://127.0.0.1:$sb/api/interact/v1/contacts/demo/sessions")
sid=$(echo "$session" | python3 -c 'import json,sys;print(json.load(sys.stdin)["sessionId"])')
token=$(echo "$session" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
wait_for "the invitation card" 'test -n "$(sql "SELECT o.result_id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE o.state='\''delivered'\''")"'
offer=$(sql "SELECT offer_id FROM teams_invitations ORDER BY created_at DESC LIMIT 1")
card=$(sql "SELECT o.result_id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE i.offer_id = $offer")

t=$(now_ms)
echo "3. the agent presses Accept (adaptiveCard/action invoke through the Playground)"
answer=$(press "$card" Accept im.invitation.accept "{\"invitationId\": \"$offer\"}")
echo "$answer" | grep -q "You accepted this chat" || { echo "FAILED: accept answered $answer" >&2; exit 1; }
wait_for "the chat start card" 'test -n "$(sql "SELECT 1 FROM chatrooms WHERE session_id='\''$sid'\''")" && test "$(delivered_since $t)" -ge 1'

echo "4. customer -> agent"
t=$(now_ms)
curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"text":"Is anyone there?","clientMessageId":"m1"}' "http://127.0.0.1:$sb/api/interact/v1/sessions/$sid/messages" >/dev/null
wait_for "the customer's message in Teams" 'test "$(delivered_since $t)" -ge 1'

echo "5. agent -> customer"
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"Hello from Teams","textFormat":"plain"}' >/dev/null
wait_for "the agent's reply for the customer" 'test "$(sql "SELECT COUNT(*) FROM interact_events WHERE session_id='\''$sid'\'' AND event LIKE '\''%Hello from Teams%'\''")" -ge 1'

echo "5b. the agent supervises the demo service too: a whisper lands in the chat, never the customer's"
key=$(cd "$work" && "$target/release/switchboard" admin create-key --tenant demo --name playground 2>/dev/null | grep -o 'sbk_[A-Za-z0-9_-]*' | head -1)
me=$(sql "SELECT user_id FROM registrations LIMIT 1")
admin="http://127.0.0.1:$sb/api/admin/v1/tenants/$(sql "SELECT tenant_id FROM registrations LIMIT 1")"
etag=$(curl -fsS -D - -o "$work/service.json" -H "authorization: Bearer $key" "$admin/services/support" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
python3 -c "import json,sys;d=json.load(open('$work/service.json'));d['supervisors']=['$me'];json.dump(d,open('$work/service.json','w'))"
curl -fsS -X PUT -H "authorization: Bearer $key" -H "if-match: $etag" -H 'content-type: application/json' \
  --data-binary "@$work/service.json" "$admin/services/support" >/dev/null
answer=$(press "$card" Whisper im.supervise.whisper "{\"sessionId\": \"$sid\", \"whisper\": \"Offer the express shipping\"}")
echo "$answer" | grep -q "Whispered to the agent" || { echo "FAILED: whisper answered $answer" >&2; exit 1; }
wait_for "the whisper logged" 'test "$(sql "SELECT COUNT(*) FROM supervision_log WHERE action='\''whisper'\''")" = 1'
test "$(sql "SELECT COUNT(*) FROM interact_events WHERE session_id='$sid' AND event LIKE '%express shipping%'")" = 0 \
  || { echo "FAILED: the whisper reached the customer" >&2; exit 1; }

echo "5c. the agent transfers the chat to the service: nobody else is there, so it comes back"
notes=$(sql "SELECT COUNT(*) FROM engine_effects WHERE kind='noteToAgent'")
answer=$(press "$card" Transfer im.transfer "{\"sessionId\": \"$sid\", \"target\": \"service:support\", \"reason\": \"Billing\"}")
echo "$answer" | grep -q "Transfer requested" || { echo "FAILED: transfer answered $answer" >&2; exit 1; }
wait_for "the transfer coming back" 'test "$(sql "SELECT COUNT(*) FROM engine_effects WHERE kind='\''noteToAgent'\'' AND state='\''done'\''")" -gt "$notes"'

echo "6. the agent ends the chat"
t=$(now_ms)
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"end","textFormat":"plain"}' >/dev/null
wait_for "the outcome" 'test "$(sql "SELECT outcome FROM report_sessions WHERE session_id='\''$sid'\''")" = handled'
echo "7. after-contact work done (the ACW card's button, through the Playground)"
wait_for "the after-contact work card" 'test "$(delivered_since $t)" -ge 2'
acw=$(sql "SELECT result_id FROM outbox WHERE state='delivered' AND result_id IS NOT NULL ORDER BY id DESC LIMIT 1")
answer=$(press "$acw" Done im.acw.done '{}')
echo "$answer" | grep -q "receive chats again" || { echo "FAILED: ACW done answered $answer" >&2; exit 1; }

sim="http://127.0.0.1:$sb/dev/whatsapp/api"
phone() { curl -fsS "$sim/chat?customer=16505551234"; }
echo "8. a WhatsApp customer writes on the simulator (a signed webhook, as Meta posts it)"
t=$(now_ms)
curl -fsS -H 'content-type: application/json' "$sim/messages" \
  -d '{"customer":"16505551234","name":"Sheena","number":"100000000000001","text":"Hello from WhatsApp"}' | grep -q '"delivered"'
wait_for "the workflow's greeting on the phone" 'phone | grep -q "Hello Sheena"'
wait_for "the WhatsApp invitation card" 'test "$(sql "SELECT COUNT(*) FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE o.state='\''delivered'\''")" -ge 2'
offer=$(sql "SELECT offer_id FROM teams_invitations ORDER BY created_at DESC LIMIT 1")
card=$(sql "SELECT o.result_id FROM teams_invitations i JOIN outbox o ON o.id = i.outbox_id WHERE i.offer_id = $offer")
answer=$(press "$card" Accept im.invitation.accept "{\"invitationId\": \"$offer\"}")
echo "$answer" | grep -q "You accepted this chat" || { echo "FAILED: accept answered $answer" >&2; exit 1; }
wait_for "the connected message on the phone" 'phone | grep -q "You are now chatting with"'
wsid=$(sql "SELECT session_id FROM whatsapp_sessions ORDER BY rowid DESC LIMIT 1")
wait_for "the WhatsApp chat's room in Teams" 'test -n "$(sql "SELECT 1 FROM chatrooms WHERE session_id='\''$wsid'\''")"'

echo "9. agent -> WhatsApp customer, and back"
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"Hello from Teams to WhatsApp","textFormat":"plain"}' >/dev/null
wait_for "the agent's message on the phone" 'phone | grep -q "Hello from Teams to WhatsApp"'
t=$(now_ms)
curl -fsS -H 'content-type: application/json' "$sim/messages" \
  -d '{"customer":"16505551234","name":"Sheena","number":"100000000000001","text":"Thanks, WhatsApp works"}' >/dev/null
wait_for "the reply in Teams" 'test "$(sql "SELECT COUNT(*) FROM outbox WHERE state='\''delivered'\'' AND created_at >= $t AND lane NOT LIKE '\''whatsapp|%'\''")" -ge 1'
wait_for "delivered statuses recorded" 'test "$(sql "SELECT COUNT(*) FROM whatsapp_outbound WHERE status IN ('\''delivered'\'','\''read'\'')")" -ge 2'

echo "10. the agent ends the WhatsApp chat"
curl -fsS -H 'content-type: application/json' "$pgapi/_conversation/v1/conversations/$conv/messages" \
  -d '{"from":{"id":"user-id-0"},"text":"end","textFormat":"plain"}' >/dev/null
wait_for "the end on the phone" 'phone | grep -q "This chat has ended"'
echo "PASS: registration, invitation, accept, relay both ways, a supervisor's whisper, a transfer that comes back, and the end through the Agents Playground, for a website and a WhatsApp customer"
