/**
 * CRD schemas shipped as data, compiled with ajv: Calico's own (projectcalico.org v3, copied into
 * ./schemas/calico/ with their source; the staged kinds' derived from them, staged-schema.ts) and
 * ClusterNetworkPolicy's as network-policy-api v0.2.0
 * released it (./schemas/network-policy-api/). The Calico schemas serve crd.projectcalico.org/v1
 * too: both API groups carry the same Go spec types, the v1 CRDs being the storage form behind
 * the v3 API server.
 *
 * CRD schemas are OpenAPI v3 with Kubernetes extensions. They are adapted once, on load:
 * - `x-kubernetes-int-or-string` becomes "integer or string" (ports are written either way);
 * - objects with declared properties reject unknown fields, as `kubectl apply` does with
 *   server-side field validation (the default), unless they preserve unknown fields;
 * - of the CEL rules (`x-kubernetes-validations`), the two ClusterNetworkPolicy's schema carries
 *   are evaluated (`self.start < self.end` on port ranges, `isCIDR(self)` on networks); any other
 *   CEL rule and the other extensions are not evaluated here.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

import { packageUrl } from '../package-files.js';
import { POLICY_KINDS } from './kinds.js';
import { stagedCalicoSchema } from './staged-schema.js';

const SCHEMA_DIR = packageUrl('harness/policies/schemas/calico/');
const CRD_DIR = packageUrl('harness/policies/schemas/');

/** Kind → CRD file, for the kinds whose schema is shipped (the Calico rows of kinds.ts naming one). */
export const CALICO_CRDS: Readonly<Record<string, string>> = Object.fromEntries(
  POLICY_KINDS.flatMap((row) => (row.schema?.validator === 'calico' ? [[row.kind, row.schema.crd]] : [])),
);

/** Kind → CRD file under schemas/, for the other CRD-backed rows of kinds.ts (validator `crd`). */
export const OTHER_CRDS: Readonly<Record<string, string>> = Object.fromEntries(
  POLICY_KINDS.flatMap((row) => (row.schema?.validator === 'crd' ? [[row.kind, row.schema.crd]] : [])),
);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The CRD's openAPIV3Schema for its served version, adapted for ajv. */
export function calicoSchema(kind: string): Json | undefined {
  const file = CALICO_CRDS[kind];
  return file === undefined ? undefined : crdSchema(new URL(file, SCHEMA_DIR), file);
}

function crdSchema(url: URL, file: string): Json {
  const crd: unknown = parse(readFileSync(url, 'utf8'));
  const versions = isObject(crd) && isObject(crd.spec) ? crd.spec.versions : undefined;
  const version = Array.isArray(versions) ? (versions as unknown[]).find(isObject) : undefined;
  const schema = isObject(version) && isObject(version.schema) ? version.schema.openAPIV3Schema : undefined;
  if (!isObject(schema)) throw new Error(`${file}: no openAPIV3Schema`);
  return adapt(schema) as Json;
}

function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'default') continue;
    out[key] = adapt(value);
  }
  const cel = celRules(node['x-kubernetes-validations']);
  if (cel.length > 0) out[CEL_KEYWORD] = cel;
  if (node['x-kubernetes-int-or-string'] === true && out.type === undefined) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  const preserves = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(out.properties) && out.additionalProperties === undefined && !preserves) {
    out.additionalProperties = false;
  }
  return out;
}

const CEL_KEYWORD = 'celRules';

interface CelRule {
  readonly rule: string;
  readonly message: string;
}

/** The CEL rules this module can evaluate, by their exact text: value → holds. */
const CEL: Readonly<Record<string, (v: unknown) => boolean>> = {
  'self.start < self.end': (v) =>
    !isObject(v) || typeof v.start !== 'number' || typeof v.end !== 'number' || v.start < v.end,
  'isCIDR(self)': (v) => typeof v !== 'string' || isCidr(v),
};

function celRules(v: unknown): CelRule[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((r: unknown) =>
    isObject(r) && typeof r.rule === 'string' && r.rule in CEL
      ? [{ rule: r.rule, message: typeof r.message === 'string' ? r.message : `failed rule: ${r.rule}` }]
      : [],
  );
}

/** CEL's isCIDR: an IPv4 or IPv6 address, a slash, a prefix length within the family's bits. */
function isCidr(text: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return false;
  const [, address = '', bits = ''] = m;
  const family = isIP(address);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
ajv.addKeyword({
  keyword: CEL_KEYWORD,
  errors: true,
  validate: function celValidate(this: unknown, rules: readonly CelRule[], data: unknown): boolean {
    const failed = rules.filter((r) => CEL[r.rule]?.(data) === false);
    (celValidate as { errors?: Partial<ErrorObject>[] }).errors = failed.map((r) => ({
      keyword: CEL_KEYWORD,
      message: r.message,
      params: { rule: r.rule },
    }));
    return failed.length === 0;
  },
});
const compiled = new Map<string, ValidateFunction>();

/** Schema errors of a Calico object, or undefined when its kind has no shipped schema. */
export function validateCalico(kind: string, object: unknown): readonly ErrorObject[] | undefined {
  return validateWith(`calico/${kind}`, () => calicoSchema(kind), object);
}

/**
 * Schema errors of a Calico staged policy that previews a Calico kind (StagedNetworkPolicy,
 * StagedGlobalNetworkPolicy): the enforced kind's CRD plus `stagedAction` (staged-schema.ts), or
 * undefined when that kind has no shipped schema.
 */
export function validateStagedCalico(
  kind: string,
  enforcedKind: string,
  object: unknown,
): readonly ErrorObject[] | undefined {
  return validateWith(
    `staged/${kind}`,
    () => {
      const enforced = calicoSchema(enforcedKind);
      return enforced && stagedCalicoSchema(enforced);
    },
    object,
  );
}

/** Schema errors of an object of another CRD-backed kind, or undefined when none is shipped. */
export function validateCrd(kind: string, object: unknown): readonly ErrorObject[] | undefined {
  const file = OTHER_CRDS[kind];
  return validateWith(
    `crd/${kind}`,
    () => (file === undefined ? undefined : crdSchema(new URL(file, CRD_DIR), file)),
    object,
  );
}

function validateWith(
  key: string,
  schemaOf: () => Json | undefined,
  object: unknown,
): readonly ErrorObject[] | undefined {
  let validate = compiled.get(key);
  if (!validate) {
    const schema = schemaOf();
    if (!schema) return undefined;
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate(object) ? [] : (validate.errors ?? []);
}
