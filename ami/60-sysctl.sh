#!/usr/bin/env bash
# Kernel baseline: what every instance gets before user data is read. Values a particular app
# needs differently are the config's business (sysctl key), not the image's.
set -euo pipefail

cat >/etc/sysctl.d/60-taupage.conf <<'SYSCTL'
# taupage AMI (ami/60-sysctl.sh).
# Kernel pointers and the kernel log are for root only (they help exploits find their targets).
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
# ptrace only of one's own descendants: a compromised process cannot read its siblings' memory.
kernel.yama.ptrace_scope = 1
# No unprivileged eBPF (a recurring source of kernel exploits); containers do not need it.
kernel.unprivileged_bpf_disabled = 1
net.core.bpf_jit_harden = 2
# No core dumps of setuid programs (they could leak secrets of a more privileged user).
fs.suid_dumpable = 0
# Links in world-writable directories cannot be used to trick root into writing elsewhere.
fs.protected_hardlinks = 1
fs.protected_symlinks = 1
fs.protected_fifos = 2
fs.protected_regular = 2
# The instance is a host, not a router: no redirects, no source routing, log spoofed packets.
# (ip_forward stays on: Docker's bridge needs it and dockerd sets it anyway.)
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv4.conf.all.log_martians = 1
net.ipv4.icmp_echo_ignore_broadcasts = 1
net.ipv4.icmp_ignore_bogus_error_responses = 1
# SYN floods degrade to cookies instead of dropping connections.
net.ipv4.tcp_syncookies = 1
# Servers behind load balancers: a deeper accept queue and more local ports for outgoing calls.
net.core.somaxconn = 4096
net.ipv4.ip_local_port_range = 10240 65000
# JVM and Elasticsearch-style apps map many regions; the default 65530 is too low for them.
vm.max_map_count = 262144
SYSCTL
chmod 0644 /etc/sysctl.d/60-taupage.conf
