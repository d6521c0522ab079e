#!/usr/bin/env bash
# containerd scale benchmark (issue 11): N containers (default 200) started
# through containerd's runc shim (`ctr run -d --runc-binary`), an exec into
# each, then all stopped and removed; per-container times for oxrun against
# runc, and a check that nothing is left behind (shims, runtime state,
# cgroups, mounts, processes).
#
# usage: bench/containerd_scale.sh [-n N] [-p PARALLEL] [-r ROUNDS] [-o OUT.md] [BINARY...]
#   BINARY defaults to: /usr/sbin/runc and $OXRUN_BIN (else target/release/oxrun).
#   -p: how many ctr commands run at once in every phase (default 1: sequential).
#   -r: rounds (default 1); every other round runs the binaries in reverse order.
#   BENCH_QUICK=1: N=10.
# Must run as root. Uses a private containerd (own socket, root, state; CRI
# disabled) and a busybox OCI image built from /bin/busybox; everything is
# removed at exit, also on failure. Exits 1 if anything is left behind or a
# container of a binary other than /usr/sbin/runc (the reference) failed;
# runc's failures are counted in the table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
N=${N:-200}
[ "${BENCH_QUICK:-}" = 1 ] && N=10
PAR=1
ROUNDS=1
OUT=""
while getopts "n:p:r:o:" o; do
	case $o in
	n) N=$OPTARG ;;
	p) PAR=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) sed -n '2,17p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then bins=("$@"); else bins=(/usr/sbin/runc "${OXRUN_BIN:-$repo/target/release/oxrun}"); fi
[ "$(id -u)" = 0 ] || { echo "containerd_scale: must run as root" >&2; exit 1; }
for t in containerd ctr containerd-shim-runc-v2 busybox tar gzip sha256sum; do
	command -v "$t" >/dev/null || { echo "containerd_scale: $t is missing (apt-get install -y containerd busybox-static)" >&2; exit 1; }
done
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "containerd_scale: $b is not executable" >&2; exit 1; }; done

W=$(mktemp -d /tmp/oxctd-bench-XXXXXX)
chmod 711 "$W"
SOCK=$W/c.sock
NS=oxbench
IMG=docker.io/library/oxbox:latest
CPID=""
ctr_() { ctr --address "$SOCK" --namespace "$NS" "$@"; }

