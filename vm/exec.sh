#!/usr/bin/env bash
# Runs an arbitrary script as root in the test VM (for what `make test-vm` does not cover, e.g.
# an external test suite that needs systemd and cgroup v2):
#   [VM_EXTRA_SHARE=DIR] [VM_TIMEOUT=S] vm/exec.sh GUEST_SCRIPT [ARGS...]
# Builds (or reuses) the image, boots it, mounts the repository read-only at its host path (and
# VM_EXTRA_SHARE, read-only, at its host path), runs GUEST_SCRIPT with bash and ARGS from /tmp,
# prints its output and exits with its exit code (vm/run.sh's codes otherwise). /mnt/share is
# the guest's writable shared folder, discarded at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
	echo "usage: [VM_EXTRA_SHARE=DIR] [VM_TIMEOUT=S] vm/exec.sh GUEST_SCRIPT [ARGS...]" >&2
	exit 2
fi
guest_script=$1
shift
img=$("$here/build.sh")
wrapper=$(mktemp /tmp/oxrun-vm-exec.XXXXXX)
trap 'rm -f "$wrapper"' EXIT
{
	# The image's unit runs this with sh: switch to bash (for the %q-quoted ARGS).
	echo '[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"'
	# The guest script goes to the shared folder first (a quoted here-document: copied verbatim).
	echo "cat > /mnt/share/guest-script <<'OXRUN_VM_GUEST_SCRIPT_END'"
	cat "$guest_script"
	[ -z "$(tail -c1 "$guest_script")" ] || echo
	echo "OXRUN_VM_GUEST_SCRIPT_END"
	printf 'set -- '
	[ $# -gt 0 ] && printf '%q ' "$@"
	echo
	cat <<'WRAPPER'
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mounted=
for tag in repo extra; do
	[ -f "/mnt/share/$tag" ] || continue
	dir=$(cat "/mnt/share/$tag")
	mkdir -p "$dir"
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288 "$tag" "$dir" || { echo "guest: cannot mount $tag at $dir"; exit 2; }
	mounted="$dir $mounted"
done
cd /tmp
rc=0
bash /mnt/share/guest-script "$@" || rc=$?
cd /
for dir in $mounted; do umount "$dir" || true; done
exit $rc
WRAPPER
} > "$wrapper"
"$here/run.sh" "$img" "$wrapper" "${VM_TIMEOUT:-1500}"
