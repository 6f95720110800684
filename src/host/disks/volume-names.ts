/** What `${…}` in a `volumes.ebs` Name may refer to (the original's PRs #589/#590). */
export interface VolumeNameVariables {
  readonly localIpv4: string | undefined;
  readonly publicIpv4: string | undefined;
}

const VARIABLES = { local_ipv4: 'localIpv4', public_ipv4: 'publicIpv4' } as const;
const WHAT = { local_ipv4: 'private IPv4', public_ipv4: 'public IPv4' } as const;

/**
 * Substitutes `${local_ipv4}` and `${public_ipv4}` (e.g. one volume per node of a fixed-IP
 * cluster: `cassandra-${local_ipv4}`). Anything else is kept literally, as in the original;
 * a variable the instance has no value for is an error, not an empty string.
 */
export function expandVolumeName(
  name: string,
  variables: VolumeNameVariables,
): { name: string } | { error: string } {
  let missing: keyof typeof VARIABLES | undefined;
  const expanded = name.replace(
    /\$\{(local_ipv4|public_ipv4)\}/g,
    (_match, variable: keyof typeof VARIABLES) => {
      const value = variables[VARIABLES[variable]];
      if (value === undefined || value === '') {
        missing ??= variable;
        return '';
      }
      return value;
    },
  );
  if (missing !== undefined) {
    return {
      error: `the name "${name}" uses \${${missing}}, but the instance has no ${WHAT[missing]} address`,
    };
  }
  return { name: expanded };
}
