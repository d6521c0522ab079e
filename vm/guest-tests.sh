# Runs inside the test VM (as root, from oxrun-vm-run.service): the repository is shared read-only
# at its host path; /mnt/share/tests lists the test binaries to run (one `name path` a line).
# Exits non-zero when any test binary fails.
set -u
repo=$(cat /mnt/share/repo)
mkdir -p "$repo"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288 repo "$repo" || { echo "guest: cannot mount the repository"; exit 2; }
trap 'cd /; umount "$repo"' EXIT
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export OXRUN_BIN=${VM_OXRUN_BIN:-$repo/target/release/oxrun} OXMON_BIN=${VM_OXMON_BIN:-$repo/target/release/oxmon}
# The shim-tests binaries take the monitor from MONITOR_BIN.
export MONITOR_BIN=$OXMON_BIN
echo "guest: $(uname -r), PID 1 $(cat /proc/1/comm), $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup, controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "guest: up $(cut -d' ' -f1 /proc/uptime) s when the tests start; systemd $(systemctl --version | sed -n 1p | cut -d' ' -f2), state $(systemctl is-system-running)"
failed=0
cd /tmp
while read -r name exe; do
	echo "guest: running integration test $name"
	t0=$(date +%s)
	# shellcheck disable=SC2086 # VM_TEST_ARGS is a list of arguments
	if ! "$exe" --test-threads=2 ${VM_TEST_ARGS:-}; then
		echo "guest: FAILED $name"
		failed=1
	fi
	echo "guest: $name took $(( $(date +%s) - t0 )) s"
done < /mnt/share/tests
exit $failed
