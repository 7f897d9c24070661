/**
 * What a real API server does with CRD schemas, where it matters to bulkhead's apply path:
 *
 * - A CustomResourceDefinition whose schema is not *structural* is refused with 422 Invalid:
 *   every specified field (under `properties`, `additionalProperties`, `items`) needs a
 *   non-empty `type`, unless it is `x-kubernetes-int-or-string: true` or
 *   `x-kubernetes-preserve-unknown-fields: true` (Kubernetes docs, "Specifying a structural
 *   schema"; the message is the one kubernetes-client/javascript#2483 quotes for a Calico CRD
 *   that lost `x-kubernetes-int-or-string` on the way out).
 * - A server-side apply of a custom resource with a field its schema does not declare fails:
 *   apply patches are always converted to the typed schema, which refuses unknown fields
 *   (kubernetes/kubernetes#105916: "Apply Patch requests already require strict schemas and will
 *   error on unknown fields"; the message is `failed to create typed patch object (…): .spec.x:
 *   field not declared in schema`, answered as 500 today, kubernetes/kubernetes#139253).
 * - Other writes of custom resources are pruned: unknown fields are dropped before storage.
 *
 * - A custom resource that lacks a field its schema lists as `required` is refused with 422
 *   Invalid, `<path>: Required value` (the OpenAPI validation every CRD write goes through; e.g.
 *   a Gateway without `spec.gatewayClassName`, gateway-api `apis/v1/gateway_types.go`).
 *
 * - A custom resource whose value breaks its schema's `enum`, `pattern`, `minLength`/`maxLength`,
 *   `minItems`/`maxItems` or `minimum`/`maximum` is refused with 422 Invalid, one cause per value
 *   in the OpenAPI validator's manner (`spec.hostnames[0]: Invalid value: "A": spec.hostnames[0]
 *   in body should match '^…$'`, `…: Unsupported value: "X": supported values: …`,
 *   `…: Too many: 17: must have at most 16 items`): {@link invalidValues}.
 *
 * Not modelled: built-in kinds' schemas (their unknown fields are neither pruned nor refused
 * here), CEL rules (`x-kubernetes-validations`), `default`s, `format`.
 */

export interface JsonSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly additionalProperties?: JsonSchema | boolean;
  readonly items?: JsonSchema;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
  readonly 'x-kubernetes-embedded-resource'?: boolean;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly maxItems?: number;
  readonly minItems?: number;
  readonly maxLength?: number;
  readonly minLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
}

interface CrdVersion {
  readonly name?: string;
  readonly schema?: { readonly openAPIV3Schema?: JsonSchema };
}

/** The openAPIV3Schema of each version of a CRD, by version name. */
export function crdSchemas(crd: Record<string, unknown>): Map<string, JsonSchema> {
  const versions = (crd.spec as { versions?: CrdVersion[] } | undefined)?.versions ?? [];
  const schemas = new Map<string, JsonSchema>();
  for (const v of versions) {
    if (v.name && v.schema?.openAPIV3Schema) schemas.set(v.name, v.schema.openAPIV3Schema);
  }
  return schemas;
}

/**
 * The structural-schema violations of a CRD, as `field: message` in the API server's wording;
 * empty when every version's schema is structural.
 */
export function structuralViolations(crd: Record<string, unknown>): string[] {
  const versions = (crd.spec as { versions?: CrdVersion[] } | undefined)?.versions ?? [];
  const problems: string[] = [];
  versions.forEach((v, i) => {
    const root = v.schema?.openAPIV3Schema;
    if (!root) return;
    walk(root, `spec.versions[${i}].schema.openAPIV3Schema`, 'root');
  });
  return problems;

  function walk(node: JsonSchema, at: string, role: 'root' | 'object field' | 'array item'): void {
    const exempt =
      node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
    if (!node.type && !exempt) {
      problems.push(
        `${at}.type: Required value: must not be empty for specified ${role === 'array item' ? 'array items' : 'object fields'}`,
      );
    }
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      walk(child, `${at}.properties[${name}]`, 'object field');
    }
    if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      walk(node.additionalProperties, `${at}.additionalProperties`, 'object field');
    }
    if (node.items) walk(node.items, `${at}.items`, 'array item');
  }
}

/**
 * A custom resource as the schema keeps it: fields the schema does not declare removed, with
 * their paths (`.spec.foo`, `.spec.rules[0].bar`). `apiVersion`, `kind` and `metadata` of the
 * root (and of embedded resources) are always kept.
 */
