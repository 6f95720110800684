import {
  dateToString,
  isEncrypted,
  isMapping,
  isSensitivePath,
  readPort,
  scalarToString,
} from '../config-values.js';
import {
  DOCKER_HUB,
  mutableTag,
  mutableTagReason,
  parseImageReference,
  type ImageReference,
} from '../image-reference.js';
import { mapNode, mapped } from '../schema/collection-nodes.js';
import { editDistance } from '../schema/key-suggestions.js';
import { found, PORT_JSON_SCHEMA, secretTextNode, TEMPLATE_REF } from '../schema/scalar-nodes.js';
import { INVALID, OMIT, type ReadContext, type SchemaNode } from '../schema/schema-node.js';
import { intrinsicFunctionName, isPlaceholderText, isTemplateValue } from '../schema/template-values.js';
import type { ConfigValue, EnvironmentVariable, PortMapping } from '../taupage-config.js';
import type { ConfigPath } from '../yaml-document.js';

/** `source`: an image reference under the immutable-tag policy. */
export function imageNode(): SchemaNode<ImageReference> {
  return {
    docType: '`registry[:port]/path:tag` or `…@sha256:…`',
    read(value, path, context) {
      if (context.template && intrinsicFunctionName(value) !== undefined) return INVALID;
      if (isEncrypted(value)) {
        context.error(
          path,
          'expected an image reference, found an aws:kms: value (taupage must read the image)',
        );
        return INVALID;
      }
      if (typeof value !== 'string') {
        context.error(path, `expected an image reference string, found ${found(value, path)}`);
        return INVALID;
      }
      if (context.template && isPlaceholderText(value)) {
        checkTemplatedImage(value, path, context);
        return INVALID;
      }
      const parsed = parseImageReference(value);
      if (!parsed.ok) {
        // As the original did, a reference without any tag fails the tag policy first.
        const untagged = !value.includes('@') && !value.slice(value.lastIndexOf('/') + 1).includes(':');
        context.error(
          path,
          untagged && context.mutableTags === 'reject'
            ? `${mutableTag(undefined) ?? ''}; ${IMMUTABLE_HINT}`
            : parsed.message,
        );
        return INVALID;
      }
      const mutable = mutableTagReason(parsed.reference);
      if (mutable !== undefined && !applyMutableTagPolicy(mutable, path, context)) return INVALID;
      if (parsed.implicitRegistry) context.warning(path, implicitRegistryWarning(), 'value');
      const { reference } = parsed;
      // No tag means `latest` to Docker; say so, or a pull without a tag would fetch every tag.
      return reference.tag === undefined && reference.digest === undefined
        ? { ...reference, tag: 'latest' }
        : reference;
    },
    jsonSchema: () => ({ anyOf: [{ type: 'string', pattern: '^[^\\s]+$' }, TEMPLATE_REF] }),
  };
}

const IMMUTABLE_HINT = 'use an immutable version tag or a @sha256: digest';

/** The AMI's tag policy (`--mutable-tags`): false when the reference is refused. */
function applyMutableTagPolicy(reason: string, path: ConfigPath, context: ReadContext): boolean {
  if (context.mutableTags === 'reject') {
    context.error(path, `${reason}; ${IMMUTABLE_HINT}`);
    return false;
  }
  if (context.mutableTags === 'warn')
    context.warning(
      path,
      `${reason}; accepted by the AMI's tag policy (--mutable-tags warn) and pulled on every boot, but instances may run different images`,
      'value',
    );
  return true;
}

function implicitRegistryWarning(): string {
  return `names no registry, so Docker Hub (${DOCKER_HUB}) is assumed; the original Taupage required registry/org/app:tag`;
}

/**
 * `source` with Senza placeholders (`pierone.example.org/team/app:{{Arguments.ImageVersion}}`,
 * `{{Arguments.DockerImage}}`): check only the parts that are written out.
 */
function checkTemplatedImage(value: string, path: ConfigPath, context: ReadContext): void {
  const whole = value.trim();
  if (/^\{\{[^{}]+\}\}$/.test(whole) || /^<[^<>]+>$/.test(whole) || /^\|[A-Za-z]+\|/.test(whole)) return;
  const lastSlash = value.lastIndexOf('/');
  const name = value.slice(lastSlash + 1);
  const colon = name.lastIndexOf(':');
  const tag = colon === -1 ? undefined : name.slice(colon + 1);
  if (tag !== undefined && !isPlaceholderText(tag)) {
    const mutable = mutableTag(tag);
    if (mutable !== undefined) applyMutableTagPolicy(mutable, path, context);
  } else if (tag === undefined && !isPlaceholderText(name)) {
    applyMutableTagPolicy(mutableTag(undefined) ?? '', path, context);
  }
  const slash = value.indexOf('/');
  const first = slash !== -1 ? value.slice(0, slash) : colon === -1 ? value : value.slice(0, colon);
  if (
    first !== '' &&
    !isPlaceholderText(first) &&
    !(first.includes('.') || first.includes(':') || first === 'localhost')
  )
    context.warning(path, implicitRegistryWarning(), 'value');
}

