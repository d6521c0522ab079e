#!/usr/bin/env bash
# Builds the test VM image from Debian 12 packages: a root filesystem by mmdebstrap, made into an ext4
# disk image by mkfs.ext4 -d, plus the kernel and initrd for direct kernel boot. Cached under
# $VM_CACHE/<recipe hash>/ and rebuilt only when the recipe (this folder's build inputs) changes.
# Prints the cache directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VM_CACHE=${VM_CACHE:-/var/cache/oxrun-vm}
key=$(cat "$here/build.sh" "$here/packages.txt" "$here/customize.sh" "$here"/units/* | sha256sum | cut -c1-16)
out=$VM_CACHE/$key
if [ -f "$out/done" ]; then
	echo "vm: cached image $out" >&2
	echo "$out"
	exit 0
fi
mkdir -p "$VM_CACHE"
work=$(mktemp -d "$VM_CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
pkgs=$(grep -v '^#' "$here/packages.txt" | paste -sd, -)
start=$(date +%s)
# variant apt: only what the package list pulls in; no recommends beyond what is listed, so the
# image stays small and the build fast.
hooks=(--customize-hook="upload $here/customize.sh /tmp/customize.sh" --customize-hook='mkdir -p "$1/tmp/units"')
for u in "$here"/units/*; do hooks+=(--customize-hook="upload $u /tmp/units/$(basename "$u")"); done
mmdebstrap --mode=root --variant=apt --include="$pkgs" "${hooks[@]}" \
	--customize-hook='chroot "$1" sh /tmp/customize.sh' \
	bookworm "$work/root" >&2
cp -L "$work/root/vmlinuz" "$work/vmlinuz"
cp -L "$work/root/initrd.img" "$work/initrd.img"
# 6 GiB sparse file: room for container images and test bundles; qemu runs it with -snapshot.
mkfs.ext4 -q -F -L oxrun-vm -d "$work/root" "$work/disk.img" 6G >&2
rm -rf "$work/root"
mv "$work" "$out"
trap - EXIT
touch "$out/done"
# Older recipes are dropped: only the current one is kept.
for d in "$VM_CACHE"/*/; do [ "${d%/}" = "$out" ] || rm -rf "$d"; done
echo "vm: built image $out in $(( $(date +%s) - start )) s" >&2
echo "$out"
