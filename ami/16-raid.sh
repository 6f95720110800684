#!/usr/bin/env bash
# Software RAID for `volumes.raid`: the agent builds and assembles md arrays with mdadm (the
# original's init.d did the same). Debian's cloud AMI has neither mdadm nor a loaded md driver,
# so the RAID step would find no driver (/proc/mdstat) on an instance. Found by booting the image
# as a machine (test/vm/, scenario d); the container boot test runs on the host's kernel.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install mdadm

# md_mod at every boot: the agent's unit may not load modules (no CAP_SYS_MODULE) and
# takes /proc/mdstat as "the kernel has md". The personalities the agent asks for (raid0, raid1,
# raid10; level 4/5/6 autoload raid456 when an array needs it) are loaded with it, so creating an
# array never waits on the kernel's module request.
install -d -m 0755 /etc/modules-load.d
printf '%s\n' '# ami/16-raid.sh: md RAID for volumes.raid (mdadm)' md_mod raid0 raid1 raid10 \
  >/etc/modules-load.d/taupage-raid.conf

# No arrays are known at build time: an instance assembles its own (the agent, from volumes.raid).

# The agent owns the arrays: at boot it assembles volumes.raid from the members' superblocks under
# the config's name (/dev/md/<name>). mdadm's own auto-assembly (udev's incremental rule, and the
# initramfs, where the hostname is not set yet and an array becomes /dev/md127 named
# "taupage:data") would take the members first, and the agent's `mdadm --assemble` then finds them
# busy: the VM test's reboot failed with RAID_FAILED ("/dev/vdc is busy"). AUTO -all turns that
# off for every array (mdadm.conf(5)), in the initramfs as well.
install -d -m 0755 /etc/mdadm
cat >/etc/mdadm/mdadm.conf <<'CONF'
# ami/16-raid.sh: arrays are assembled by the taupage agent from volumes.raid, not at boot.
AUTO -all
# mdmonitor.service (started by udev when an array appears) refuses to run without an address;
# it reports to syslog as well (/etc/default/mdadm: --syslog), which the logs can ship.
MAILADDR root
CONF
if [[ -f /etc/default/mdadm ]]; then
  sed -i 's/^INITRDSTART=.*/INITRDSTART='"'none'"'/' /etc/default/mdadm
fi
update-initramfs -u
