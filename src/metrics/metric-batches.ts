import type { MetricDatum } from './metric-datum.js';

/**
 * PutMetricData limits (API reference, 2024+): 1,000 datums and 1 MB per request, 30
 * dimensions per datum, values within ±2^360 and never NaN or ±Infinity. We stay under the
 * size limit with a margin, measured on the JSON the SDK sends (AWS JSON 1.0), uncompressed.
 */
export const MAX_DATUMS_PER_REQUEST = 1_000;
export const MAX_REQUEST_BYTES = 900_000;
export const MAX_DIMENSIONS = 30;
const MAX_VALUE = 2 ** 360;
/** Namespace, brackets and the SDK's fixed overhead per request, generously. */
const REQUEST_OVERHEAD_BYTES = 1_024;

export interface Batches {
  readonly batches: MetricDatum[][];
  /** Datums left out because CloudWatch would reject them (NaN, too many dimensions, …). */
  readonly rejected: number;
}

export function isValidDatum(datum: MetricDatum): boolean {
  return (
    Number.isFinite(datum.value) &&
    Math.abs(datum.value) <= MAX_VALUE &&
    datum.dimensions.length <= MAX_DIMENSIONS &&
    datum.metricName.length >= 1 &&
    datum.metricName.length <= 255 &&
    datum.dimensions.every(
      (d) => d.name.length >= 1 && d.name.length <= 255 && d.value.length >= 1 && d.value.length <= 1024,
    )
  );
}

/** The JSON size of one datum as the SDK serialises it (within a few bytes). */
export function datumBytes(datum: MetricDatum): number {
  return (
    Buffer.byteLength(
      JSON.stringify({
        MetricName: datum.metricName,
        Dimensions: datum.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
        Timestamp: datum.timestamp.getTime() / 1000,
        Value: datum.value,
        Unit: datum.unit,
      }),
    ) + 1
  );
}

/** Splits datums into PutMetricData requests within the limits, dropping invalid ones. */
export function batchDatums(datums: readonly MetricDatum[]): Batches {
  const batches: MetricDatum[][] = [];
  let rejected = 0;
  let current: MetricDatum[] = [];
  let bytes = REQUEST_OVERHEAD_BYTES;
  for (const datum of datums) {
    if (!isValidDatum(datum)) {
      rejected++;
      continue;
    }
    const size = datumBytes(datum);
    if (
      current.length > 0 &&
      (current.length >= MAX_DATUMS_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES)
    ) {
      batches.push(current);
      current = [];
      bytes = REQUEST_OVERHEAD_BYTES;
    }
    current.push(datum);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, rejected };
}
