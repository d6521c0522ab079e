#!/bin/sh
# Soak (issue 9, `make soak`, not in CI): mixed operations for SOAK_SECONDS (default 3600) with
# oxrun and oxmon, then a report of fd counts, RSS and leftovers. Exits 1 when anything leaked.
#   scripts/soak.sh [OXRUN] [OXMON]        SOAK_SECONDS=180 scripts/soak.sh   (a short run)
set -eu
OXRUN=${1:-$(pwd)/target/release/oxrun}
OXMON=${2:-$(pwd)/target/release/oxmon}
SECONDS_TOTAL=${SOAK_SECONDS:-3600}
WORK=$(mktemp -d /tmp/oxrun-soak-XXXXXX)
ROOT=$WORK/root
CGPARENT=/oxrun-soak-$$
trap 'rm -rf "$WORK"' EXIT

# A busybox bundle.
B=$WORK/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/sys" "$B/rootfs/tmp"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh sleep true echo cat seq awk; do ln -sf busybox "$B/rootfs/bin/$a"; done
( cd "$B" && "$OXRUN" spec )
sed -i 's/"terminal": true/"terminal": false/' "$B/config.json"

config() { # config ARGS_JSON CGROUP
	jq --argjson a "$1" --arg cg "$2" '.process.args = $a | .linux.cgroupsPath = $cg | .root.readonly = false' "$B/config.json.orig" > "$B/config.json"
}
cp "$B/config.json" "$B/config.json.orig"

fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# One long-lived container under oxmon, watched for fd and RSS growth.
LONG=soak-long-$$
mkdir -p "$WORK/exits" "$WORK/long"
config '["sh","-c","while true; do echo tick; sleep 1; done"]' "$CGPARENT/$LONG"
cp "$B/config.json" "$WORK/long-config.json"
"$OXMON" --api-version 1 -c "$LONG" -u "$LONG" -r "$OXRUN" -b "$B" -p "$WORK/long/pid" -n "$LONG" \
	--exit-dir "$WORK/exits" --conmon-pidfile "$WORK/long/conmon.pid" -l "k8s-file:$WORK/long/ctr.log" \
	--runtime-arg --root --runtime-arg "$ROOT" --log-size-max 1048576 </dev/null >/dev/null 2>"$WORK/long/oxmon.err" || true
# The monitor writes its own pid file before the runtime's create has finished; the container's
# pid file is written only once create succeeded.
for _ in $(seq 100); do [ -s "$WORK/long/pid" ] && break; sleep 0.1; done
MON=$(cat "$WORK/long/conmon.pid")
"$OXRUN" --root "$ROOT" start "$LONG"
FD0=$(fds_of "$MON"); RSS0=$(rss_of "$MON")
echo "soak: ${SECONDS_TOTAL}s; long-lived monitor $MON: fds $FD0, RSS ${RSS0} KiB"

# Each failed operation's stderr is kept (outside $WORK, which is removed) for diagnosis.
FAILLOG=${SOAK_FAILLOG:-/tmp/oxrun-soak-failures.log}
: > "$FAILLOG"
failed() { # failed STEP: counts a failure and keeps its stderr
	fail=$((fail + 1))
	{ echo "--- op $n ($1) at $(date +%T)"; cat "$WORK/err"; } >> "$FAILLOG"
}
end=$(( $(date +%s) + SECONDS_TOTAL ))
n=0; fail=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1)); id=soak-$$-$n
	case $((n % 4)) in
	0) config '["true"]' "$CGPARENT/$id"
	   "$OXRUN" --root "$ROOT" run -b "$B" "$id" >/dev/null 2>"$WORK/err" || failed run ;;
	1) config '["sleep","1000"]' "$CGPARENT/$id"
	   { "$OXRUN" --root "$ROOT" create -b "$B" "$id" && "$OXRUN" --root "$ROOT" start "$id" \
	     && "$OXRUN" --root "$ROOT" exec "$id" true && "$OXRUN" --root "$ROOT" kill "$id" KILL; } >/dev/null 2>"$WORK/err" || failed lifecycle
	   for _ in $(seq 500); do "$OXRUN" --root "$ROOT" state "$id" 2>/dev/null | grep -q '"stopped"' && break; sleep 0.02; done
	   "$OXRUN" --root "$ROOT" delete "$id" >/dev/null 2>"$WORK/err" || failed delete ;;
	2) config '["sleep","1000"]' "$CGPARENT/$id"
	   { "$OXRUN" --root "$ROOT" create -b "$B" "$id" && "$OXRUN" --root "$ROOT" delete --force "$id"; } >/dev/null 2>"$WORK/err" || failed create-force-delete ;;
	3) "$OXRUN" --root "$ROOT" exec "$LONG" sh -c 'echo exec-ok' >/dev/null 2>"$WORK/err" || failed exec
	   "$OXRUN" --root "$ROOT" list >/dev/null 2>"$WORK/err" || failed list ;;
	esac
done

FD1=$(fds_of "$MON"); RSS1=$(rss_of "$MON")
"$OXRUN" --root "$ROOT" kill "$LONG" KILL
for _ in $(seq 100); do [ -s "$WORK/exits/$LONG" ] && break; sleep 0.1; done
"$OXRUN" --root "$ROOT" delete --force "$LONG" >/dev/null 2>&1 || true

leftover_dirs=$(ls "$ROOT" 2>/dev/null | wc -l)
leftover_cg=$(find /sys/fs/cgroup -path "*$CGPARENT/*" -type d 2>/dev/null | wc -l)
leftover_mounts=$(grep -c "$WORK" /proc/self/mountinfo || true)
leftover_procs=$(grep -l "[s]oak-$$-" /proc/[0-9]*/cmdline 2>/dev/null | wc -l)
echo "soak: $n operations, $fail failed"
[ "$fail" -eq 0 ] || { echo "soak: failures (from $FAILLOG):"; head -20 "$FAILLOG"; }
echo "soak: long-lived monitor fds $FD0 -> $FD1, RSS $RSS0 -> $RSS1 KiB; exit file: $(cat "$WORK/exits/$LONG" 2>/dev/null || echo none)"
echo "soak: leftovers: state dirs $leftover_dirs, cgroups $leftover_cg, mounts $leftover_mounts, processes $leftover_procs"
find /sys/fs/cgroup -path "*$CGPARENT" -type d -delete 2>/dev/null || true
[ "$fail" -eq 0 ] && [ "$FD1" -le "$FD0" ] && [ "$RSS1" -le $((RSS0 + 1024)) ] && [ "$leftover_dirs" -eq 0 ] \
	&& [ "$leftover_cg" -eq 0 ] && [ "$leftover_mounts" -eq 0 ] && [ "$leftover_procs" -eq 0 ]
