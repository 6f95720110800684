import { describe, expect, it } from 'vitest';
import { diskstatsFamilies, parseDiskstats } from '../../../src/metrics/diskstats-collector.js';
import { filesystemFamilies, parseMounts } from '../../../src/metrics/filesystem-collector.js';
import { meminfoFamilies, parseMeminfo } from '../../../src/metrics/meminfo-collector.js';
import { renderFamilies } from '../../../src/metrics/metric-family.js';
import { netdevFamilies, parseNetDev } from '../../../src/metrics/netdev-collector.js';
import { cpuFamilies, parseProcStat, statFamilies } from '../../../src/metrics/proc-stat-collectors.js';

const PROC_STAT = `cpu  500 10 300 9000 20 0 5 0 0 0
cpu0 250 5 150 4500 10 0 3 1 7 2
cpu1 250 5 150 4500 10 0 2 0 0 0
intr 123456 1 2 3
ctxt 999
btime 1700000000
processes 4242
procs_running 3
procs_blocked 1
`;

describe('/proc parsers in node_exporter terms', () => {
  it('cpu: seconds per cpu and mode from USER_HZ ticks, guest time apart, the total line skipped', () => {
    const [guest, seconds] = cpuFamilies(parseProcStat(PROC_STAT));
    expect(seconds?.name).toBe('node_cpu_seconds_total');
    expect(seconds?.type).toBe('counter');
    expect(seconds?.samples).toHaveLength(16);
    expect(seconds?.samples[0]).toEqual({ labels: { cpu: '0', mode: 'user' }, value: 2.5 });
    expect(seconds?.samples.find((s) => s.labels.cpu === '0' && s.labels.mode === 'steal')?.value).toBe(0.01);
    expect(guest?.samples.filter((s) => s.labels.cpu === '0')).toEqual([
      { labels: { cpu: '0', mode: 'user' }, value: 0.07 },
      { labels: { cpu: '0', mode: 'nice' }, value: 0.02 },
    ]);
  });

  it('stat: boot time, context switches, forks, interrupts, procs', () => {
    const text = renderFamilies(statFamilies(parseProcStat(PROC_STAT)));
    expect(text).toContain('node_boot_time_seconds 1700000000\n');
    expect(text).toContain('node_context_switches_total 999\n');
    expect(text).toContain('node_forks_total 4242\n');
    expect(text).toContain('node_intr_total 123456\n');
    expect(text).toContain('node_procs_running 3\n');
    expect(text).toContain('node_procs_blocked 1\n');
  });

  it('meminfo: kB fields become _bytes, (anon) becomes _anon, unit-less fields keep their name', () => {
    const fields = parseMeminfo(
      'MemTotal:       16000 kB\nActive(anon):      12 kB\nHugePages_Total:       4\n',
    );
    expect([...fields]).toEqual([
      ['MemTotal_bytes', 16000 * 1024],
      ['Active_anon_bytes', 12 * 1024],
      ['HugePages_Total', 4],
    ]);
    expect(renderFamilies(meminfoFamilies(fields))).toContain(
      '# HELP node_memory_Active_anon_bytes Memory information field Active_anon_bytes.\n# TYPE node_memory_Active_anon_bytes gauge\nnode_memory_Active_anon_bytes 12288\n',
    );
  });

  it('mounts: excluded types and mount points, octal escapes, read-only, duplicates once', () => {
    const mounts = parseMounts(
      [
        '/dev/vda / ext4 rw,relatime 0 0',
        'proc /proc proc rw 0 0',
        'tmpfs /run tmpfs rw 0 0',
        'overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0',
        '/dev/vdb /data\\040disk xfs ro,noatime 0 0',
        '/dev/vda / ext4 rw,relatime 0 0',
        'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0',
      ].join('\n'),
    );
    expect(mounts).toEqual([
      { device: '/dev/vda', mountpoint: '/', fstype: 'ext4', readonly: false },
      { device: '/dev/vdb', mountpoint: '/data disk', fstype: 'xfs', readonly: true },
    ]);
    const [root, data] = mounts;
    if (root === undefined || data === undefined) throw new Error('two mounts expected');
    const families = filesystemFamilies([
      { ...root, stats: { sizeBytes: 100, freeBytes: 40, availBytes: 30, files: 10, filesFree: 5 } },
      { ...data, stats: undefined },
    ]);
    const text = renderFamilies(families);
    expect(text).toContain(
      'node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 100\n',
    );
    expect(text).toContain(
      'node_filesystem_device_error{device="/dev/vdb",fstype="xfs",mountpoint="/data disk"} 1\n',
    );
    expect(text).toContain(
      'node_filesystem_readonly{device="/dev/vdb",fstype="xfs",mountpoint="/data disk"} 1\n',
    );
    expect(text).not.toContain('node_filesystem_size_bytes{device="/dev/vdb"');
  });

  it('diskstats: partitions and loop devices left out, sectors to bytes, ms to seconds', () => {
    const disks = parseDiskstats(
      [
        ' 254       0 vda 100 2 800 50 200 3 1600 70 0 90 120 4 0 16 5 6 7',
        ' 254       1 vda1 1 1 1 1 1 1 1 1 0 1 1',
        '   7       0 loop0 1 1 1 1 1 1 1 1 0 1 1',
        ' 259       0 nvme0n1 1 0 8 1 1 0 8 1 0 1 1',
      ].join('\n'),
    );
    expect(disks.map((disk) => disk.device)).toEqual(['vda', 'nvme0n1']);
    const text = renderFamilies(diskstatsFamilies(disks));
    expect(text).toContain('node_disk_read_bytes_total{device="vda"} 409600\n');
    expect(text).toContain('node_disk_read_time_seconds_total{device="vda"} 0.05\n');
    expect(text).toContain('node_disk_io_now{device="vda"} 0\n');
    expect(text).toContain('node_disk_flush_requests_total{device="vda"} 6\n');
    // An old kernel without discard/flush columns: those families have no nvme0n1 sample.
    expect(text).not.toContain('node_disk_flush_requests_total{device="nvme0n1"}');
    expect(text).toContain(
      'node_disk_info{device="vda",major="254",minor="0",model="",path="",revision="",serial="",wwn=""} 1\n',
    );
  });

  it('net/dev: columns named from the header, lo left out', () => {
    const devices = parseNetDev(
      [
        'Inter-|   Receive                                                |  Transmit',
        ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
        '    lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0',
        '  eth0: 1000 10 1 2 3 4 5 6 2000 20 7 8 9 10 11 12',
      ].join('\n'),
    );
    expect(devices.map((device) => device.device)).toEqual(['eth0']);
    const text = renderFamilies(netdevFamilies(devices));
    expect(text).toContain(
      '# HELP node_network_receive_bytes_total Network device statistic receive_bytes.\n# TYPE node_network_receive_bytes_total counter\nnode_network_receive_bytes_total{device="eth0"} 1000\n',
    );
    expect(text).toContain('node_network_transmit_colls_total{device="eth0"} 10\n');
    expect(text).toContain('node_network_transmit_carrier_total{device="eth0"} 11\n');
  });
});
