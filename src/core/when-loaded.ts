/**
 * Acts on a component that is loaded on first use (a dynamic import), and only if it was: at
 * shutdown nothing is loaded just to be stopped. A load that failed (reported where it was
 * awaited) or a `use` that throws goes to `onError` — never to an unhandled rejection, which
 * would end the process in the middle of its shutdown. Resolves once done; never rejects.
 */
export async function whenLoaded<T>(
  loading: Promise<T> | undefined,
  use: (value: T) => void,
  onError: (error: unknown) => void,
): Promise<void> {
  if (loading === undefined) return;
  try {
    use(await loading);
  } catch (error) {
    onError(error);
  }
}
