import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../../src/audit/audit-trail.js';
import { systemClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { watchAuthLog } from '../../../src/ssh/auth-log-watcher.js';
import { eventually } from '../../support/test-env.js';

const run = promisify(execFile);
const log = createLogger({ level: 'silent', redactor: new Redactor() });
let dir: string;
let rsyslogd: ChildProcess | undefined;

/**
 * The AMI's rsyslog.conf (ami/63-auth-log.sh), run by a private rsyslogd: the journal input is
 * swapped for a Unix socket of the test's own (there is no journald here), everything else — the
 * facility filter, the file template — is the AMI's.
 */
async function amiRsyslogConf(socket: string): Promise<string> {
  const script = await readFile(
    fileURLToPath(new URL('../../../ami/63-auth-log.sh', import.meta.url)),
    'utf8',
  );
  const conf = /<<'RSYSLOG'\n([\s\S]*?)\nRSYSLOG\n/.exec(script)?.[1];
  if (conf === undefined) throw new Error('ami/63-auth-log.sh has no RSYSLOG heredoc');
  const swapped = conf
    .replace('workDirectory="/var/spool/rsyslog"', `workDirectory="${dir}"`)
    .replace(/module\(load="imjournal"[^)]*\)/, 'module(load="imuxsock" SysSock.Use="off")')
    .replace('file="/var/log/auth.log"', `file="${join(dir, 'auth.log')}"`);
  expect(swapped).not.toContain('module(load="imjournal"');
  return `${swapped}\ninput(type="imuxsock" Socket="${socket}" CreatePath="on")\n`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-rsyslog-'));
  const socket = join(dir, 'log.sock');
  await writeFile(join(dir, 'rsyslog.conf'), await amiRsyslogConf(socket));
  await run('rsyslogd', ['-N1', '-f', join(dir, 'rsyslog.conf')]);
  rsyslogd = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
    stdio: 'ignore',
  });
  await eventually(
    () =>
      run('test', ['-S', socket]).then(
        () => true,
        () => undefined,
      ),
    'rsyslogd’s socket',
  );
});
afterAll(async () => {
  rsyslogd?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

/** What sshd sends through syslog(3): tag sshd[pid], facility auth. */
const sshdSays = (priority: string, message: string) =>
  run('logger', ['--socket', join(dir, 'log.sock'), '-p', priority, '-t', 'sshd', '--id=4242', message]);

describe('the AMI’s rsyslog writes sshd’s lines where the auth-log watcher reads them', () => {
  it('turns an sshd login through rsyslog into an ssh.login audit event; other facilities stay out', async () => {
    const trail = new AuditTrail({ file: join(dir, 'audit.jsonl'), clock: systemClock, bootId: 'b' });
    const authLog = join(dir, 'auth.log');
    await sshdSays('auth.info', 'Server listening on 0.0.0.0 port 22.');
    await eventually(() => readFile(authLog, 'utf8'), 'the first auth.log line');
    const controller = new AbortController();
    const watching = watchAuthLog(authLog, trail, systemClock, log, controller.signal, 100);
    try {
      await sshdSays('daemon.info', 'Accepted publickey for mallory from 10.9.9.9 port 1 ssh2');
      await sshdSays(
        'auth.info',
        'Accepted publickey for alice from 10.0.0.1 port 51022 ssh2: ED25519 SHA256:abcDEF0123456789abcDEF0123456789abcDEF01234',
      );
      const events = await eventually(async () => {
        const text = await readFile(join(dir, 'audit.jsonl'), 'utf8').catch(() => '');
        return text.includes('ssh.login') ? text : undefined;
      }, 'the login event');
      const login = events
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; data: Record<string, string> });
      expect(login).toEqual([
        expect.objectContaining({
          type: 'ssh.login',
          data: {
            method: 'publickey',
            user: 'alice',
            from: '10.0.0.1',
            port: '51022',
            keyType: 'ED25519',
            keyFingerprint: 'SHA256:abcDEF0123456789abcDEF0123456789abcDEF01234',
          },
        }),
      ]);
      const file = await readFile(authLog, 'utf8');
      expect(file).toMatch(/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ sshd\[4242\]: Server listening/m);
      expect(file).not.toContain('mallory'); // daemon facility: not in auth.log
    } finally {
      controller.abort();
      await watching;
    }
  });
});
