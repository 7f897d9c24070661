/**
 * Every policy object checked against the schema of its kind before anything reasons about it:
 * kubernetes-models for Kubernetes kinds, @kubernetes-models/istio for Istio kinds, Calico's CRD
 * schemas for Calico kinds, and for Calico's staged kinds the schema of the kind each previews
 * (staged-schema.ts). A violation names the object, the field and the file:line.
 */
import * as istioNetworkingV1 from '@kubernetes-models/istio/networking.istio.io/v1';
import * as istioNetworkingV1alpha3 from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import * as istioNetworkingV1beta1 from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import * as istioSecurityV1 from '@kubernetes-models/istio/security.istio.io/v1';
import * as istioSecurityV1beta1 from '@kubernetes-models/istio/security.istio.io/v1beta1';
import type { ErrorObject } from 'ajv';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';

import type { Problem } from '../errors.js';
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { validateCalico, validateCrd, validateStagedCalico } from './calico-schema.js';
import { POLICY_KINDS, policyKind, schemaOf } from './kinds.js';
import { stagedKubernetesErrors } from './staged-schema.js';
import { unknownFields } from './known-fields.js';
import { describeRef, obj, refOf, str, type ObjectRef } from './objects.js';

/** A model class of kubernetes-models: constructed from data, `validate()` throws on violations. */
type ModelClass = new (data: Record<string, unknown>) => { validate(): void };

/** The kubernetes-models and @kubernetes-models/istio module of each apiVersion with schemas. */
const MODULES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'networking.k8s.io/v1': networkingV1,
  'rbac.authorization.k8s.io/v1': rbacV1,
  'security.istio.io/v1': istioSecurityV1,
  'security.istio.io/v1beta1': istioSecurityV1beta1,
  'networking.istio.io/v1alpha3': istioNetworkingV1alpha3,
  'networking.istio.io/v1beta1': istioNetworkingV1beta1,
  'networking.istio.io/v1': istioNetworkingV1,
};

/** `apiVersion/kind` → its model class, for every kind whose row names one (kinds.ts). */
const MODELS = new Map<string, ModelClass>(
  POLICY_KINDS.flatMap((row) => {
    const schema = row.schema;
    if (schema === undefined || (schema.validator !== 'kubernetes' && schema.validator !== 'istio'))
      return [];
    return (schema.apiVersions ?? row.group.apiVersions).flatMap((apiVersion) => {
      const Model = MODULES[apiVersion]?.[row.kind];
      return typeof Model === 'function' ? [[`${apiVersion}/${row.kind}`, Model as ModelClass] as const] : [];
    });
  }),
);

export type SchemaResult =
  | { readonly status: 'valid'; readonly object: ObjectRef }
  | { readonly status: 'invalid'; readonly object: ObjectRef; readonly problems: readonly Problem[] }
  /** No schema is known for this apiVersion/kind: nothing was checked. */
  | { readonly status: 'unknown-kind'; readonly object: ObjectRef };

/** Which validator covers an apiVersion/kind: 'kubernetes' (kubernetes-models), 'istio', 'calico', 'crd', 'staged' or undefined. */
export function schemaFor(
  apiVersion: string,
  kind: string,
): 'kubernetes' | 'istio' | 'calico' | 'crd' | 'staged' | undefined {
  const schema = schemaOf(apiVersion, kind);
  if (schema?.validator === 'calico' || schema?.validator === 'crd' || schema?.validator === 'staged')
    return schema.validator;
  return schema && MODELS.has(`${apiVersion}/${kind}`) ? schema.validator : undefined;
}

/** Checks one object against its kind's schema. */
export function validateManifest(m: Manifest): SchemaResult {
  const object = refOf(m);
  const problems: Problem[] = [];
  const metadata = obj(m.object.metadata);
  if (str(metadata.name) === undefined || metadata.name === '') {
    problems.push(m.source.problem(['metadata'], `${describeRef(object)}: metadata.name is required`));
  }
  let errors: readonly ErrorObject[] | undefined;
  const schema = schemaOf(object.apiVersion, object.kind);
  if (schema?.validator === 'calico') {
    errors = validateCalico(object.kind, m.object);
  } else if (schema?.validator === 'crd') {
    errors = validateCrd(object.kind, m.object);
  } else if (schema?.validator === 'staged') {
    errors = stagedErrors(object.apiVersion, object.kind, m.object);
  } else {
    const Model = schema && MODELS.get(`${object.apiVersion}/${object.kind}`);
    if (Model) errors = modelErrors(Model, m.object);
  }
  if (errors === undefined && problems.length === 0) return { status: 'unknown-kind', object };
  for (const e of errors ?? []) problems.push(toProblem(m, object, e));
  problems.push(...unknownFields(m));
  return problems.length === 0 ? { status: 'valid', object } : { status: 'invalid', object, problems };
}

/**
 * Every schema violation among these objects, at its file:line. A command that applies them
 * refuses them up front: bulkhead applies with `fieldValidation=Strict` (kube/client.ts), so the
 * API server would refuse each one mid-apply, after a cluster was made and other objects were
 * applied.
 */
export function schemaProblems(manifests: readonly Manifest[]): Problem[] {
  return manifests.flatMap((m) => {
    const result = validateManifest(m);
    return result.status === 'invalid' ? result.problems : [];
  });
}

/** A staged kind's errors by the schema of the kind it previews (staged-schema.ts). */
function stagedErrors(
  apiVersion: string,
  kind: string,
  data: Readonly<Record<string, unknown>>,
): readonly ErrorObject[] | undefined {
  const enforced = policyKind(apiVersion, kind)?.stages;
  if (!enforced) return undefined;
  if (enforced.apiVersion === undefined) return validateStagedCalico(kind, enforced.kind, data);
  const Model = MODELS.get(`${enforced.apiVersion}/${enforced.kind}`);
  return Model && stagedKubernetesErrors(data, (networkPolicy) => modelErrors(Model, networkPolicy));
}

function modelErrors(Model: ModelClass, data: Readonly<Record<string, unknown>>): readonly ErrorObject[] {
  try {
    new Model({ ...data }).validate();
    return [];
  } catch (error) {
    const list = (error as { errors?: unknown }).errors;
    if (Array.isArray(list)) return list as ErrorObject[];
    throw error;
  }
}

function toProblem(m: Manifest, object: ObjectRef, e: ErrorObject): Problem {
  const path: (string | number)[] = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  let message = e.message ?? e.keyword;
  let at: DocPath = path;
  let key = false;
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperty' || e.keyword === 'additionalProperties') {
    const extra = String(params.additionalProperty);
    at = [...path, extra];
    key = true;
    message = `unknown field '${extra}'`;
  } else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (e.keyword === 'required') {
    at = [...path, String(params.missingProperty)];
    message = `'${String(params.missingProperty)}' is required`;
  }
  return m.source.problem(at, `${describeRef(object)}: ${message}`, { key });
}
