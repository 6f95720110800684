import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { whenLoaded } from '../../../src/core/when-loaded.js';

describe('whenLoaded', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  // Node reports unhandled rejections when the microtask queue drains, before the event loop's
  // next phase: one setImmediate later they have been reported, or never will be.
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('uses the component once it has loaded', async () => {
    const used: string[] = [];
    await whenLoaded(
      Promise.resolve('host'),
      (value) => used.push(value),
      () => undefined,
    );
    expect(used).toEqual(['host']);
  });

  it('does nothing when the component was never loaded', async () => {
    const used: unknown[] = [];
    await whenLoaded(
      undefined,
      (value) => used.push(value),
      (error) => used.push(error),
    );
    expect(used).toEqual([]);
  });

  it('a failed load goes to onError, never to an unhandled rejection', async () => {
    const failed = Promise.reject(new Error('Cannot find module ./compose-host.js'));
    failed.catch(() => undefined); // the boot awaited (and reported) it already
    const errors: unknown[] = [];
    await whenLoaded(
      failed,
      () => undefined,
      (error) => errors.push(error),
    );
    await settle();
    expect(errors).toEqual([new Error('Cannot find module ./compose-host.js')]);
    expect(unhandled).toEqual([]);
  });

  it('a use that throws goes to onError too', async () => {
    const errors: unknown[] = [];
    await whenLoaded(
      Promise.resolve(1),
      () => {
        throw new Error('stop failed');
      },
      (error) => errors.push(error),
    );
    await settle();
    expect(errors).toEqual([new Error('stop failed')]);
    expect(unhandled).toEqual([]);
  });
});
