/**
 * What the Kubernetes API server answers a pod's service account token, once the request gets
 * there: RBAC as written in the manifests (Role, ClusterRole, RoleBinding, ClusterRoleBinding)
 * over Kubernetes' defaults, which give service accounts outside kube-system nothing beyond
 * discovery (kubernetes.io "Using RBAC Authorization", service account permissions; docs/behaviour.md §A6).
 *
 * Defaults every authenticated user has, for resource requests: `create` on
 * selfsubjectaccessreviews / selfsubjectrulesreviews (authorization.k8s.io) and
 * selfsubjectreviews (authentication.k8s.io) from system:basic-user. Without a mounted token the
 * request is anonymous, and system:anonymous has no resource rights either.
 */
import type { ApiRequest } from '../scenario/schema.js';
import type { PolicyManifest as Manifest } from './types.js';
import type { Endpoint } from './cluster.js';
import { where } from './networkpolicy.js';
import { NotUnderstood, list, obj, objectName, onlyKeys, str, strings, type Obj } from './read.js';

export interface ApiAnswer {
  readonly outcome: 'api-allowed' | 'api-forbidden' | 'unknown';
  readonly reasons: readonly string[];
}

interface PolicyRule {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames: readonly string[];
}

interface Role {
  readonly title: string;
  readonly rules: readonly PolicyRule[] | undefined;
  readonly problem?: string;
}

interface Binding {
  readonly title: string;
  /** Undefined for a ClusterRoleBinding. */
  readonly namespace: string | undefined;
  readonly roleKind: 'Role' | 'ClusterRole';
  readonly roleName: string;
  readonly subjects: readonly { readonly kind: string; readonly name: string; readonly namespace?: string }[];
  readonly problem?: string;
}

const SELF_REVIEWS: readonly (readonly [string, string])[] = [
  ['authorization.k8s.io', 'selfsubjectaccessreviews'],
  ['authorization.k8s.io', 'selfsubjectrulesreviews'],
  ['authentication.k8s.io', 'selfsubjectreviews'],
];

export class ApiLayer {
  private readonly roles = new Map<string, Role>();
  private readonly bindings: Binding[] = [];

  constructor(manifests: readonly Manifest[]) {
    for (const m of manifests) {
      const { name, namespace } = objectName(m.object);
      const kind = String(m.object.kind);
      if (kind === 'Role' || kind === 'ClusterRole') {
        const key = kind === 'Role' ? `Role:${namespace ?? 'default'}/${name}` : `ClusterRole:${name}`;
        this.roles.set(key, compileRole(m, kind === 'Role' ? `${namespace ?? 'default'}/${name}` : name));
      } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
        this.bindings.push(compileBinding(m, kind === 'RoleBinding' ? (namespace ?? 'default') : undefined));
      }
    }
  }

  answer(source: Endpoint, request: ApiRequest): ApiAnswer {
    const what = `${request.verb} ${request.group ? `${request.group}/` : ''}${request.resource}${request.namespace ? ` in ${request.namespace}` : ' (cluster scope)'}`;
    const w = source.workload;
    if (w && !w.automountToken) {
      return {
        outcome: 'api-forbidden',
        reasons: [
          `${source.key} mounts no token: the request is anonymous and system:anonymous may not ${what}`,
        ],
      };
    }
    const user = `system:serviceaccount:${source.namespace ?? ''}:${source.serviceAccount ?? 'default'}`;
    if (source.namespace === 'kube-system') {
      return {
        outcome: 'unknown',
        reasons: ['kube-system service accounts have controller rights the model does not list'],
      };
    }
    if (
      request.verb === 'create' &&
      SELF_REVIEWS.some(([g, r]) => g === request.group && r === request.resource)
    ) {
      return { outcome: 'api-allowed', reasons: [`system:basic-user lets every authenticated user ${what}`] };
    }
    let unknown: string | undefined;
    for (const b of this.bindings) {
      if (!this.bindsTo(b, source)) continue;
      if (b.namespace !== undefined && b.namespace !== request.namespace) continue;
      if (b.problem !== undefined) {
        unknown ??= `${b.title} binds ${user} but is not understood: ${b.problem}`;
        continue;
      }
      const role = this.roles.get(
        b.roleKind === 'Role' ? `Role:${b.namespace ?? ''}/${b.roleName}` : `ClusterRole:${b.roleName}`,
      );
      if (!role) {
        if (b.roleKind === 'ClusterRole' && b.roleName === 'cluster-admin') {
          return { outcome: 'api-allowed', reasons: [`${b.title} binds ${user} to cluster-admin`] };
        }
        unknown ??= `${b.title} binds ${user} to ${b.roleKind} ${b.roleName}, which is not among the manifests`;
        continue;
      }
      if (role.problem !== undefined || role.rules === undefined) {
        unknown ??= `${b.roleKind} ${role.title} is not understood: ${role.problem ?? 'aggregated rules'}`;
        continue;
      }
      if (role.rules.some((r) => allows(r, request))) {
        return {
          outcome: 'api-allowed',
          reasons: [`${b.title} grants ${user} ${b.roleKind} ${role.title}, which allows ${what}`],
        };
      }
    }
    if (unknown) return { outcome: 'unknown', reasons: [unknown] };
    return {
      outcome: 'api-forbidden',
      reasons: [`${user} has only the default rights (discovery): it may not ${what} (403 Forbidden)`],
    };
  }

  private bindsTo(b: Binding, source: Endpoint): boolean {
    // A binding the model cannot read may bind anyone.
    if (b.problem !== undefined) return true;
    const ns = source.namespace ?? '';
    const sa = source.serviceAccount ?? 'default';
    return b.subjects.some((s) => {
      if (s.kind === 'ServiceAccount') return s.name === sa && (s.namespace ?? b.namespace) === ns;
      if (s.kind === 'User') return s.name === `system:serviceaccount:${ns}:${sa}`;
      if (s.kind === 'Group') {
        return ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'].includes(
          s.name,
        );
      }
      return false;
    });
  }
}

