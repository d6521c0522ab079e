#!/usr/bin/env bash
# `make test-vm`: builds (or reuses) the VM image, builds the integration and shim-tests test
# binaries on the host (the guest is Debian 12 x86_64 like the host, so they run there
# unchanged), boots the guest and runs the listed test files in it. The guest's cargo-style
# `test result:` lines are printed here; a failing guest test makes this script exit non-zero.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cargo=${CARGO:-cargo}
missing=
for tool in mmdebstrap:mmdebstrap qemu-system-x86_64:qemu-system-x86 mkfs.ext4:e2fsprogs jq:jq; do
	command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
	echo "test-vm: missing Debian packages:$missing (apt-get install -y$missing)" >&2
	exit 1
fi
# The integration test files that mean something on a pure cgroup v2 host with systemd (set empty:
# none; VM_SHIM_TESTS= likewise).
VM_TESTS=${VM_TESTS-cgroup_v2_host systemd_cgroup cgroups operate clone_into_cgroup cgroups_resources vm_podman vm_engines vm_apparmor}
# The monitor protocol test files (shim-tests) that need a cgroup v2 host, run against oxmon.
VM_SHIM_TESTS=${VM_SHIM_TESTS-cgroup_v2_oom}
t0=$(date +%s)
img=$("$here/build.sh")
t1=$(date +%s)
list=$(mktemp /tmp/oxrun-vm-tests.XXXXXX)
script=$(mktemp /tmp/oxrun-vm-script.XXXXXX)
trap 'rm -f "$list" "$script"' EXIT
cd "$repo"
# `name path` of a package's test binaries.
test_binaries() {
	"$cargo" test --release -p "$1" --no-run --message-format=json 2>/dev/null \
		| jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.kind == ["test"]) | "\(.target.name) \(.executable)"'
}
: > "$list"
for pkg in integration shim-tests; do
	names=$VM_TESTS
	[ "$pkg" = integration ] || names=$VM_SHIM_TESTS
	[ -n "$names" ] || continue
	test_binaries "$pkg" > "$list.all"
	for t in $names; do
		grep "^$t " "$list.all" >> "$list" || { echo "test-vm: no $pkg test binary for $t" >&2; rm -f "$list.all"; exit 1; }
	done
done
rm -f "$list.all"
# The guest script gets its test list from the shared folder.
# VM_TEST_ARGS (e.g. a test name filter) go to every test binary; VM_OXRUN_BIN and VM_OXMON_BIN
# (paths under the repository) replace the runtime and monitor the tests use, to compare two
# builds in the guest.
{
	echo "cat > /mnt/share/tests <<'LIST'"; cat "$list"; echo "LIST"
	printf 'VM_TEST_ARGS=%q\nVM_OXRUN_BIN=%q\nVM_OXMON_BIN=%q\n' "${VM_TEST_ARGS:-}" "${VM_OXRUN_BIN:-}" "${VM_OXMON_BIN:-}"
	cat "$here/guest-tests.sh"
} > "$script"
t2=$(date +%s)
rc=0
"$here/run.sh" "$img" "$script" "${VM_TIMEOUT:-1500}" || rc=$?
t3=$(date +%s)
echo "test-vm: image $((t1 - t0)) s, test build $((t2 - t1)) s, guest boot + tests $((t3 - t2)) s; guest exit code $rc"
exit $rc