/**
 * Scalars that YAML typed, where the user most likely meant text: `1.10` (read as 1.1) or a date.
 * Returns the text to use and warns when it is not what was written.
 */
export function textAsWritten(
  value: unknown,
  path: ConfigPath,
  context: ReadContext,
  what: string,
): string | undefined {
  if (typeof value === 'string') return value;
  const sensitive = isSensitivePath(path);
  if (typeof value === 'number') {
    const written = context.sourceText(path);
    const text = String(value);
    if (written !== undefined && written.trim() !== text) {
      context.warning(
        path,
        sensitive
          ? `YAML read this ${what} as a number, which changes how it is written; quote it to keep it as written`
          : `YAML read ${written.trim()} as the number ${text}; quote it ("${written.trim()}") to keep it as written`,
        'value',
      );
    }
    return text;
  }
  if (value instanceof Date) {
    context.warning(path, `YAML read this ${what} as a date; quote it to keep it as written`, 'value');
    return dateToString(value);
  }
  return scalarToString(value);
}

/** `application_version`: text; a number gets a warning telling the user to quote it. */
export function applicationVersionNode(): SchemaNode<string> {
  return {
    docType: 'string (quote numbers: `"1.10"`)',
    read(value, path, context) {
      if (context.template && intrinsicFunctionName(value) !== undefined) return INVALID;
      if (isEncrypted(value)) {
        context.error(path, 'expected a version, found an aws:kms: value (taupage must read the version)');
        return INVALID;
      }
      if (typeof value === 'number') {
        const written = context.sourceText(path)?.trim();
        const text = String(value);
        const changed = written !== undefined && written !== text;
        context.warning(
          path,
          changed
            ? `YAML read ${written} as the number ${text}; quote it ("${written}") to keep it exactly as written`
            : `YAML read this as the number ${text}; quote it ("${text}") to keep it exactly as written (1.10 would become 1.1)`,
          'value',
        );
        return text;
      }
      const text = textAsWritten(value, path, context, 'version');
      if (text === undefined) {
        context.error(path, `expected a string, found ${found(value, path)}`);
        return INVALID;
      }
      return text;
    },
    jsonSchema: () => ({ anyOf: [{ type: 'string' }, { type: 'number' }, TEMPLATE_REF] }),
  };
}

/** `True`/`False`: what the original's `-e NAME=str(value)` made of a YAML boolean. */
export function pythonBoolean(value: boolean): string {
  return value ? 'True' : 'False';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** `environment`: a map of NAME: value; values may be `aws:kms:`. */
export function environmentNode(): SchemaNode<readonly EnvironmentVariable[]> {
  const text = secretTextNode();
  const valueNode: SchemaNode<ConfigValue> = {
    docType: text.docType,
    read(value, path, context) {
      // As the original's Docker.py passed them: Python's str() of a YAML boolean.
      if (typeof value === 'boolean') return { kind: 'plain', value: pythonBoolean(value) };
      if (typeof value === 'number' || value instanceof Date) {
        const written = textAsWritten(value, path, context, 'value');
        if (written !== undefined) return { kind: 'plain', value: written };
      }
      return text.read(value, path, context);
    },
    jsonSchema: () => text.jsonSchema(),
  };
  return mapped(
    mapNode(valueNode, {
      docType: 'map `NAME: value`',
      keySchema: { pattern: '^[^=\\u0000]+$' },
      key(name, path, context) {
        if (ENV_NAME.test(name)) return name;
        // Docker takes any name without `=` (the original passed them on); a name a shell
        // cannot read is most likely a mistake, so say so without failing the config.
        if (name !== '' && !/[=\0]/.test(name)) {
          context.warning(
            path,
            'is not a portable environment variable name (letters, digits, _ . -; not starting with a digit); set anyway',
          );
          return name;
        }
        context.error(
          path,
          'expected an environment variable name (letters, digits, _ . -; without =)',
          'key',
        );
        return INVALID;
      },
      // The original silently dropped `NAME:` with no value; say so instead.
      nullValue(path, context) {
        context.warning(path, 'has no value; it is not set in the container');
        return OMIT;
      },
    }),
    (variables) => Object.freeze([...variables].map(([name, value]) => Object.freeze({ name, value }))),
  );
}

type Protocol = 'tcp' | 'udp';
const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];

