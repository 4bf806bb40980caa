#!/usr/bin/env bash
# Differential check of the card templating corpus against Microsoft's reference engine
# (adaptivecards-templating 2.3.1 on adaptive-expressions 4.23.3, pinned in
# tests/cards/reference/package-lock.json).
#
#   scripts/cards-reference.sh            re-expand every case in tests/cards/{corpus,extra}
#                                         with the reference and compare with the stored outputs
#   scripts/cards-reference.sh --update   rewrite the stored outputs of tests/cards/extra
#
# The stored outputs are what `cargo test` compares Switchboard's engine with; this script
# proves they are the reference's own. Needs node and npm (the registry is used once, by npm ci).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/tests/cards/reference"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund >/dev/null || npm ci --no-audit --no-fund >/dev/null
fi
exec python3 - "$root" "${1:-}" <<'PY'
import json, pathlib, subprocess, sys

root = pathlib.Path(sys.argv[1]); update = sys.argv[2] == "--update"
expand = root / "tests/cards/reference/expand.js"
passed = failed = 0
for folder in ["corpus", "extra"]:
    d = root / "tests/cards" / folder
    for case in sorted(p for p in d.glob("*.json") if not p.name.endswith((".expected.json", ".error.json"))):
        run = subprocess.run(["node", str(expand), str(case)], capture_output=True, text=True)
        out = json.loads(run.stdout)
        expected, error = case.with_suffix(".expected.json"), case.with_suffix(".error.json")
        if update and folder == "extra":
            for f in (expected, error):
                f.unlink(missing_ok=True)
            (expected if run.returncode == 0 else error).write_text(run.stdout if run.returncode == 0 else json.dumps(out) + "\n")
        if run.returncode == 0:
            ok = expected.exists() and json.loads(expected.read_text()) == out
        else:
            ok = error.exists() and json.loads(error.read_text())["phase"] == out.get("phase")
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"{folder}/{case.stem}: reference gives {run.stdout.strip()[:300]}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