cleanup() {
	set +e
	if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
		for c in $(ctr_ containers ls -q 2>/dev/null); do
			ctr_ task kill -a -s SIGKILL "$c" >/dev/null 2>&1
			ctr_ task delete -f "$c" >/dev/null 2>&1
			ctr_ containers delete "$c" >/dev/null 2>&1
		done
		ctr_ images rm "$IMG" >/dev/null 2>&1
		kill "$CPID"; for _ in $(seq 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CPID" 2>/dev/null
	fi
	for p in $(pgrep -f "containerd-shim.*$SOCK" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	grep -o " $W[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	for d in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS"; do
		[ -d "$d" ] && { find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$d" 2>/dev/null; }
	done
	rm -rf "$W"
}
trap cleanup EXIT

# --- private containerd -------------------------------------------------------
mkdir -p "$W/root" "$W/state" "$W/opt"
cat >"$W/config.toml" <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/opt"
EOF
containerd --config "$W/config.toml" >"$W/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 200); do ctr_ version >/dev/null 2>&1 && break; sleep 0.05; done
ctr_ version >/dev/null || { cat "$W/containerd.log" >&2; exit 1; }

# --- busybox OCI image ----------------------------------------------------------
case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
I=$W/img
mkdir -p "$I/rootfs/bin" "$I/rootfs/etc" "$I/rootfs/tmp" "$I/rootfs/proc" "$I/rootfs/sys" "$I/rootfs/dev" "$I/layout/blobs/sha256"
chmod 1777 "$I/rootfs/tmp"
cp "$(command -v busybox)" "$I/rootfs/bin/busybox"
for a in $("$I/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$I/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$I/rootfs/etc/passwd"
echo 'root:x:0:' >"$I/rootfs/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$I/rootfs" -cf "$I/layer.tar" .
diffid=$(sha256sum "$I/layer.tar" | cut -d' ' -f1)
gzip -n -c "$I/layer.tar" >"$I/layer.tar.gz"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$I/layout/blobs/sha256/$d"; echo "$d $(stat -c%s "$I/layout/blobs/sha256/$d")"; }
read -r ld lsz < <(blob "$I/layer.tar.gz")
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$arch" "$diffid" >"$I/config.json"
read -r cd csz < <(blob "$I/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cd" "$csz" "$ld" "$lsz" >"$I/manifest.json"
read -r md msz < <(blob "$I/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$msz" "$arch" "$IMG" >"$I/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$I/layout/oci-layout"
tar -C "$I/layout" -cf "$W/oxbox.tar" .
ctr_ images import "$W/oxbox.tar" >/dev/null
rm -rf "$I"

# --- phases -----------------------------------------------------------------------
now() { date +%s.%N; }
# phase NAME CMD...: runs `CMD i` for i in 1..N, PAR at a time; prints the seconds taken.
phase() {
	local name=$1; shift
	local t0 t1 fails
	t0=$(now)
	fails=$(seq 1 "$N" | xargs -P "$PAR" -I{} bash -c "$1 {} >/dev/null 2>>'$W/errors.log' || echo x" | wc -l)
	t1=$(now)
	if [ "$fails" != 0 ]; then echo "containerd_scale: $fails of $N failed in $name:" >&2; tail -5 "$W/errors.log" >&2; fi
	echo "$(awk "BEGIN{print $t1 - $t0}") $fails"
}
export SOCK NS IMG W
start_one() { ctr --address "$SOCK" --namespace "$NS" run -d --null-io --runc-binary "$BIN" --runc-root "$RROOT" "$IMG" "c$1" sleep 100000; }
# The exec'd shell exits 7, so the exit code shows the process ran and its status came back
# through the runtime and the shim. Exit 7 without the output is counted apart: ctr's client
# cancels the exec's IO copy when it deletes the process right after the exit event
# (containerd's process.Delete: io.Cancel before io.Wait; containerd PR #14120), which can drop
# output that was already written; runc and oxrun alike.
exec_one() {
	local out rc
	out=$(ctr --address "$SOCK" --namespace "$NS" task exec --exec-id e "c$1" sh -c 'echo ok-$$; exit 7')
	rc=$?
	[ $rc = 7 ] && [ "${out#ok-}" != "$out" ] && return 0
	if [ $rc = 7 ] && [ -z "$out" ]; then
		echo "exec c$1: exit 7, output lost by ctr" >>"$W/lost.log"
		return 0
	fi
	echo "exec c$1: exit $rc (want 7), output [$out]" >&2
	return 1
}
stop_one() {
	ctr --address "$SOCK" --namespace "$NS" task kill -s SIGKILL "c$1" &&
		ctr --address "$SOCK" --namespace "$NS" task delete -f "c$1" >/dev/null &&
		ctr --address "$SOCK" --namespace "$NS" containers delete "c$1"
}
export -f start_one exec_one stop_one

leftovers() {
	local l=""
	# the shim runs the binary with --root <runc-root>/<namespace>
	[ -n "$(ls -A "$RROOT/$NS" 2>/dev/null)" ] && l="$l runtime-state:$(ls -A "$RROOT/$NS" | wc -l)"
	local s; s=$(pgrep -fc "containerd-shim.*$SOCK" || true)
	[ "$s" != 0 ] && l="$l shims:$s"
	local c; c=$(find /sys/fs/cgroup/*/"$NS" -mindepth 1 -type d 2>/dev/null | wc -l)
	[ "$c" != 0 ] && l="$l cgroups:$c"
	local m; m=$(grep -c "$W/state" /proc/self/mountinfo || true)
	[ "$m" != 0 ] && l="$l mounts:$m"
	local b; b=$(ls "$W/state/io.containerd.runtime.v2.task/$NS" 2>/dev/null | wc -l)
	[ "$b" != 0 ] && l="$l task-bundles:$b"
	local p; p=$(pgrep -f '^sleep 100000$' | wc -l)
	[ "$p" != 0 ] && l="$l processes:$p"
	local k; k=$(ctr_ containers ls -q | wc -l)
	[ "$k" != 0 ] && l="$l containers:$k"
	echo "${l:- none}"
}

ms() { awk "BEGIN{printf \"%.1f\", $1 * 1000 / $N}"; }
status=0
rows=()
echo "containerd $(containerd --version | awk '{print $3}'), N=$N, parallel=$PAR, $(nproc) CPUs, kernel $(uname -r)" >&2
order=()
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order+=("${bins[@]}"); else for ((k = ${#bins[@]} - 1; k >= 0; k--)); do order+=("${bins[k]}"); done; fi
done
round=0
for BIN in "${order[@]}"; do
	round=$((round + 1))
	export BIN RROOT=$W/runc-$(basename "$BIN")-$round
	mkdir -p "$RROOT"
	: >"$W/errors.log"
	: >"$W/lost.log"
	name=$(basename "$BIN")
	echo "== $name ($BIN)" >&2
	read -r ts fs < <(phase start start_one)
	running=$(ctr_ task ls | grep -c RUNNING || true)
	read -r te fe < <(phase exec exec_one)
	lost=$(wc -l <"$W/lost.log")
	lost_note=""
	[ "$lost" != 0 ] && lost_note=" (+$lost exec output lost by ctr)"
	read -r tx fx < <(phase stop+remove stop_one)
	left=$(leftovers)
	# Leftovers fail the run for any binary; failures only for the binaries under test (runc is
	# the reference: its failures are reported in the table). Outputs lost by ctr are no failure.
	if [ "$left" != " none" ]; then
		status=1
	elif [ "$BIN" != /usr/sbin/runc ] && { [ "$((fs + fe + fx))" != 0 ] || [ "$running" != "$N" ]; }; then
		status=1
	fi
	printf '   start %s ms/ctr, exec %s ms/ctr, stop+remove %s ms/ctr, running after start: %s/%s, failures: %s, leftovers:%s\n' \
		"$(ms "$ts")" "$(ms "$te")" "$(ms "$tx")" "$running" "$N" "$((fs + fe + fx))$lost_note" "$left" >&2
	rows+=("| $name | $(( (round - 1) / ${#bins[@]} + 1 )) | $N | $(ms "$ts") | $(ms "$te") | $(ms "$tx") | $(ms "$(awk "BEGIN{print $ts + $te + $tx}")") | $running/$N | $((fs + fe + fx))$lost_note |$left |")
done
{
	echo "### containerd $(containerd --version | awk '{print $3}') runc shim, $N containers, $PAR at a time ($(nproc) CPUs, kernel $(uname -r))"
	echo
	echo "| binary | round | N | start (ms/ctr) | exec (ms/ctr) | stop+remove (ms/ctr) | total (ms/ctr) | running | failures | left behind |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
} | tee ${OUT:+"$OUT"}
exit $status
