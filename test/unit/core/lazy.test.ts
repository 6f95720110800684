import { describe, expect, it } from 'vitest';
import { lazy } from '../../../src/core/lazy.js';

describe('lazy', () => {
  it('loads once, on first use, and hands every caller the same promise', async () => {
    let loads = 0;
    const get = lazy(() => Promise.resolve(++loads));
    expect(get.started).toBeUndefined();
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([get(), get()]);
    expect([a, b, await get(), loads]).toEqual([1, 1, 1, 1]);
    expect(get.started).toBeDefined();
  });

  it('keeps a failed load failed', async () => {
    let loads = 0;
    const get = lazy(() => Promise.reject(new Error(`load ${++loads}`)));
    await expect(get()).rejects.toThrow('load 1');
    await expect(get()).rejects.toThrow('load 1');
  });

  it('with forgetFailure, loads again after a failed load', async () => {
    let loads = 0;
    const get = lazy(
      () => (++loads === 1 ? Promise.reject(new Error('first load failed')) : Promise.resolve(loads)),
      { forgetFailure: true },
    );
    await expect(get()).rejects.toThrow('first load failed');
    expect(get.started).toBeUndefined();
    expect(await get()).toBe(2);
    expect(await get()).toBe(2);
  });
});
