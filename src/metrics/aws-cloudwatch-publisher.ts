import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { firstLine, TaupageError } from '../core/errors.js';
import type { MetricDatum, MetricPublisher } from './metric-datum.js';

export interface AwsCloudWatchPublisherOptions {
  readonly region: string;
  /** Override for tests and local emulators; the SDK's regional endpoint otherwise. */
  readonly endpoint?: string | undefined;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
}

// CloudWatch error names that will not go away by retrying (bad request, no permission);
// everything else (throttling, 5xx, network) is worth another try next time.
const PERMANENT = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'InvalidParameterValue',
  'InvalidParameterValueException',
  'InvalidParameterCombination',
  'InvalidParameterCombinationException',
  'MissingRequiredParameter',
  'MissingRequiredParameterException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

/** Adapter: PutMetricData through @aws-sdk/client-cloudwatch. Retries are the caller's. */
export class AwsCloudWatchPublisher implements MetricPublisher {
  readonly #client: CloudWatchClient;
  readonly #timeoutMs: number;

  constructor(options: AwsCloudWatchPublisherOptions) {
    this.#client = new CloudWatchClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      // One attempt per call: our retry helper owns the policy, so the two never multiply.
      maxAttempts: 1,
    });
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async putMetricData(namespace: string, datums: readonly MetricDatum[], signal: AbortSignal): Promise<void> {
    try {
      await this.#client.send(
        new PutMetricDataCommand({
          Namespace: namespace,
          MetricData: datums.map((datum) => ({
            MetricName: datum.metricName,
            Dimensions: datum.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
            Timestamp: datum.timestamp,
            Value: datum.value,
            Unit: datum.unit,
          })),
        }),
        { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]) },
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? firstLine(error.message) : String(error);
      throw new TaupageError('METRICS_PUBLISH_FAILED', `CloudWatch PutMetricData: ${name}: ${message}`, {
        cause: error,
        retriable: !PERMANENT.has(name),
      });
    }
  }

  destroy(): void {
    this.#client.destroy();
  }
}
