/**
 * Test doubles for the cluster providers, all local: stub `kind`, `docker` and `istioctl`
 * executables (bash scripts that record their arguments and answer in the real tools' output
 * formats, with their state in a folder), a release server on 127.0.0.1, and a "controllers"
 * loop standing in for the Tigera operator and istioctl against the fake API server.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import { c as tarCreate } from 'tar';

import type { FakeApiServer } from '../support/fake-apiserver/server.js';

const RECORD = `record() { { printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\\x1f%s' "$a"; done; printf '\\n'; } >> "$STUB_STATE/calls"; }
record "$@"
S="$STUB_STATE"
flag() { local want="$1"; shift; while [ $# -gt 0 ]; do if [ "$1" = "$want" ]; then echo "$2"; return; fi; shift; done; }
`;

/** kind v0.31.0 as its CLI answers; a cluster is a file in $STUB_STATE/clusters holding its node state. */
const KIND = `#!/bin/bash
${RECORD}
mkdir -p "$S/clusters"
name="$(flag --name "$@")"; name="\${name:-kind}"
case "$1 $2" in
  "version "*) echo "kind v0.31.0 go1.25.5 linux/amd64" ;;
  "get clusters")
    if [ -z "$(ls -A "$S/clusters")" ]; then echo "No kind clusters found." >&2; else ls "$S/clusters"; fi ;;
  "get kubeconfig")
    if [ ! -f "$S/clusters/$name" ]; then echo "ERROR: could not locate any control plane nodes for cluster named '$name'. Use the --name option to select a different cluster" >&2; exit 1; fi
    cat "$S/kubeconfig" ;;
  "create cluster")
    if [ -f "$S/clusters/$name" ]; then echo "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \\"$name\\"" >&2; exit 1; fi
    cp "$(flag --config "$@")" "$S/last-config.yaml"
    echo "Creating cluster \\"$name\\" ..." >&2
    echo " ✓ Ensuring node image ($(flag --image "$@")) 🖼" >&2
    echo running > "$S/clusters/$name"
    if [ -f "$S/slow-create" ]; then exec sleep 30; fi
    if [ -f "$S/fail-create" ]; then
      echo " ✗ Starting control-plane 🕹️" >&2
      echo "ERROR: failed to create cluster: failed to init node with kubeadm: command \\"docker exec --privileged $name-control-plane kubeadm init --skip-phases=preflight --config=/kind/kubeadm.conf --skip-token-print --v=6\\" failed with error: exit status 1" >&2
      exit 1
    fi
    cp "$S/kubeconfig" "$(flag --kubeconfig "$@")"
    echo " ✓ Starting control-plane 🕹️" >&2
    echo "Set kubectl context to \\"kind-$name\\"" >&2 ;;
  "export logs")
    if [ ! -f "$S/clusters/$name" ]; then echo "ERROR: unknown cluster \\"$name\\"" >&2; exit 1; fi
    mkdir -p "$3/$name-control-plane" && echo "kubelet: started" > "$3/$name-control-plane/kubelet.log"
    echo "Exporting logs for cluster \\"$name\\" to:" >&2; echo "$3" ;;
  "delete cluster")
    echo "Deleting cluster \\"$name\\" ..." >&2; rm -f "$S/clusters/$name" ;;
  *) echo "ERROR: unknown command \\"$1\\" for \\"kind\\"" >&2; exit 1 ;;
esac
`;

/**
 * docker: `info` answers unless $STUB_STATE/docker-down exists; `ps` lists kind node containers;
 * `run -d` starts a container (its name in $STUB_STATE/containers), `inspect` gives its address
 * on the kind network, `rm -f` removes it.
 */
