"""Print a /v1/ask JSON response (stdin) as an answer with numbered citations (used by demo.sh)."""

import json
import sys

r = json.load(sys.stdin)
if "answer" not in r:
    print(json.dumps(r, indent=2))
    sys.exit()
print(f"refused: {r.get('refusal_reason')}" if r.get("refused") else r["answer"])
for i, c in enumerate(r.get("citations", []), 1):
    stale = " [stale]" if c.get("stale") else ""
    span = c["span"]
    print(f"  [{i}] {c['title']} ({c['uri']}) chars {span['start']}-{span['end']}{stale}")
    print(f'      "{c["quote"][:160]}"')
for w in r.get("warnings", []) or []:
    print(f"  note: {w}")
