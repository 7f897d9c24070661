/**
 * Calico's own CRD schemas (projectcalico.org v3, copied into ./schemas/calico/ with their source)
 * compiled with ajv. The same schemas serve crd.projectcalico.org/v1: both API groups carry the
 * same Go spec types, the v1 CRDs being the storage form behind the v3 API server.
 *
 * CRD schemas are OpenAPI v3 with Kubernetes extensions. They are adapted once, on load:
 * - `x-kubernetes-int-or-string` becomes "integer or string" (ports are written either way);
 * - objects with declared properties reject unknown fields, as `kubectl apply` does with
 *   server-side field validation (the default), unless they preserve unknown fields;
 * - CEL rules (`x-kubernetes-validations`) and other extensions are not evaluated here.
 */
import { readFileSync } from 'node:fs';

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

import { packageUrl } from '../package-files.js';
import { POLICY_KINDS } from './kinds.js';

const SCHEMA_DIR = packageUrl('harness/policies/schemas/calico/');

/** Kind → CRD file, for the kinds whose schema is shipped (the Calico rows of kinds.ts naming one). */
export const CALICO_CRDS: Readonly<Record<string, string>> = Object.fromEntries(
  POLICY_KINDS.flatMap((row) => (row.schema?.validator === 'calico' ? [[row.kind, row.schema.crd]] : [])),
);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The CRD's openAPIV3Schema for its served version, adapted for ajv. */
export function calicoSchema(kind: string): Json | undefined {
  const file = CALICO_CRDS[kind];
  if (file === undefined) return undefined;
  const crd: unknown = parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8'));
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
  if (node['x-kubernetes-int-or-string'] === true && out.type === undefined) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  const preserves = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(out.properties) && out.additionalProperties === undefined && !preserves) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();

/** Schema errors of a Calico object, or undefined when its kind has no shipped schema. */
export function validateCalico(kind: string, object: unknown): readonly ErrorObject[] | undefined {
  let validate = compiled.get(kind);
  if (!validate) {
    const schema = calicoSchema(kind);
    if (!schema) return undefined;
    validate = ajv.compile(schema);
    compiled.set(kind, validate);
  }
  return validate(object) ? [] : (validate.errors ?? []);
}
