#!/usr/bin/env bash
# The separate venv in which bench/pose_bench.py runs MediaPipe's own Python pose pipeline, to compare against.
# mediapipe 0.10.21 wants numpy < 2 and pulls ~330 MB: it must never enter the project's .venv (the runtime does
# not need it). Creates .cache/mediapipe-bench-venv (or $1); idempotent; uses the wheel that `python -m export pose`
# cached in ~/.cache/actionstream/wheels when it is there, so only its dependencies are downloaded.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.cache/mediapipe-bench-venv}"
python="${PYTHON:-python3.11}"
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/actionstream/wheels"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c \
    'import mediapipe, numpy, sys; sys.exit(mediapipe.__version__ != "0.10.21" or int(numpy.__version__.split(".")[0]) >= 2)' \
    2>/dev/null; then
  echo "$venv: mediapipe 0.10.21 already installed"
  exit 0
fi
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "error: $python is not Python 3.11 (the mediapipe 0.10.21 wheel is cp311); set PYTHON=" >&2
  exit 2
}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
find_links=()
[ -d "$wheels" ] && find_links=(--find-links "$wheels")
# numpy < 2: mediapipe 0.10.21 is built against numpy 1.x; opencv-contrib-python < 4.11 still supports it.
"$venv/bin/python" -m pip install -q "${find_links[@]}" "mediapipe==0.10.21" "numpy<2" "opencv-contrib-python<4.11"
"$venv/bin/python" -c 'import mediapipe, numpy; print(f"{mediapipe.__version__=} {numpy.__version__=}")'
echo "$venv: ready (used by: .venv/bin/python -m bench.pose_bench)"
