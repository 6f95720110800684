/** A CloudWatch metric datum in our own terms (the adapter maps it to the SDK's MetricDatum). */
export type MetricUnit = 'Percent' | 'Megabytes' | 'Gigabytes' | 'Bytes' | 'Count' | 'Seconds';

export interface MetricDatum {
  readonly metricName: string;
  readonly unit: MetricUnit;
  readonly value: number;
  readonly dimensions: readonly { readonly name: string; readonly value: string }[];
  readonly timestamp: Date;
}

/**
 * Port: CloudWatch PutMetricData. One call is one request: the caller keeps it inside the API
 * limits (see batchDatums). Throws TaupageError METRICS_PUBLISH_FAILED, `retriable` for
 * throttling and service-side errors only.
 */
export interface MetricPublisher {
  putMetricData(namespace: string, datums: readonly MetricDatum[], signal: AbortSignal): Promise<void>;
}
