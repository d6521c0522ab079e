#!/usr/bin/env bash
# CRI scale benchmark (issue 18): N pods (default 100) with one container
# each, driven through containerd 1.6's CRI plugin as the kubelet does
# (RunPodSandbox, CreateContainer, StartContainer, ExecSync, StopContainer,
# RemoveContainer, StopPodSandbox, RemovePodSandbox), on the runtime handler
# `oxrun` and on `runc`, interleaved pod by pod in one containerd; prints the
# time per pod for each step and checks nothing is left behind.
#
# usage: bench/cri_scale.sh [-n N] [-o OUT.md]
#   BENCH_QUICK=1: N=10. OXRUN_BIN names oxrun (default target/release/oxrun).
# Must run as root; needs containerd, runc, catatonit and
# containernetworking-plugins, and the cri_bench binary (`make build`).
# Exits 1 if a step failed or anything is left behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=100
[ "${BENCH_QUICK:-}" = 1 ] && N=10
OUT=""
while getopts "n:o:" o; do
	case $o in
	n) N=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) sed -n '2,13p' "$0" >&2; exit 2 ;;
	esac
done
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
bench=${CRI_BENCH_BIN:-$target/release/cri_bench}
export OXRUN_BIN=${OXRUN_BIN:-$target/release/oxrun}
[ "$(id -u)" = 0 ] || { echo "cri_scale: must run as root" >&2; exit 1; }
[ -x "$bench" ] || { echo "cri_scale: $bench is missing (make build)" >&2; exit 1; }
[ -x "$OXRUN_BIN" ] || { echo "cri_scale: $OXRUN_BIN is not executable" >&2; exit 1; }
[ -n "$OUT" ] && mkdir -p "$(dirname "$OUT")"
echo "# CRI scale: $N pods per handler, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)"
echo "# containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), oxrun $OXRUN_BIN ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$OUT" ]; then "$bench" -n "$N" -o "$OUT"; else "$bench" -n "$N"; fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
