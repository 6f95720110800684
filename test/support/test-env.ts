/**
 * The integration and e2e tests need the environment `scripts/test-env.sh up` starts (a private
 * dockerd, two registries, test images). `scripts/test.sh` sources its env file; running a test
 * file alone needs `source /var/tmp/taupage-test-env/env.sh` first. A missing variable fails the
 * test with that hint instead of skipping it.
 */
export function testEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `${name} is not set: run scripts/test.sh, or "scripts/test-env.sh up" and source its env.sh`,
    );
  }
  return value;
}

export const env = {
  get dockerHost() {
    return testEnv('DOCKER_HOST');
  },
  get registry() {
    return testEnv('TAUPAGE_TEST_REGISTRY');
  },
  get authRegistry() {
    return testEnv('TAUPAGE_TEST_AUTH_REGISTRY');
  },
  get registryUser() {
    return testEnv('TAUPAGE_TEST_REGISTRY_USER');
  },
  get registryPassword() {
    return testEnv('TAUPAGE_TEST_REGISTRY_PASSWORD');
  },
  get image() {
    return testEnv('TAUPAGE_TEST_IMAGE');
  },
  get authImage() {
    return testEnv('TAUPAGE_TEST_AUTH_IMAGE');
  },
  get exitImage() {
    return testEnv('TAUPAGE_TEST_EXIT_IMAGE');
  },
};

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A free TCP port on 127.0.0.1, found by binding port 0. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}
