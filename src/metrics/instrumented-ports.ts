import { toTaupageError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { ImageReference } from '../config/image-reference.js';
import type { ContainerRuntime, PullOptions } from '../docker/container-runtime.js';
import type { EncryptionContext, SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { AgentMetrics } from './agent-metrics.js';

/**
 * Decorators that count the calls of a port (pulls, KMS Decrypt) for `taupage_*` metrics. The
 * composition root wraps the adapters with them, so the boot code stays free of metrics.
 */
export function instrumentRuntime(runtime: ContainerRuntime, metrics: AgentMetrics): ContainerRuntime {
  return {
    imageExists: (image, signal) => runtime.imageExists(image, signal),
    pullImage: (image: ImageReference, options: PullOptions) =>
      observe(() => runtime.pullImage(image, options), metrics.imagePulls, metrics.imagePullDuration),
    findContainer: (name, signal) => runtime.findContainer(name, signal),
    createContainer: (spec, signal) => runtime.createContainer(spec, signal),
    startContainer: (id, signal) => runtime.startContainer(id, signal),
    inspectContainer: (id, signal) => runtime.inspectContainer(id, signal),
    stopContainer: (id, timeoutSeconds, signal) => runtime.stopContainer(id, timeoutSeconds, signal),
    removeContainer: (id, signal) => runtime.removeContainer(id, signal),
  };
}

export function instrumentDecrypter(decrypter: SecretDecrypter, metrics: AgentMetrics): SecretDecrypter {
  return {
    decrypt: (ciphertext: Buffer, signal: AbortSignal, context?: EncryptionContext): Promise<Secret> =>
      observe(
        () => decrypter.decrypt(ciphertext, signal, context),
        metrics.kmsDecryptCalls,
        metrics.kmsDecryptDuration,
      ),
  };
}

async function observe<T>(
  call: () => Promise<T>,
  calls: AgentMetrics['imagePulls'],
  duration: AgentMetrics['imagePullDuration'],
): Promise<T> {
  const stop = duration.startTimer();
  try {
    const result = await call();
    calls.inc({ outcome: 'success' });
    return result;
  } catch (error) {
    calls.inc({ outcome: toTaupageError(error).code });
    throw error;
  } finally {
    stop();
  }
}
