// Replaced at build time by esbuild's `define` (scripts/build.mjs); the fallbacks apply when
// running from source (tests).
declare const TAUPAGE_VERSION: string | undefined;
declare const TAUPAGE_COMMIT: string | undefined;

export const VERSION = {
  version: typeof TAUPAGE_VERSION === 'string' ? TAUPAGE_VERSION : '0.0.0-dev',
  commit: typeof TAUPAGE_COMMIT === 'string' ? TAUPAGE_COMMIT : 'unknown',
} as const;
