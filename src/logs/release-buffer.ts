/**
 * ES2024's ArrayBuffer.prototype.transfer: on the agent's Node.js 24, not on the Node.js 20 that
 * may run the tooling (the project's lib is ES2023).
 */
type Transferable = ArrayBuffer & { transfer?(length: number): ArrayBuffer; readonly detached?: boolean };

/**
 * Frees the memory of a large Buffer that nothing will read again, now instead of at V8's next
 * major GC. A request body of ~1 MiB lives across an HTTP round trip, so it is promoted to the
 * old generation and, dead, waits for a mark-compact: in a 200,000-line burst (bench/logs) a
 * dozen of them stayed resident until the burst was over, several MB of the agent's peak RSS.
 * Detaching the ArrayBuffer (transfer(0)) releases its backing store at once.
 *
 * Small Buffers share Node's pool (Buffer.poolSize), which must never be detached: a buffer whose
 * ArrayBuffer is not above the pool's size, or that does not start it, is left to the GC. The
 * caller must own the allocation: every view of the ArrayBuffer becomes empty.
 */
export function releaseBuffer(buffer: Buffer): void {
  const arrayBuffer = buffer.buffer as Transferable;
  if (
    !(arrayBuffer instanceof ArrayBuffer) ||
    arrayBuffer.transfer === undefined ||
    arrayBuffer.detached === true
  )
    return;
  if (buffer.byteOffset !== 0 || arrayBuffer.byteLength <= Buffer.poolSize) return;
  arrayBuffer.transfer(0);
}
