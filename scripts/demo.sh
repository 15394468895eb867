#!/usr/bin/env bash
# The main job on the embedded default, on a fresh machine:
#   set up -> check the installation -> ingest the demo corpus -> start the API ->
#   ask the same question as two users (their answers differ by what each may read) -> stop.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export GW_CONFIG_FILE="${GW_CONFIG_FILE:-examples/groundwork.toml}"
export HF_HUB_OFFLINE=1 SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true COLUMNS="${COLUMNS:-160}"
PORT="${GW_DEMO_PORT:-8000}"
WEB_PORT=8765   # examples/groundwork.toml's web source reads the status pages from here
API="http://127.0.0.1:$PORT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "checking the installation"
uv run groundwork doctor

say "serving examples/web on 127.0.0.1:$WEB_PORT (the demo's web-page source)"
uv run python -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory examples/web >/dev/null 2>&1 &
pids+=($!)
sleep 1

say "ingesting the demo corpus (embedded engines in ./var; embeddings cached in ~/.cache/groundwork)"
uv run groundwork ingest || echo "(ingest reported failures or failing checks: see above)"

say "starting the API on $API"
uv run groundwork serve --port "$PORT" >var/demo-api.log 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    curl -fs "$API/healthz" >/dev/null 2>&1 && break
    sleep 1
done
curl -fs "$API/healthz" >/dev/null || { echo "the API did not start; see var/demo-api.log" >&2; exit 1; }

ask() {  # ask USER QUESTION: POST /v1/ask with the user's demo key, print answer + citations
    local user="$1" question="$2"
    say "$user asks: $question"
    curl -s "$API/v1/ask" -H "Authorization: Bearer gw-demo-$user" \
        -H 'Content-Type: application/json' \
        -d "$(uv run python -c 'import json,sys; print(json.dumps({"question": sys.argv[1]}))' "$question")" |
        uv run python scripts/show_answer.py
}

Q="What is the CEO's 2026 base salary and target bonus?"
ask dave "$Q"    # leadership: may read the executive compensation document
ask erin "$Q"    # everyone only: must be refused, with nothing about that document
Q2="What is the acknowledgement deadline for a SEV1 page?"
ask alice "$Q2"  # engineering on-call runbook
ask erin "$Q2"

say "next steps"
cat <<MSG
  API docs:   uv run groundwork serve   then open $API/docs   (demo keys: gw-demo-<user>, examples/README.md)
  Dagster UI: DAGSTER_HOME=\$PWD/dagster_home GW_CONFIG_FILE=$GW_CONFIG_FILE uv run dagster dev   then open http://127.0.0.1:3000
  CLI:        uv run groundwork ask "..." --user alice    |    uv run groundwork search "..." --user bob
MSG
