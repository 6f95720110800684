/** A local account as the SSH access code needs it. */
export interface UserAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** GECOS comment: tells an account this agent created from one it must never touch. */
  readonly comment: string;
}

/** Port: local accounts and their processes. The adapter shells out to shadow-utils and procps. */
export interface UserAccounts {
  lookup(name: string, signal?: AbortSignal): Promise<UserAccount | undefined>;
  /** Creates the account with a home and the groups; resolves even if only part of it worked (disk full). */
  create(name: string, groups: readonly string[], comment: string, signal?: AbortSignal): Promise<void>;
  /** Sends `signal` to every process of the user; resolves to whether any process was signalled. */
  signalProcesses(uid: number, signal: 'TERM' | 'KILL'): Promise<boolean>;
  hasProcesses(uid: number): Promise<boolean>;
}

/** The GECOS prefix of accounts created for even grants (the original's wording). */
export const MANAGED_ACCOUNT_COMMENT = 'SSH user created by even';
