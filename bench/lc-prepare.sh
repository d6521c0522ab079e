#!/bin/sh
# hyperfine --prepare helper for the lifecycle benchmark: leaves container ID ready for PHASE.
#   create: no container ID            start: ID created            delete: ID started and stopped
# usage: lc-prepare.sh PHASE RUNTIME ROOT BUNDLE ID
phase=$1 rt=$2 root=$3 bundle=$4 id=$5
# The container inherits our stdio: never give it hyperfine's.
exec </dev/null >/dev/null
"$rt" --root "$root" delete -f "$id" >/dev/null 2>&1
[ "$phase" = create ] && exit 0
err=$(mktemp)
"$rt" --root "$root" create -b "$bundle" "$id" 2>"$err" || { cat "$err" >&2; rm -f "$err"; exit 1; }
rm -f "$err"
[ "$phase" = start ] && exit 0
"$rt" --root "$root" start "$id" || exit 1
# /bin/true exits at once; wait until the runtime reports it stopped (bounded).
i=0
while [ $i -lt 2000 ]; do
	"$rt" --root "$root" state "$id" 2>/dev/null | grep -q '"status": *"stopped"' && exit 0
	i=$((i + 1))
done
echo "lc-prepare: $id never reached stopped" >&2
exit 1
