import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';

// Talks to the emulator over real HTTP with fetch, the way a hand-written IMDSv2 client does.
let imds: ImdsEmulator;

beforeEach(async () => {
  imds = await ImdsEmulator.start({ userData: 'application_id: demo\n' });
});

afterEach(async () => {
  vi.useRealTimers();
  await imds.close();
});

async function putToken(headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${imds.url}/latest/api/token`, {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600', ...headers },
  });
}

async function token(): Promise<string> {
  const res = await putToken();
  expect(res.status).toBe(200);
  return res.text();
}

async function get(path: string, tok?: string): Promise<Response> {
  return fetch(
    `${imds.url}${path}`,
    tok === undefined ? {} : { headers: { 'X-aws-ec2-metadata-token': tok } },
  );
}

describe('ImdsEmulator', () => {
  it('issues a token and serves metadata with it', async () => {
    const res = await putToken();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('x-aws-ec2-metadata-token-ttl-seconds')).toBe('21600');
    const tok = await res.text();
    expect(tok.length).toBeGreaterThan(20);
    const id = await get('/latest/meta-data/instance-id', tok);
    expect(id.status).toBe(200);
    expect(await id.text()).toBe('i-0123456789abcdef0');
    expect(await (await get('/latest/meta-data/placement/availability-zone', tok)).text()).toBe(
      'eu-central-1a',
    );
    expect(await (await get('/latest/meta-data/placement/region', tok)).text()).toBe('eu-central-1');
    expect(await (await get('/latest/meta-data/local-ipv4', tok)).text()).toBe('10.0.0.10');
    expect(imds.tokensIssued).toBe(1);
  });

  it('refuses IMDSv1 (no token) and unknown tokens with 401, even on unknown paths', async () => {
    expect((await get('/latest/meta-data/instance-id')).status).toBe(401);
    expect((await get('/latest/user-data', 'not-a-token')).status).toBe(401);
    expect((await get('/no/such/path')).status).toBe(401);
  });

  it.each([undefined, '0', '21601', 'abc', '1.5', '-5'])('rejects TTL %s with 400', async (ttl) => {
    const res = await fetch(`${imds.url}/latest/api/token`, {
      method: 'PUT',
      headers: ttl === undefined ? {} : { 'X-aws-ec2-metadata-token-ttl-seconds': ttl },
    });
    expect(res.status).toBe(400);
    expect(imds.tokensIssued).toBe(0);
  });

  it('accepts the TTL bounds 1 and 21600', async () => {
    expect((await putToken({ 'X-aws-ec2-metadata-token-ttl-seconds': '1' })).status).toBe(200);
    expect((await putToken({ 'X-aws-ec2-metadata-token-ttl-seconds': '21600' })).status).toBe(200);
  });

  it('rejects a token PUT that carries X-Forwarded-For with 403', async () => {
    const res = await putToken({ 'X-Forwarded-For': '203.0.113.7' });
    expect(res.status).toBe(403);
    expect(imds.tokensIssued).toBe(0);
  });

  it('expireAllTokens invalidates issued tokens; a new token works', async () => {
    const old = await token();
    expect((await get('/latest/user-data', old)).status).toBe(200);
    imds.expireAllTokens();
    expect((await get('/latest/user-data', old)).status).toBe(401);
    const fresh = await token();
    expect((await get('/latest/user-data', fresh)).status).toBe(200);
    expect(imds.tokensIssued).toBe(2);
  });

  it('expires tokens after their TTL in (faked) real time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tok = await (await putToken({ 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).text();
    expect((await get('/latest/meta-data/instance-id', tok)).status).toBe(200);
    vi.setSystemTime(Date.now() + 61_000);
    expect((await get('/latest/meta-data/instance-id', tok)).status).toBe(401);
  });

  it('serves user data as raw bytes and 404 when there is none', async () => {
    const tok = await token();
    const res = await get('/latest/user-data', tok);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(await res.text()).toBe('application_id: demo\n');
    const binary = Buffer.from([0x1f, 0x8b, 0x00, 0xff, 0x0a]);
    imds.setUserData(binary);
    expect(Buffer.from(await (await get('/latest/user-data', tok)).arrayBuffer())).toEqual(binary);
    imds.setUserData(undefined);
    expect((await get('/latest/user-data', tok)).status).toBe(404);
  });

  it('serves the instance identity document with the real field names', async () => {
    const tok = await token();
    const res = await get('/latest/dynamic/instance-identity/document', tok);
    expect(res.status).toBe(200);
    const doc: unknown = JSON.parse(await res.text());
    expect(doc).toMatchObject({
      accountId: '123456789012',
      architecture: 'x86_64',
      availabilityZone: 'eu-central-1a',
      imageId: expect.stringMatching(/^ami-/) as unknown,
      instanceId: 'i-0123456789abcdef0',
      instanceType: expect.any(String) as unknown,
      pendingTime: expect.stringMatching(/Z$/) as unknown,
      privateIp: '10.0.0.10',
      region: 'eu-central-1',
      version: '2017-09-30',
    });
  });

  it('applies identity overrides, deriving the AZ from an overridden region', async () => {
    const other = await ImdsEmulator.start({
      identity: { region: 'us-west-2', instanceId: 'i-0aaaabbbbccccdddd' },
    });
    try {
      const tok = await (
        await fetch(`${other.url}/latest/api/token`, {
          method: 'PUT',
          headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
        })
      ).text();
      const headers = { 'X-aws-ec2-metadata-token': tok };
      const doc = (await (
        await fetch(`${other.url}/latest/dynamic/instance-identity/document`, { headers })
      ).json()) as {
        availabilityZone: string;
        instanceId: string;
      };
      expect(doc).toMatchObject({ availabilityZone: 'us-west-2a', instanceId: 'i-0aaaabbbbccccdddd' });
      expect((await fetch(`${other.url}/latest/user-data`, { headers })).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('answers 404 for unknown paths and 405 for wrong methods', async () => {
    const tok = await token();
    expect((await get('/latest/meta-data/nope', tok)).status).toBe(404);
    expect((await get('/latest/meta-data/iam/security-credentials/', tok)).status).toBe(404); // no role
    expect((await fetch(`${imds.url}/latest/api/token`)).status).toBe(405);
    const post = await fetch(`${imds.url}/latest/user-data`, {
      method: 'POST',
      headers: { 'X-aws-ec2-metadata-token': tok },
    });
    expect(post.status).toBe(405);
  });

  it('serves instance-profile credentials when a role is configured', async () => {
    const role = { name: 'taupage-role', accessKeyId: 'ASIATEST', secretAccessKey: 's3cr3t', token: 'tok' };
    const other = await ImdsEmulator.start({ instanceRole: role });
    try {
      const put = await fetch(`${other.url}/latest/api/token`, {
        method: 'PUT',
        headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
      });
      const headers = { 'X-aws-ec2-metadata-token': await put.text() };
      const base = `${other.url}/latest/meta-data/iam/security-credentials/`;
      expect(await (await fetch(base, { headers })).text()).toBe('taupage-role');
      const creds = (await (await fetch(`${base}taupage-role`, { headers })).json()) as Record<
        string,
        string
      >;
      expect(creds).toMatchObject({
        Code: 'Success',
        AccessKeyId: 'ASIATEST',
        SecretAccessKey: 's3cr3t',
        Token: 'tok',
      });
      expect(Date.parse(creds['Expiration'] ?? '')).toBeGreaterThan(Date.now());
    } finally {
      await other.close();
    }
  });

  it('unavailable(2) resets two connections, then serves normally', async () => {
    imds.unavailable(2);
    await expect(putToken()).rejects.toThrow();
    await expect(putToken()).rejects.toThrow();
    const tok = await token();
    expect(await (await get('/latest/meta-data/instance-id', tok)).text()).toBe('i-0123456789abcdef0');
    expect(imds.tokensIssued).toBe(1);
  });

  it('respondWithStatus answers the next requests with the given status', async () => {
    imds.respondWithStatus(503, 2);
    expect((await putToken()).status).toBe(503);
    expect((await putToken()).status).toBe(503);
    expect((await putToken()).status).toBe(200);
  });

  it('forbid(true) answers every request with 403 until lifted', async () => {
    const tok = await token();
    imds.forbid(true);
    expect((await putToken()).status).toBe(403);
    expect((await get('/latest/meta-data/instance-id', tok)).status).toBe(403);
    imds.forbid(false);
    expect((await get('/latest/meta-data/instance-id', tok)).status).toBe(200);
  });

  it('records every request, including faulted ones', async () => {
    imds.unavailable(1);
    await expect(get('/latest/user-data')).rejects.toThrow();
    const tok = await token();
    await get('/latest/user-data', tok);
    expect(imds.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /latest/user-data',
      'PUT /latest/api/token',
      'GET /latest/user-data',
    ]);
    expect(imds.requests[2]?.headers['x-aws-ec2-metadata-token']).toBe(tok);
  });
});
