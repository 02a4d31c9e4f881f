#!/usr/bin/env bash
# Interleaved A/B of `lbsync render --target all` between two checkouts of lbsync, on the same machine at the same
# time (a loaded or noisy machine slows both alike): wall and user CPU seconds of each fresh process, A then B.
#   bench/render_ab.sh OLD_CHECKOUT NEW_CHECKOUT MODEL [RUNS]
#   git worktree add /tmp/old 501ed5e && bench/render_ab.sh /tmp/old . /tmp/large.yaml 5
# MODEL: e.g. the 50x64 model of bench/generation.py:
#   python -c "import sys, yaml; sys.path.insert(0, 'bench'); import generation as g; \
#              print(yaml.safe_dump(g.model_doc(50, 64)))" > /tmp/large.yaml
# Both run with this checkout's virtualenv (PYTHONPATH selects the lbsync package), Python's bytecode cache warm and
# lbsync's compiled-template cache warm (one untimed run each first), as after `pip install`.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); model=$(realpath "$3"); runs=${4:-5}
py="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX="$work/pyc" LBSYNC_CACHE_DIR="$work/cache"
one() {   # checkout -> "wall user"
  rm -rf "$work/out"
  cd "$work"     # python -m puts the current folder first on sys.path: never a checkout's
  /usr/bin/time -f "%e %U" -o "$work/t" env PYTHONPATH="$1" "$py" -m lbsync render "$model" --target all \
    --allow nginx-ntlm -o "$work/out" >/dev/null 2>&1
  cat "$work/t"
}
one "$old" >/dev/null; one "$new" >/dev/null
for _ in $(seq "$runs"); do echo "A $(one "$old")"; echo "B $(one "$new")"; done | sort | awk '
  { w[$1] = w[$1] " " $2; u[$1] = u[$1] " " $3 }
  END { print "A (" OLD ") wall:" w["A"] "  user:" u["A"]; print "B (" NEW ") wall:" w["B"] "  user:" u["B"] }' \
  OLD="$old" NEW="$new"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
