/** The agent's `--application-user` setting (`uid:gid`, 999:999 on the AMI) as numbers. */
export function parseApplicationUser(applicationUser: string): {
  readonly uid: number;
  readonly gid: number;
} {
  const match = /^(\d+):(\d+)$/.exec(applicationUser);
  if (match === null) throw new Error(`expected the application user as uid:gid, found "${applicationUser}"`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}
