import { TaupageError } from '../core/errors.js';

/**
 * What even asks for, parsed from SSH_ORIGINAL_COMMAND. Both argument orders even and odd have
 * used are accepted: `grant-ssh-access [--remote-host H] USER` and `grant-ssh-access USER
 * --remote-host=H` (the forced command was an argparse script).
 */
export type SshAccessRequest =
  | {
      readonly action: 'grant';
      readonly user: string;
      readonly remoteHost: string | undefined;
      /** Requested lifetime; capped by the AMI's maximum. */
      readonly ttlMinutes: number | undefined;
    }
  | {
      readonly action: 'revoke';
      readonly user: string;
      readonly remoteHost: string | undefined;
      /** even sets it when the user still has other grants elsewhere; locally it changes nothing. */
      readonly keepLocal: boolean;
    };

/** The original forced command's rules: a POSIX-ish login name of at most 32 characters. */
export const USER_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** Host names and IPv4 addresses only (the original's regex, but never empty). */
export const REMOTE_HOST_PATTERN = /^[a-z0-9.-]{1,255}$/;
/** even's commands are short; anything longer is not from even and is refused unparsed. */
export const MAX_COMMAND_LENGTH = 512;
/** Every character even sends; quotes, `$`, `;`, `/` and friends never reach the tokenizer. */
const COMMAND_CHARS = /^[A-Za-z0-9 .=_-]*$/;
/** Accounts that are never granted, whatever the key server says. */
const RESERVED_USERS = new Set(['root', 'granting-service', 'daemon', 'bin', 'sys', 'nobody', 'application']);

function invalid(message: string): TaupageError {
  return new TaupageError('SSH_REQUEST_INVALID', message);
}

export function validateUserName(user: string): string {
  if (!USER_NAME_PATTERN.test(user)) throw invalid('user name must match ^[a-z][a-z0-9-]{0,31}$');
  if (RESERVED_USERS.has(user)) throw invalid(`user name "${user}" is reserved`);
  return user;
}

function validateHost(host: string): string {
  if (!REMOTE_HOST_PATTERN.test(host)) throw invalid('remote host must match ^[a-z0-9.-]{1,255}$');
  return host;
}

function validateTtl(value: string): number {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw invalid('--ttl expects whole minutes (1 or more)');
  return Number(value);
}

/** Parses and validates; every error message is safe to echo (it never repeats the input). */
export function parseSshAccessRequest(command: string | undefined): SshAccessRequest {
  if (command === undefined || command.trim() === '')
    throw invalid('no command: expected grant-ssh-access or revoke-ssh-access');
  if (command.length > MAX_COMMAND_LENGTH)
    throw invalid(`command longer than ${MAX_COMMAND_LENGTH} characters`);
  if (!COMMAND_CHARS.test(command)) throw invalid('command contains characters even never sends');
  const [verb, ...args] = command.trim().split(/ +/);
  if (verb !== 'grant-ssh-access' && verb !== 'revoke-ssh-access')
    throw invalid('unknown action: expected grant-ssh-access or revoke-ssh-access');

  let user: string | undefined;
  let remoteHost: string | undefined;
  let ttl: number | undefined;
  let keepLocal = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const [flag, inline] = arg.startsWith('--') ? (arg.split('=', 2) as [string, string?]) : [arg];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[++i];
      if (next === undefined || next.startsWith('--')) throw invalid(`${flag} expects a value`);
      return next;
    };
    if (flag === '--remote-host') {
      if (remoteHost !== undefined) throw invalid('--remote-host given twice');
      remoteHost = validateHost(value());
    } else if (flag === '--ttl' && verb === 'grant-ssh-access') {
      if (ttl !== undefined) throw invalid('--ttl given twice');
      ttl = validateTtl(value());
    } else if (flag === '--keep-local' && verb === 'revoke-ssh-access' && inline === undefined) {
      keepLocal = true;
    } else if (flag.startsWith('-')) {
      throw invalid('unknown option');
    } else {
      if (user !== undefined) throw invalid('more than one user name');
      user = validateUserName(flag);
    }
  }
  if (user === undefined) throw invalid('missing user name');
  return verb === 'grant-ssh-access'
    ? { action: 'grant', user, remoteHost, ttlMinutes: ttl }
    : { action: 'revoke', user, remoteHost, keepLocal };
}
