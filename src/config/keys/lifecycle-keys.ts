import { mapped } from '../schema/collection-nodes.js';
import { field, objectNode, optional, type FieldSpecs } from '../schema/object-nodes.js';
import { booleanNode, enumNode, integerNode, portNode, stringNode } from '../schema/scalar-nodes.js';
import { INVALID, type SchemaNode } from '../schema/schema-node.js';
import type { LoadBalancerHealthCheck, NotifyCfn, TaupageKeys } from '../taupage-config.js';

export const DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS = 60;
const SINCE_SKELETON = '0.1';
const SINCE = '0.2';

interface RawLoadBalancerCheck {
  readonly type: 'elb' | 'alb' | undefined;
  readonly loadBalancerName: string | undefined;
  readonly targetGroupArn: string | undefined;
}

function loadBalancerCheckNode(): SchemaNode<LoadBalancerHealthCheck | undefined> {
  const raw = objectNode<RawLoadBalancerCheck>({
    docType: 'map `{type, loadbalancer_name | target_group_arn}`',
    unknownKey: 'is not a healthcheck option (type, loadbalancer_name, target_group_arn); ignored',
    fields: {
      type: optional('type', enumNode(['elb', 'alb'] as const), {
        meaning: '`elb` (classic ELB InService) or `alb` (target group healthy).',
        since: SINCE,
        defaultText: 'none (no gate)',
      }),
      loadBalancerName: optional('loadbalancer_name', stringNode({ docType: 'classic ELB name' }), {
        meaning: 'The classic ELB (type elb).',
        since: SINCE,
        defaultText: '—',
      }),
      targetGroupArn: optional(
        'target_group_arn',
        stringNode({
          docType: 'target group ARN',
          check: (text) =>
            /^arn:aws[a-z-]*:elasticloadbalancing:/.test(text) ? undefined : 'expected a target group ARN',
        }),
        {
          meaning: 'The ALB target group (type alb; never merged into the original).',
          since: SINCE,
          defaultText: '—',
        },
      ),
    },
    check(value, _raw, path, context) {
      if (value.type === 'elb' && value.loadBalancerName === undefined) {
        context.error([...path, 'loadbalancer_name'], 'is required for type elb', 'key');
        return INVALID;
      }
      if (value.type === 'alb' && value.targetGroupArn === undefined) {
        context.error([...path, 'target_group_arn'], 'is required for type alb', 'key');
        return INVALID;
      }
      if (value.type === undefined)
        context.warning([...path], 'has no type (elb or alb); no load-balancer check is made');
      return value;
    },
  });
  return mapped(raw, (value): LoadBalancerHealthCheck | undefined => {
    if (value.type === 'elb' && value.loadBalancerName !== undefined)
      return Object.freeze({ type: 'elb', loadBalancerName: value.loadBalancerName });
    if (value.type === 'alb' && value.targetGroupArn !== undefined)
      return Object.freeze({ type: 'alb', targetGroupArn: value.targetGroupArn });
    return undefined;
  });
}

interface RawNotifyCfn {
  readonly stack: string | undefined;
  readonly resource: string | undefined;
}

function notifyCfnNode(): SchemaNode<NotifyCfn | undefined> {
  const raw = objectNode<RawNotifyCfn>({
    docType: 'map `{stack, resource}`',
    unknownKey: 'is not a notify_cfn option (stack, resource); ignored',
    fields: {
      stack: optional('stack', stringNode({ docType: 'stack name' }), {
        meaning: 'Stack to signal (Senza: `<StackName>-<StackVersion>`).',
        since: SINCE,
        defaultText: '—',
      }),
      resource: optional('resource', stringNode({ docType: 'logical resource id' }), {
        meaning: 'Resource to signal (Senza: the component name).',
        since: SINCE,
        defaultText: '—',
      }),
    },
    check(value, _raw, path, context) {
      // The original crashed at boot on half a notify_cfn, unsignalled: CloudFormation then
      // waits out the whole CreationPolicy timeout. Refuse it where it is written.
      if ((value.stack === undefined) !== (value.resource === undefined))
        context.error(
          path,
          `expected both stack and resource, found no ${value.stack === undefined ? 'stack' : 'resource'}: CloudFormation could not be signalled and would wait out its timeout`,
        );
      return value;
    },
  });
  return mapped(raw, (value) =>
    value.stack !== undefined && value.resource !== undefined
      ? Object.freeze({ stack: value.stack, resource: value.resource })
      : undefined,
  );
}

/** Group I: health, notification, lifecycle. */
export const LIFECYCLE_FIELDS = {
  healthCheckPath: optional(
    'health_check_path',
    stringNode({
      docType: 'URL path (`/health`)',
      check: (text) => (text.startsWith('/') ? undefined : 'expected a URL path starting with /'),
    }),
    {
      meaning:
        'GET this path on the container until HTTP 200 before the boot counts as done; after the boot it is probed on (every 10 s by default) and reported in /healthz, /status and the metrics, never acted on (docs/health.md).',
      since: SINCE_SKELETON,
      defaultText: '— (no wait)',
    },
  ),
  healthCheckPort: optional('health_check_port', portNode(), {
    meaning: 'Port of the health check.',
    since: SINCE_SKELETON,
    defaultText: 'lowest TCP host port in `ports`',
  }),
  healthCheckTimeoutSeconds: field(
    'health_check_timeout_seconds',
    // The original treated 0 as "use the default"; keep that.
    mapped(integerNode({ min: 0, max: 86_400, docType: 'seconds (1–86400)' }), (seconds) =>
      seconds === 0 ? DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS : seconds,
    ),
    DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
    {
      meaning: 'Give up on the health check after this long (`0` means the default).',
      since: SINCE_SKELETON,
    },
  ),
  loadBalancerHealthCheck: optional('healthcheck', loadBalancerCheckNode(), {
    meaning:
      'After the local check, wait until the load balancer sees the instance healthy (ELB `InService`, or ALB target healthy).',
    since: SINCE,
    defaultText: '— (no gate)',
  }),
  notifyCfn: optional('notify_cfn', notifyCfnNode(), {
    meaning:
      'Signal the boot’s outcome to this CloudFormation stack and resource: SUCCESS when healthy, FAILURE when the boot fails for good (invalid config included; not after a transient failure, which systemd retries) (Senza sets it). Both `stack` and `resource`: one without the other is an error.',
    since: SINCE,
    defaultText: '— (no signal)',
  }),
  lifecycleHook: optional(
    'lifecycle_hook',
    stringNode({
      docType: 'lifecycle hook name',
      check: (text) =>
        /^[A-Za-z0-9\-_/]{1,255}$/.test(text)
          ? undefined
          : 'expected an Auto Scaling lifecycle hook name (letters, digits, - _ /, at most 255)',
    }),
    {
      meaning:
        'The Auto Scaling group’s termination lifecycle hook: after draining on a `Terminated` notice, the agent completes it (CONTINUE) so the group need not wait for the hook’s timeout. Never in the original.',
      since: SINCE,
      defaultText: '— (not completed)',
    },
  ),
  maintenance: field('maintenance', booleanNode(), false, {
    meaning:
      'Boot for maintenance: config, secrets, status, SSH and logs as usual, but the app is not started (a running app container is stopped and kept). CloudFormation gets SUCCESS. Taupage issue #310.',
    since: SINCE,
  }),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
