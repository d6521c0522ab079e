#!/usr/bin/env bash
# make bench / make bench-smoke: see bench/README.md. Must run as root (containers, cgroups, mounts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "bench: must run as root" >&2; exit 1; fi
for tool in hyperfine python3 podman crun runc conmon busybox; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (run make deps)" >&2; exit 1; }
done
exec python3 "$here/bench.py" "$@"
