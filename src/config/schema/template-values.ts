import { isMapping } from '../config-values.js';

/**
 * Values that a tool renders before the instance sees them. In a Senza definition they are
 * opaque: they satisfy string keys, and where taupage needs a number or a fixed word they are
 * reported as "not checked".
 *
 * - Senza mustache: `{{Arguments.ImageVersion}}`, `{{ SenzaInfo.StackName }}`, `{{AccountInfo.Region}}`
 * - cfn-sphere markers: `|Ref|AWS::StackName`, `|GetAtt|Sg|GroupId`, `|Join|`
 * - a whole value in angle brackets, as in documentation: `<my_mint_bucket>`, `<TODO-FILL-IN>`
 */
const MUSTACHE = /\{\{[^{}]+\}\}/;
const CFN_SPHERE_MARKER = /\|(?:Ref|REF|ref|GetAtt|GetAttr|Join|JOIN|join|Sub)\|/;
const DOC_PLACEHOLDER = /^<[^<>\n]+>$/;

export function isPlaceholderText(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    (MUSTACHE.test(value) || CFN_SPHERE_MARKER.test(value) || DOC_PLACEHOLDER.test(value.trim()))
  );
}

/**
 * CloudFormation intrinsic functions (`{Ref: X}`, `{Fn::GetAtt: [A, B]}`), Senza cross-stack
 * references (`{Stack: s, Output: o}`) and cfn-sphere functions (`{"|Join|": [...]}`).
 * Returns the function's name, or undefined for any other value.
 */
export function intrinsicFunctionName(value: unknown): string | undefined {
  if (!isMapping(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [key] = keys as [string];
    if (key === 'Ref' || key.startsWith('Fn::') || /^\|[A-Za-z]+\|$/.test(key)) return key;
    return undefined;
  }
  if (keys.length === 2 && keys.includes('Stack') && keys.includes('Output')) return 'Senza Stack/Output';
  return undefined;
}

/** A template value of either kind. */
export function isTemplateValue(value: unknown): boolean {
  return isPlaceholderText(value) || intrinsicFunctionName(value) !== undefined;
}

/** How a template value is named in "not checked" warnings. */
export function describeTemplate(value: unknown): string {
  const fn = intrinsicFunctionName(value);
  if (fn !== undefined) return `the ${fn} function`;
  return 'a placeholder';
}
