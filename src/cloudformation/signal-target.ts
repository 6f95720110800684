import type { SignalTarget } from './stack-signaller.js';

/**
 * `notify_cfn: {stack, resource}` read straight from the merged user data, even when the rest of
 * the config is invalid: that is exactly when CloudFormation most needs to hear about it.
 * Senza writes both keys; anything else (missing, not strings) means "do not signal".
 */
export function signalTargetOf(merged: unknown): SignalTarget | undefined {
  if (typeof merged !== 'object' || merged === null) return undefined;
  const notify = (merged as Record<string, unknown>).notify_cfn;
  if (typeof notify !== 'object' || notify === null) return undefined;
  const { stack, resource } = notify as Record<string, unknown>;
  if (typeof stack !== 'string' || typeof resource !== 'string' || stack === '' || resource === '')
    return undefined;
  return { stack, resource };
}
