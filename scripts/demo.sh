#!/usr/bin/env bash
# Builds a busybox bundle with `oxrun spec` and runs a container that shows its isolation.
set -euo pipefail
OXRUN=$(realpath "${1:-target/release/oxrun}")
BUSYBOX=$(command -v busybox || echo /bin/busybox)
work=$(mktemp -d /tmp/oxrun-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$BUSYBOX" "$work/rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
echo 'root:x:0:' > "$work/rootfs/etc/group"
(cd "$work" && "$OXRUN" spec)
# Not a terminal (the demo's output goes to a pipe too), and a script that shows the isolation.
python3 - "$work/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["hostname"] = "oxrun-demo"
c["process"]["args"] = ["sh", "-c",
    "echo \"hostname: $(hostname)\"; echo \"my pid: $$\"; echo 'processes:'; ps; "
    "echo 'mounts:'; cat /proc/self/mounts | cut -d' ' -f1-3; echo \"capabilities: $(grep CapEff /proc/self/status)\""]
json.dump(c, open(path, "w"), indent=2)
PY
echo "== oxrun run (bundle $work)"
"$OXRUN" run -b "$work" "demo-$$"
echo "== container exited with $?; state left behind: $(ls /run/oxrun 2>/dev/null | grep -c "demo-$$" || true)"
