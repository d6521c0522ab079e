#!/usr/bin/env bash
# Where `oxrun run` of /bin/true spends its time, next to crun: bench/out/profile.txt. Needs perf (linux-perf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v perf >/dev/null || { echo "profile: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
exec python3 "$here/profile.py" "$@"
