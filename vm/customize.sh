# Runs inside the new root (chroot) at the end of mmdebstrap.
set -eu
echo oxrun-vm > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 oxrun-vm\n' > /etc/hosts
# root: no password on the serial console (a throwaway test VM without network).
passwd -d root
cat > /etc/fstab <<'FSTAB'
/dev/vda / ext4 rw,errors=remount-ro 0 1
share /mnt/share 9p trans=virtio,version=9p2000.L,msize=524288,nofail 0 0
FSTAB
mkdir -p /mnt/share
printf '9p\n9pnet_virtio\n' > /etc/modules-load.d/9p.conf
# A regular user with subordinate ids and lingering (a systemd user instance and its delegated
# cgroup from boot on, as on a desktop).
useradd -m -u 1000 -s /bin/bash tester
echo 'tester:100000:65536' > /etc/subuid
echo 'tester:100000:65536' > /etc/subgid
mkdir -p /var/lib/systemd/linger && touch /var/lib/systemd/linger/tester
cp /tmp/units/*.service /etc/systemd/system/
# Every test's syslog traffic (Podman, the monitors) lands in oxrun-vm-run.service: journald's
# default rate limit (10000 messages in 30 s per unit) dropped a monitor line a test looks for.
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nRateLimitIntervalSec=0\nRateLimitBurst=0\n' > /etc/systemd/journald.conf.d/oxrun-tests.conf
systemctl enable oxrun-vm-run.service
# Not needed by the runs and slow to start under TCG.
systemctl disable docker.service docker.socket containerd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer 2>/dev/null || true
systemctl mask systemd-networkd-wait-online.service 2>/dev/null || true
rm -rf /tmp/customize.sh /tmp/units