const DOCKER = `#!/bin/bash
${RECORD}
case "$1" in
  info)
    if [ -f "$S/docker-down" ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1
    fi
    echo "28.5.1" ;;
  ps)
    label="$(flag --filter "$@")"; name="\${label#label=io.x-k8s.kind.cluster=}"
    if [ -f "$S/clusters/$name" ]; then printf '%s-control-plane\\t%s\\n' "$name" "$(cat "$S/clusters/$name")"; fi ;;
  run)
    mkdir -p "$S/containers"; name="$(flag --name "$@")"; touch "$S/containers/$name"; echo 0123456789ab ;;
  inspect)
    if [ -f "$S/containers/\${@: -1}" ]; then echo 172.18.0.9; else echo "Error: No such object: \${@: -1}" >&2; exit 1; fi ;;
  rm)
    rm -f "$S/containers/\${@: -1}" ;;
  *) echo "docker: '$1' is not a docker command." >&2; exit 1 ;;
esac
`;

/** istioctl as packed in a release archive: `version --short` and `install` in its output format. */
export function istioctlScript(version: string): string {
  return `#!/bin/bash
${RECORD}
case "$1" in
  version) echo "client version: ${version}" ;;
  install)
    echo "        |\\\\"
    echo "✔ Istio core installed ⛵️"
    echo "✔ Istiod installed 🧠"
    case " $* " in *" profile=ambient "*) echo "✔ CNI installed 🪢"; echo "✔ Ztunnel installed 🔒" ;; esac
    echo "✔ Installation complete" ;;
  *) echo "Error: unknown command \\"$1\\" for \\"istioctl\\"" >&2; exit 1 ;;
esac
`;
}

export interface Stubs {
  readonly bin: string;
  readonly state: string;
  /** PATH and STUB_STATE for children (the stubs first on PATH). */
  readonly env: NodeJS.ProcessEnv;
  /** Every stub invocation so far: [tool, ...args]. */
  calls(): Promise<string[][]>;
}

export async function writeStubs(
  dir: string,
  kubeconfig: string,
  tools: readonly string[] = ['kind', 'docker'],
): Promise<Stubs> {
  const bin = path.join(dir, 'bin');
  const state = path.join(dir, 'state');
  await mkdir(bin, { recursive: true });
  await mkdir(path.join(state, 'clusters'), { recursive: true });
  await writeFile(path.join(state, 'calls'), '');
  await writeFile(path.join(state, 'kubeconfig'), kubeconfig);
  const scripts: Record<string, string> = { kind: KIND, docker: DOCKER };
  for (const tool of tools) {
    await writeFile(path.join(bin, tool), scripts[tool] ?? '');
    await chmod(path.join(bin, tool), 0o755);
  }
  return {
    bin,
    state,
    // /usr/bin:/bin for bash, cat, ls; nothing else the tests do not control.
    env: { PATH: `${bin}:/usr/bin:/bin`, STUB_STATE: state, HOME: dir },
    calls: async () =>
      (await readFile(path.join(state, 'calls'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\x1f')),
  };
}

/** The fake API server's kubeconfig as kind writes it: context and cluster `kind-<name>`. */
export function kindKubeconfig(server: FakeApiServer, name = 'bulkhead'): string {
  const fake = server.kubeConfig();
  const cluster = fake.getCurrentCluster();
  const user = fake.getCurrentUser();
  if (!cluster || !user) throw new Error('fake kubeconfig without cluster or user');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: `kind-${name}` }],
    users: [{ ...user, name: `kind-${name}` }],
    contexts: [{ name: `kind-${name}`, cluster: `kind-${name}`, user: `kind-${name}` }],
    currentContext: `kind-${name}`,
  });
  return kc.exportConfig();
}

export interface ReleaseServer {
  readonly url: string;
  readonly requests: string[];
  set(pathname: string, body: Buffer | string): void;
  close(): Promise<void>;
}