export function pruneUnknown(
  object: Record<string, unknown>,
  schema: JsonSchema,
): { readonly pruned: Record<string, unknown>; readonly unknown: readonly string[] } {
  const unknown: string[] = [];
  const pruned = prune(object, schema, '', true) as Record<string, unknown>;
  return { pruned, unknown };

  function prune(value: unknown, node: JsonSchema | undefined, at: string, resource: boolean): unknown {
    if (!node || node['x-kubernetes-preserve-unknown-fields'] === true) return value;
    if (Array.isArray(value)) return value.map((v, i) => prune(v, node.items, `${at}[${i}]`, false));
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    const embedded = resource || node['x-kubernetes-embedded-resource'] === true;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) {
        out[key] = child;
        continue;
      }
      const declared = node.properties?.[key];
      const extra = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
      if (declared) out[key] = prune(child, declared, `${at}.${key}`, false);
      else if (extra) out[key] = prune(child, extra, `${at}.${key}`, false);
      else if (node.additionalProperties === true) out[key] = child;
      else unknown.push(`${at}.${key}`);
    }
    return out;
  }
}

/**
 * The `required` fields a custom resource lacks, as the API server words them
 * (`spec.gatewayClassName: Required value`). `status` is not checked: it is written through its
 * own subresource, where the main resource's writes leave it alone.
 */
export function missingRequired(object: Record<string, unknown>, schema: JsonSchema): string[] {
  const problems: string[] = [];
  walk(object, schema, '', true);
  return problems;

  function walk(value: unknown, node: JsonSchema | undefined, at: string, root: boolean): void {
    if (!node || value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        walk(v, node.items, `${at}[${i}]`, false);
      });
      return;
    }
    if (typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    for (const key of node.required ?? []) {
      if (root && key === 'status') continue;
      if (record[key] === undefined) problems.push(`${at ? `${at}.` : ''}${key}: Required value`);
    }
    for (const [key, child] of Object.entries(record)) {
      if (root && (key === 'metadata' || key === 'status')) continue;
      walk(child, node.properties?.[key], `${at ? `${at}.` : ''}${key}`, false);
    }
  }
}

/** A string's length as OpenAPI's maxLength and minLength count it: in code points, not UTF-16 units. */
function runes(value: string): number {
  let n = 0;
  for (const _ of value) n += 1;
  return n;
}

/**
 * The values of a custom resource its schema's value constraints refuse (see the header), worded
 * as the API server's OpenAPI validator words them. `status` is not checked, as for required.
 */
export function invalidValues(object: Record<string, unknown>, schema: JsonSchema): string[] {
  const problems: string[] = [];
  walk(object, schema, '', true);
  return problems;

  function walk(value: unknown, node: JsonSchema | undefined, at: string, root: boolean): void {
    if (!node || value === null || value === undefined) return;
    const shown = JSON.stringify(value);
    if (node.enum && !node.enum.some((e) => JSON.stringify(e) === shown))
      problems.push(
        `${at}: Unsupported value: ${shown}: supported values: ${node.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      );
    if (typeof value === 'string') {
      if (node.pattern !== undefined && !new RegExp(node.pattern, 'u').test(value))
        problems.push(`${at}: Invalid value: ${shown}: ${at} in body should match '${node.pattern}'`);
      if (node.maxLength !== undefined && runes(value) > node.maxLength)
        problems.push(`${at}: Too long: may not be more than ${node.maxLength} bytes`);
      if (node.minLength !== undefined && runes(value) < node.minLength)
        problems.push(
          `${at}: Invalid value: ${shown}: ${at} in body should be at least ${node.minLength} chars long`,
        );
    }
    if (typeof value === 'number') {
      if (node.minimum !== undefined && value < node.minimum)
        problems.push(
          `${at}: Invalid value: ${shown}: ${at} in body should be greater than or equal to ${node.minimum}`,
        );
      if (node.maximum !== undefined && value > node.maximum)
        problems.push(
          `${at}: Invalid value: ${shown}: ${at} in body should be less than or equal to ${node.maximum}`,
        );
    }
    if (Array.isArray(value)) {
      if (node.maxItems !== undefined && value.length > node.maxItems)
        problems.push(`${at}: Too many: ${value.length}: must have at most ${node.maxItems} items`);
      if (node.minItems !== undefined && value.length < node.minItems)
        problems.push(
          `${at}: Invalid value: ${value.length}: ${at} in body should have at least ${node.minItems} items`,
        );
      value.forEach((v, i) => {
        walk(v, node.items, `${at}[${i}]`, false);
      });
      return;
    }
    if (typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (root && (key === 'metadata' || key === 'status' || key === 'apiVersion' || key === 'kind'))
        continue;
      const declared =
        node.properties?.[key] ??
        (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
      walk(child, declared, `${at ? `${at}.` : ''}${key}`, false);
    }
  }
}
