import { hostname } from 'node:os';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { Secret } from '../core/secret.js';
import { formatImageReference } from '../config/image-reference.js';
import type { ConfigValue, TaupageConfig } from '../config/taupage-config.js';
import type { LogDestination } from '../logs/log-destination.js';
import type { ScalyrRoute } from '../logs/scalyr-plan.js';
import { planLogentries, planScalyr, SCALYR_ENDPOINTS } from '../logs/scalyr-plan.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';

/**
 * The hosted log services (Scalyr, Logentries) as destinations of the pipeline: their keys
 * resolved (decrypted values stay Secrets; a plain key is registered with the redactor too, so
 * it is scrubbed like a decrypted one), their endpoints from the settings or the defaults.
 */
export interface LogServiceContext {
  readonly config: TaupageConfig;
  readonly identity: InstanceIdentity;
  readonly secrets: ConfigSecrets;
  readonly redactor: Redactor;
  readonly log: Logger;
  /** `--scalyr-endpoint`: an addEvents URL, or a base URL (`/addEvents` is added). */
  readonly scalyrEndpoint: string | undefined;
  /** `--logentries-endpoint`: HOST:PORT (TLS) or tcp://HOST:PORT. */
  readonly logentriesEndpoint: string | undefined;
  /** Extra CA certificates (PEM) for TLS to Logentries. */
  readonly ca?: string | undefined;
}

/** `--scalyr-endpoint` as the addEvents URL: a bare origin gets the agent's `/addEvents`. */
export function scalyrAddEventsUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`expected an http(s) URL, found "${endpoint}"`);
  return url.pathname === '/' ? `${url.origin}/addEvents` : url.href;
}

/** The key as a Secret; undefined when it was not decrypted (then a warning says so). */
function resolveKey(value: ConfigValue, what: string, context: LogServiceContext): Secret | undefined {
  if (value.kind === 'plain') {
    context.redactor.register(value.value);
    return new Secret(value.value);
  }
  const secret = context.secrets.get(value);
  if (secret === undefined)
    context.log.warn(`${what}: the aws:kms: value was not decrypted; not shipped there`);
  return secret;
}

/** sessionInfo: `serverHost` = application_id, plus the original's server_attributes. */
export function scalyrSessionInfo(config: TaupageConfig, identity: InstanceIdentity): Record<string, string> {
  const source = formatImageReference(config.source);
  const image = formatImageReference({ ...config.source, tag: undefined, digest: undefined });
  const attributes: Record<string, string | undefined> = {
    serverHost: config.applicationId ?? identity.instanceId,
    application_id: config.applicationId,
    application_version: config.applicationVersion,
    stack: config.notifyCfn?.stack,
    source,
    image,
    aws_region: identity.region,
    aws_account: identity.accountId,
    aws_ec2_hostname: hostname(),
    aws_ec2_instance_id: identity.instanceId,
  };
  return Object.fromEntries(
    Object.entries(attributes).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

export async function scalyrDestination(
  plan: {
    readonly key: ConfigValue;
    readonly region: 'eu' | 'us';
    readonly routes: Readonly<Record<string, ScalyrRoute>>;
  },
  context: LogServiceContext,
): Promise<LogDestination | undefined> {
  const token = resolveKey(plan.key, 'scalyr_account_key', context);
  if (token === undefined) return undefined;
  const { ScalyrDestination } = await import('../logs/scalyr-destination.js');
  const url =
    context.scalyrEndpoint === undefined
      ? SCALYR_ENDPOINTS[plan.region]
      : scalyrAddEventsUrl(context.scalyrEndpoint);
  const destination = new ScalyrDestination({
    url,
    token,
    sessionInfo: scalyrSessionInfo(context.config, context.identity),
    routes: plan.routes,
    log: context.log.child({ destination: 'scalyr' }),
  });
  context.log.info(
    {
      url: new URL(url).origin,
      session: destination.session,
      logs: Object.values(plan.routes).map((r) => r.logfile),
    },
    'Shipping logs to Scalyr',
  );
  return destination;
}

export async function logentriesDestination(
  plan: { readonly token: ConfigValue; readonly routes: Readonly<Record<string, string>> },
  context: LogServiceContext,
): Promise<LogDestination | undefined> {
  const token = resolveKey(plan.token, 'logentries_token_id', context);
  if (token === undefined) return undefined;
  const { LogentriesDestination, LOGENTRIES_DEFAULT_ENDPOINT, parseLogentriesEndpoint } =
    await import('../logs/logentries-destination.js');
  const endpoint = parseLogentriesEndpoint(context.logentriesEndpoint ?? LOGENTRIES_DEFAULT_ENDPOINT);
  context.log.info(
    {
      host: endpoint.host,
      port: endpoint.port,
      protocol: endpoint.protocol,
      logs: Object.values(plan.routes),
    },
    'Shipping logs to Logentries',
  );
  return new LogentriesDestination({
    endpoint,
    token,
    sources: Object.keys(plan.routes),
    ca: context.ca,
    log: context.log.child({ destination: 'logentries' }),
  });
}

/**
 * Local mode: only the app output exists (source `application`), and it leaves the machine only
 * for an endpoint given explicitly, so a laptop never sends to the real service by accident.
 */
export async function localServiceDestinations(
  application: string,
  context: LogServiceContext,
): Promise<LogDestination[]> {
  const destinations: LogDestination[] = [];
  const warnings: string[] = [];
  const scalyr = planScalyr(context.config, warnings);
  const route = scalyr?.logs.get('application');
  if (scalyr !== undefined && route !== undefined) {
    if (context.scalyrEndpoint === undefined)
      context.log.info('Local mode: the app output goes to Scalyr only with --scalyr-endpoint');
    else {
      const routes = { [application]: route };
      const destination = await scalyrDestination(
        { key: scalyr.key, region: scalyr.region, routes },
        context,
      );
      if (destination !== undefined) destinations.push(destination);
    }
  }
  const logentries = planLogentries(context.config, warnings);
  if (logentries !== undefined) {
    if (context.logentriesEndpoint === undefined)
      context.log.info('Local mode: the app output goes to Logentries only with --logentries-endpoint');
    else {
      const routes = { [application]: 'application' };
      const destination = await logentriesDestination({ token: logentries.token, routes }, context);
      if (destination !== undefined) destinations.push(destination);
    }
  }
  for (const warning of warnings) context.log.warn(warning);
  return destinations;
}