function allows(rule: PolicyRule, request: ApiRequest): boolean {
  const has = (list: readonly string[], v: string) => list.includes('*') || list.includes(v);
  if (!has(rule.verbs, request.verb)) return false;
  if (!has(rule.apiGroups, request.group)) return false;
  const [resource, sub] = request.resource.split('/');
  const resources = rule.resources;
  const resourceOk =
    resources.includes('*') ||
    resources.includes(request.resource) ||
    (sub !== undefined && resources.includes(`*/${sub}`)) ||
    (sub === undefined && resources.includes(resource ?? ''));
  if (!resourceOk) return false;
  if (rule.resourceNames.length === 0) return true;
  return request.name !== undefined && rule.resourceNames.includes(request.name);
}

function compileRole(m: Manifest, title: string): Role {
  try {
    onlyKeys(m.object, ['apiVersion', 'kind', 'metadata', 'rules', 'aggregationRule'], 'object');
    if (m.object.aggregationRule !== undefined && m.object.aggregationRule !== null) {
      return {
        title,
        rules: undefined,
        problem: 'aggregationRule collects rules from other roles in the cluster',
      };
    }
    const rules = list(m.object.rules, 'rules').map((r, i) => {
      const at = `rules[${i}]`;
      const o = obj(r, at);
      onlyKeys(o, ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'], at);
      return {
        verbs: strings(o.verbs, `${at}.verbs`),
        apiGroups: strings(o.apiGroups, `${at}.apiGroups`),
        resources: strings(o.resources, `${at}.resources`),
        resourceNames: strings(o.resourceNames, `${at}.resourceNames`),
      };
    });
    return { title, rules };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    return { title, rules: undefined, problem: error.message };
  }
}

function compileBinding(m: Manifest, namespace: string | undefined): Binding {
  const { name } = objectName(m.object);
  const title = `${m.object.kind as string} ${namespace ? `${namespace}/` : ''}${name} (${where(m)})`;
  try {
    const ref = obj(m.object.roleRef, 'roleRef');
    const kind = str(ref.kind, 'roleRef.kind');
    const roleName = str(ref.name, 'roleRef.name');
    if ((kind !== 'Role' && kind !== 'ClusterRole') || roleName === undefined)
      throw new NotUnderstood('roleRef needs kind Role or ClusterRole and a name');
    if (kind === 'Role' && namespace === undefined)
      throw new NotUnderstood('a ClusterRoleBinding cannot refer to a Role');
    const subjects = list(m.object.subjects, 'subjects').map((s, i) => {
      const o: Obj = obj(s, `subjects[${i}]`);
      const subjectName = str(o.name, `subjects[${i}].name`) ?? '';
      const ns = str(o.namespace, `subjects[${i}].namespace`);
      return {
        kind: str(o.kind, `subjects[${i}].kind`) ?? '',
        name: subjectName,
        ...(ns ? { namespace: ns } : {}),
      };
    });
    return { title, namespace, roleKind: kind, roleName, subjects };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    return { title, namespace, roleKind: 'ClusterRole', roleName: '', subjects: [], problem: error.message };
  }
}
