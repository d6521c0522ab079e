#!/usr/bin/env bash
# Installs the Debian 12 packages the demo, the tests and the benchmarks use, skipping apt when
# everything is present. `make deps` and CI (.ci/run) both call this; the lists live only here.
set -euo pipefail
# Installed with their recommended packages. protobuf-compiler builds the CRI client of the
# integration tests; containernetworking-plugins gives their pods a network; mmdebstrap and
# qemu-system-x86 build and boot the systemd + cgroup v2 guest of `make test-vm`.
with_recommends=(busybox-static libseccomp-dev pkg-config runc crun conmon podman uidmap jq hyperfine
  iproute2 gcc containerd catatonit netavark iptables time python3 strace dbus-daemon systemd
  protobuf-compiler containernetworking-plugins mmdebstrap qemu-system-x86)
# Installed without: docker.io would bring apparmor, cgroupfs-mount and more, none of which the
# tests use (tini, which `docker run --init` needs, is a dependency).
without_recommends=(docker.io)

# oxrun's musl build (Makefile, runtime/build.rs) needs the Rust target from rustup's server; a
# machine that cannot reach it builds oxrun for glibc instead (make build says so).
musl=x86_64-unknown-linux-musl
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  timeout 300 rustup target add "$musl" >/dev/null 2>&1 ||
    echo "deps: cannot add the Rust target $musl (rustup): oxrun will be the glibc build" >&2
fi

missing() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }
mapfile -t need_a < <(missing "${with_recommends[@]}")
mapfile -t need_b < <(missing "${without_recommends[@]}")
[ ${#need_a[@]} -eq 0 ] && [ ${#need_b[@]} -eq 0 ] && exit 0
echo "installing: ${need_a[*]} ${need_b[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages must not start system services (a system dockerd would add a bridge and iptables
# rules; the tests start their own daemons): deny starts while installing, as Docker images do.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=/usr/sbin/policy-rc.d
fi
trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
apt-get update -qq
[ ${#need_a[@]} -eq 0 ] || apt-get install -y -qq "${need_a[@]}" >/dev/null
[ ${#need_b[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need_b[@]}" >/dev/null
