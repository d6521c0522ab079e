#!/usr/bin/env bash
# Boots the test VM (vm/build.sh's image) under QEMU TCG and runs a script in it.
#   vm/run.sh IMAGE_DIR GUEST_SCRIPT [TIMEOUT_SECONDS]
# The guest sees the repository read-only at its host path (so the host's test binaries, built
# for Debian 12 x86_64 like the guest, run there as they are) and a writable folder at
# /mnt/share holding GUEST_SCRIPT as run.sh; the image's oxrun-vm-run.service runs it at boot,
# writes its output to /mnt/share/out/log and its exit code to /mnt/share/out/rc, and powers off.
# Prints the guest's log and exits with the guest script's code (124 on timeout, 125 when the
# guest gave no result). The image is opened with -snapshot: the cached image is never written.
# VM_EXTRA_SHARE=DIR shares one more host folder read-only (9p tag `extra`; its host path is in
# /mnt/share/extra for the guest script to mount it there, as vm/exec.sh's wrapper does): for
# what must stay outside the repository, such as an external test suite and its binaries.
set -euo pipefail
img=$1 script=$2 limit=${3:-1500}
repo=$(cd "$(dirname "$0")/.." && pwd)
share=$(mktemp -d /tmp/oxrun-vm-share.XXXXXX)
qemu_pid=
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -KILL "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$share"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$share/out"
cp "$script" "$share/run.sh"
printf '%s\n' "$repo" > "$share/repo"
extra=()
if [ -n "${VM_EXTRA_SHARE:-}" ]; then
	dir=$(cd "$VM_EXTRA_SHARE" && pwd)
	extra=(-virtfs "local,path=$dir,mount_tag=extra,security_model=none,readonly=on,id=extra")
	printf '%s\n' "$dir" > "$share/extra"
fi
console=${VM_CONSOLE_LOG:-$repo/vm/out/console.log}
mkdir -p "$(dirname "$console")"
start=$(date +%s)
qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 3072 \
	-nographic -no-reboot -serial "file:$console" -monitor none \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1" \
	-drive "file=$img/disk.img,format=raw,if=virtio,snapshot=on" \
	-virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
	-virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on,id=repo" "${extra[@]}" \
	-nic none </dev/null &
qemu_pid=$!
deadline=$((start + limit))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "vm: guest still running after ${limit} s: killed (console: $console)" >&2
		[ -f "$share/out/log" ] && cat "$share/out/log"
		exit 124
	fi
	sleep 1
done
wait "$qemu_pid" || true
qemu_pid=
echo "vm: guest ran $(( $(date +%s) - start )) s" >&2
[ -f "$share/out/log" ] && cat "$share/out/log"
if [ ! -f "$share/out/rc" ]; then
	echo "vm: the guest wrote no result (console: $console)" >&2
	exit 125
fi
exit "$(cat "$share/out/rc")"
