import { TaupageError } from '../../src/core/errors.js';
import type { ContainerStats, ContainerStatsSample, ImageDetails } from '../../src/docker/container-stats.js';

/** In-memory ContainerStats for unit tests: answers what it was given, counts calls, can fail. */
export class FakeContainerStats implements ContainerStats {
  readonly samples = new Map<string, ContainerStatsSample>();
  readonly images = new Map<string, ImageDetails>();
  statsCalls = 0;
  unavailable = false;

  stats(containerId: string): Promise<ContainerStatsSample | undefined> {
    this.statsCalls++;
    if (this.unavailable) return Promise.reject(new TaupageError('DOCKER_UNAVAILABLE', 'Docker: down'));
    return Promise.resolve(this.samples.get(containerId));
  }

  image(imageId: string): Promise<ImageDetails | undefined> {
    if (this.unavailable) return Promise.reject(new TaupageError('DOCKER_UNAVAILABLE', 'Docker: down'));
    return Promise.resolve(this.images.get(imageId));
  }
}