/** Serves fixed files on 127.0.0.1 and records the paths asked for (404 for the rest). */
export async function releaseServer(): Promise<ReleaseServer> {
  const files = new Map<string, Buffer>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://local').pathname;
    requests.push(pathname);
    const body = files.get(pathname);
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests,
    set: (pathname, body) => files.set(pathname, Buffer.from(body)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** An istioctl release archive (holding the stub) and its published checksum line. */
export async function istioctlRelease(
  dir: string,
  version: string,
  arch = 'amd64',
): Promise<{ archive: Buffer; sha256: string; name: string }> {
  const src = await mkdir(path.join(dir, `istioctl-src-${version}`), { recursive: true }).then(() =>
    path.join(dir, `istioctl-src-${version}`),
  );
  await writeFile(path.join(src, 'istioctl'), istioctlScript(version), { mode: 0o755 });
  const name = `istioctl-${version}-linux-${arch}.tar.gz`;
  const file = path.join(dir, name);
  await tarCreate({ gzip: true, file, cwd: src, portable: true }, ['istioctl']);
  const archive = await readFile(file);
  return { archive, sha256: createHash('sha256').update(archive).digest('hex'), name };
}

/** Serves istioctl <version> the way GitHub releases do: archive + `<archive>.sha256`. */
export async function serveIstioctl(server: ReleaseServer, dir: string, version: string): Promise<string> {
  const { archive, sha256, name } = await istioctlRelease(dir, version);
  server.set(`/istio/${version}/${name}`, archive);
  server.set(`/istio/${version}/${name}.sha256`, `${sha256}  ${name}\n`);
  return `${server.url}/istio`;
}

function crd(kind: string, plural: string): string {
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.operator.tigera.io
spec:
  group: operator.tigera.io
  names: { kind: ${kind}, listKind: ${kind}List, plural: ${plural}, singular: ${kind.toLowerCase()} }
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;
}

/** Calico's operator manifests, cut down to what the fake API server serves, at `<base>/<v>/manifests/`. */
export function serveCalico(server: ReleaseServer, version: string): string {
  server.set(
    `/calico/${version}/manifests/operator-crds.yaml`,
    [
      crd('Installation', 'installations'),
      crd('APIServer', 'apiservers'),
      crd('TigeraStatus', 'tigerastatuses'),
    ].join('---\n'),
  );
  server.set(
    `/calico/${version}/manifests/tigera-operator.yaml`,
    `apiVersion: v1
kind: Namespace
metadata: { name: tigera-operator, labels: { name: tigera-operator } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: tigera-operator, namespace: tigera-operator }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: tigera-operator, namespace: tigera-operator }
spec:
  replicas: 1
  selector: { matchLabels: { name: tigera-operator } }
  template:
    metadata: { labels: { name: tigera-operator } }
    spec:
      serviceAccountName: tigera-operator
      containers: [{ name: tigera-operator, image: 'quay.io/tigera/operator:v1.40.2' }]
`,
  );
  return `${server.url}/calico`;
}

/** The kind stub as a kind release asset (`<base>/<release>/kind-linux-<arch>` + `.sha256sum`). */
export function serveKind(server: ReleaseServer, release = 'v0.31.0'): string {
  const sha = createHash('sha256').update(KIND).digest('hex');
  for (const arch of ['amd64', 'arm64']) {
    server.set(`/kind/${release}/kind-linux-${arch}`, KIND);
    server.set(`/kind/${release}/kind-linux-${arch}.sha256sum`, `${sha}  kind-linux-${arch}\n`);
  }
  return `${server.url}/kind`;
}

/** Serves a test Gateway API bundle as raw.githubusercontent does: `<base>/<tag>/config/crd/standard/<file>`. */
export function serveGatewayApi(
  server: ReleaseServer,
  files: ReadonlyMap<string, string>,
  version: string,
): string {
  for (const [name, text] of files) server.set(`/gateway-api/${version}/config/crd/standard/${name}`, text);
  return `${server.url}/gateway-api`;
}

/** A DaemonSet in istio-system as the ambient profile renders it, with a status a controller would write. */
export function ambientDaemonSet(
  name: string,
  status: { desired: number; updated: number; available: number },
  namespace = 'istio-system',
): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: name === 'ztunnel' ? 'istio-proxy' : 'install-cni', image: 'istio' }] },
      },
    },
    status: {
      observedGeneration: 1,
      desiredNumberScheduled: status.desired,
      currentNumberScheduled: status.desired,
      updatedNumberScheduled: status.updated,
      numberAvailable: status.available,
      numberReady: status.available,
    },
  };
}