interface PortText {
  readonly port: number;
  readonly protocol: Protocol | undefined;
  /** A typo corrected (`8600/upd` → udp), for a warning. */
  readonly corrected?: string;
}

/** `8080`, `"8080"`, `8080/udp`; a protocol one typo away from tcp/udp is read as that, with a warning. */
function readPortText(value: unknown): PortText | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return undefined;
  const match = /^\s*(\d{1,6})\s*(?:\/\s*([A-Za-z]+)\s*)?$/.exec(text);
  if (match === null) return undefined;
  const port = readPort(match[1]);
  if (!port.ok) return undefined;
  const written = match[2]?.toLowerCase();
  if (written === undefined) return { port: port.value, protocol: undefined };
  if (written === 'tcp' || written === 'udp') return { port: port.value, protocol: written };
  // Only three-letter slips (upd, tpc, ucp): sctp is a real protocol, just not one taupage maps.
  if (written.length !== 3) return undefined;
  const near = PROTOCOLS.filter((protocol) => editDistance(written, protocol, 2) <= 1);
  const [only] = near;
  return near.length === 1 && only !== undefined
    ? { port: port.value, protocol: only, corrected: written }
    : undefined;
}

/** `ports`: a map of host port to container port, either with `/tcp` or `/udp`. */
export function portsNode(): SchemaNode<readonly PortMapping[]> {
  // Three letters: validate reads a one-typo protocol (8600/upd) with a warning, not an error.
  const portWithProtocol = { type: 'string', pattern: '^\\s*[0-9]{1,5}\\s*(/\\s*[A-Za-z]{3}\\s*)?$' };
  return {
    docType: 'map `host[/tcp|udp]: container[/tcp|udp]`',
    read(value, path, context) {
      if (context.template && intrinsicFunctionName(value) !== undefined) return INVALID;
      if (!isMapping(value)) {
        context.error(path, `expected a map of host_port: container_port, found ${found(value, path)}`);
        return INVALID;
      }
      const mappings: PortMapping[] = [];
      const seen = new Set<string>();
      let invalid = false;
      for (const [key, item] of Object.entries(value)) {
        const itemPath = [...path, key];
        if (context.template && (isPlaceholderText(key) || isTemplateValue(item))) {
          context.unchecked(itemPath, 'a port number');
          invalid = true;
          continue;
        }
        const host = readPortText(key);
        const container = readPortText(item);
        if (host === undefined) {
          context.error(
            itemPath,
            `expected a host port like 8080 or 8080/udp, found ${found(key, itemPath)}`,
            'key',
          );
          invalid = true;
          continue;
        }
        if (container === undefined) {
          context.error(
            itemPath,
            `expected a container port like 8080 or 8080/udp, found ${found(item, itemPath)}`,
          );
          invalid = true;
          continue;
        }
        for (const [side, text] of [
          ['key', host],
          ['value', container],
        ] as const) {
          if (text.corrected !== undefined)
            context.warning(
              itemPath,
              `read the protocol "${text.corrected}" as "${text.protocol ?? ''}" (a typo?)`,
              side,
            );
        }
        if (
          host.protocol !== undefined &&
          container.protocol !== undefined &&
          host.protocol !== container.protocol
        ) {
          context.error(
            itemPath,
            `host port is ${host.protocol} but container port is ${container.protocol}`,
          );
          invalid = true;
          continue;
        }
        const protocol = host.protocol ?? container.protocol ?? 'tcp';
        const id = `${host.port}/${protocol}`;
        if (seen.has(id)) {
          context.error(itemPath, `publishes host port ${id} a second time`, 'key');
          invalid = true;
          continue;
        }
        seen.add(id);
        mappings.push(Object.freeze({ hostPort: host.port, containerPort: container.port, protocol }));
      }
      if (invalid) return INVALID;
      // tcp before udp; not localeCompare, whose ICU collator costs the agent ~3 MB of RSS.
      mappings.sort((a, b) => a.hostPort - b.hostPort || (a.protocol < b.protocol ? -1 : 1));
      return Object.freeze(mappings);
    },
    jsonSchema: () => ({
      anyOf: [
        {
          type: 'object',
          propertyNames: portWithProtocol,
          additionalProperties: { anyOf: [PORT_JSON_SCHEMA, portWithProtocol, TEMPLATE_REF] },
        },
        TEMPLATE_REF,
      ],
    }),
  };
}
