import { describe, expect, it } from 'vitest';
import { TaupageError } from '../../../src/core/errors.js';
import { isThrottling, spreadOffset } from '../../../src/core/throttling.js';

/** An error shaped like the SDK's: a name and $metadata.httpStatusCode. */
function sdkError(name: string, httpStatusCode: number): Error {
  return Object.assign(Object.assign(new Error('Rate exceeded'), { name }), {
    $metadata: { httpStatusCode },
  });
}

describe('isThrottling', () => {
  it.each([
    ['ThrottlingException', 400],
    ['Throttling', 400],
    ['RequestLimitExceeded', 503],
    ['SlowDown', 503],
    ['TooManyRequestsException', 429],
  ])('says %s (HTTP %i) is throttling', (name, status) => {
    expect(isThrottling(sdkError(name, status))).toBe(true);
  });

  it('says any 429 or 503 is throttling, whatever the name', () => {
    expect(isThrottling(sdkError('Unknown', 429))).toBe(true);
    expect(isThrottling(sdkError('ServiceUnavailable', 503))).toBe(true);
  });

  it('finds throttling in the cause of one of our errors', () => {
    const ours = new TaupageError('IMAGE_PULL_FAILED', 'ECR', {
      cause: sdkError('ThrottlingException', 400),
    });
    expect(isThrottling(ours)).toBe(true);
  });

  it('says a refusal or a server error is not throttling', () => {
    expect(isThrottling(sdkError('AccessDeniedException', 400))).toBe(false);
    expect(isThrottling(sdkError('ValidationError', 400))).toBe(false);
    expect(isThrottling(sdkError('InternalFailure', 500))).toBe(false);
    expect(isThrottling(new Error('socket hang up'))).toBe(false);
    expect(isThrottling(undefined)).toBe(false);
  });
});

describe('spreadOffset', () => {
  it('is a whole number of milliseconds in [0, spread)', () => {
    expect(spreadOffset(5_000, () => 0)).toBe(0);
    expect(spreadOffset(5_000, () => 0.999_999)).toBe(4_999);
    expect(spreadOffset(0, () => 0.5)).toBe(0);
  });
});