/** kind's nodes, NotReady until a CNI runs. */
export function putNodes(server: FakeApiServer, name = 'bulkhead', workers = 2): void {
  const names = [
    `${name}-control-plane`,
    ...Array.from({ length: workers }, (_, i) => `${name}-worker${i ? String(i + 1) : ''}`),
  ];
  for (const node of names) {
    server.put({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'KubeletNotReady',
            message: 'cni plugin not initialized',
          },
        ],
      },
    });
  }
}

/**
 * What the Tigera operator and istioctl would do, observed from outside: once the Installation
 * exists, Calico reports Available, nodes turn Ready; once istioctl install ran, istiod exists.
 */
export function simulateControllers(
  server: FakeApiServer,
  stubs: Stubs,
  versions: { calico: string; istio: string },
  options: { readonly ztunnelStuck?: boolean } = {},
): () => void {
  let ambientSince: number | undefined;
  const timer = setInterval(() => {
    void (async () => {
      const installation = server.get('operator.tigera.io/v1', 'Installation', undefined, 'default');
      if (installation && !server.get('operator.tigera.io/v1', 'TigeraStatus', undefined, 'calico')) {
        server.put({ ...installation, status: { calicoVersion: versions.calico } });
        for (const name of ['calico', 'apiserver']) {
          server.put({
            apiVersion: 'operator.tigera.io/v1',
            kind: 'TigeraStatus',
            metadata: { name },
            status: {
              conditions: [
                { type: 'Available', status: 'True' },
                { type: 'Progressing', status: 'False' },
                { type: 'Degraded', status: 'False' },
              ],
            },
          });
        }
        for (const node of server.list('v1', 'Node')) {
          server.put({
            ...node,
            status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
          });
        }
      }
      const calls = await stubs.calls();
      const installed = calls.some((c) => c[0] === 'istioctl' && c[1] === 'install');
      const ambient = calls.some(
        (c) => c[0] === 'istioctl' && c[1] === 'install' && c.includes('profile=ambient'),
      );
      if (ambient) {
        // istio-cni and ztunnel come up node by node: one pod updated at first, all three
        // available a little after istiod (so a wait sees them on their way).
        ambientSince ??= Date.now();
        const done = Date.now() - ambientSince > 300;
        for (const name of ['istio-cni-node', 'ztunnel']) {
          const ds = server.get('apps/v1', 'DaemonSet', 'istio-system', name);
          if (!ds) server.put(ambientDaemonSet(name, { desired: 3, updated: 1, available: 0 }));
          else if (done && !(options.ztunnelStuck && name === 'ztunnel'))
            server.put(ambientDaemonSet(name, { desired: 3, updated: 3, available: 3 }));
        }
      }
      if (installed && !server.get('apps/v1', 'Deployment', 'istio-system', 'istiod')) {
        server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
        server.put({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: {
            name: 'istiod',
            namespace: 'istio-system',
            labels: { app: 'istiod', 'istio.io/rev': 'default' },
          },
          // istio-discovery/templates/deployment.yaml:35-56 @1.30.3, without a revision.
          spec: {
            replicas: 1,
            selector: { matchLabels: { istio: 'pilot' } },
            template: {
              metadata: { labels: { app: 'istiod', 'istio.io/rev': 'default', istio: 'pilot' } },
              spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${versions.istio}` }] },
            },
          },
        });
      }
    })();
  }, 10);
  return () => {
    clearInterval(timer);
  };
}
