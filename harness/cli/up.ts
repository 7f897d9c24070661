/**
 * `bulkhead up`: a kind cluster with Calico and Istio, and nothing else, so nightly jobs and
 * local loops can reuse one cluster across runs (`bulkhead run --reuse`). A running cluster of
 * the same name is checked and completed rather than refused; `bulkhead down` deletes it.
 * `bulkhead up --provider existing` creates nothing: it checks a cluster bulkhead does not own
 * (versions found, supported pairs, permissions a run needs).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { InvalidArgumentError, Option, type Command } from 'commander';

import type { AcquireProps } from '../cluster/acquire.js';
import type { DEFAULT_CLUSTER_NAME as KIND_DEFAULT_NAME } from '../cluster/kind.js';
import type { Environment } from '../cluster/provider.js';
import { DEFAULT_CALICO, DEFAULT_ISTIO, DEFAULT_KUBERNETES } from '../cluster/versions.js';
import type { CliIo } from './io.js';
import { renderTable } from '../report/table.js';

/**
 * The kind cluster's default name, here so that defining the options loads no cluster code
 * (cluster/kind.ts loads the Kubernetes client). Its type is cluster/kind.ts's literal: a
 * different value there fails the typecheck.
 */
export const DEFAULT_CLUSTER_NAME: typeof KIND_DEFAULT_NAME = 'bulkhead';

/** The options `up` and `run` share for provisioned clusters. */
export interface ProvisionOptions {
  readonly name: string;
  readonly workers: number;
  readonly kubernetes: string;
  readonly calico: string;
  readonly istio: string;
  /** Use a running cluster of the same name (run's --reuse; `up` always does). */
  readonly reuse?: boolean;
  readonly apiServerPort?: number;
  readonly istioBaseUrl?: string;
  readonly calicoBaseUrl?: string;
  readonly kindBaseUrl?: string;
  readonly gatewayApiBaseUrl?: string;
  /** Unset on `run`: the scenario decides (ambient when it has ambient namespaces or workloads). */
  readonly dataplane?: 'sidecar' | 'ambient';
  readonly provisionTimeout: number;
}

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${String(min)} to ${String(max)}`);
    return n;
  };
}

export function addProvisionOptions(command: Command): Command {
  return command
    .option('--name <name>', 'kind cluster name', DEFAULT_CLUSTER_NAME)
    .option('--workers <n>', 'kind worker nodes besides the control plane', wholeNumber(0, 10), 2)
    .option(
      '--kubernetes <version>',
      'Kubernetes version (picks the node image pinned by digest)',
      DEFAULT_KUBERNETES,
    )
    .option('--calico <version>', 'Calico release tag', DEFAULT_CALICO)
    .option('--istio <version>', 'Istio release (istioctl is downloaded, verified and cached)', DEFAULT_ISTIO)
    .addOption(
      new Option(
        '--dataplane <plane>',
        'the Istio data plane to install or require: sidecar, or ambient (istio-cni, ztunnel, Gateway API CRDs; Calico not on eBPF). run: default ambient when the scenario has ambient workloads',
      ).choices(['sidecar', 'ambient']),
    )
    .option(
      '--api-server-port <port>',
      'host port for the API server (default: kind picks one)',
      wholeNumber(1, 65535),
    )
    .option('--istio-base-url <url>', 'mirror of https://github.com/istio/istio/releases/download')
    .option('--calico-base-url <url>', 'mirror of https://raw.githubusercontent.com/projectcalico/calico')
    .option(
      '--gateway-api-base-url <url>',
      'mirror of https://raw.githubusercontent.com/kubernetes-sigs/gateway-api (ambient; files are checked against pinned SHA-256)',
    )
    .option(
      '--kind-base-url <url>',
      'mirror of https://github.com/kubernetes-sigs/kind/releases/download (used when kind is missing or too old)',
    )
    .option(
      '--provision-timeout <seconds>',
      'how long creating the cluster and each install may take',
      wholeNumber(1, 86_400),
      600,
    );
}

export function provisionProps(options: ProvisionOptions): Partial<AcquireProps> {
  return {
    name: options.name,
    workers: options.workers,
    kubernetes: options.kubernetes,
    calico: options.calico,
    istio: options.istio,
    reuse: options.reuse ?? false,
    timeoutMs: options.provisionTimeout * 1000,
    ...(options.apiServerPort ? { apiServerPort: options.apiServerPort } : {}),
    ...(options.istioBaseUrl ? { istioBaseUrl: options.istioBaseUrl } : {}),
    ...(options.calicoBaseUrl ? { calicoBaseUrl: options.calicoBaseUrl } : {}),
    ...(options.kindBaseUrl ? { kindBaseUrl: options.kindBaseUrl } : {}),
    ...(options.gatewayApiBaseUrl ? { gatewayApiBaseUrl: options.gatewayApiBaseUrl } : {}),
    ...(options.dataplane ? { dataplane: options.dataplane } : {}),
  };
}

/** The environment as rows for a table (and for the record). */
export function environmentRows(env: Environment): string[][] {
  const rows: [string, string | undefined][] = [
    ['provider', env.provider],
    ['cluster', `${env.cluster}${env.reused ? ' (reused)' : ''}`],
    ['kubernetes', env.kubernetes],
    ['calico', env.calico],
    ['istio', env.istio],
    ['node image', env.nodeImage],
    ['kind', env.kind],
    ...Object.entries(env.artifacts ?? {}).map(([k, v]): [string, string] => [`sha256 ${k}`, v]),
  ];
  return rows.map(([k, v]) => [k, v ?? 'not found']);
}

interface UpOptions extends ProvisionOptions {
  readonly provider: 'kind' | 'existing';
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly logs: string;
  readonly writeKubeconfig?: string;
}

export function upCommand(program: Command, io: CliIo): void {
  addProvisionOptions(
    program
      .command('up')
      .description(
        'create (or complete) a kind cluster with Calico and Istio and keep it for later runs; with --provider existing, check a cluster instead',
      ),
  )
    .addOption(
      new Option(
        '--provider <name>',
        'kind: create or complete a cluster; existing: check a kubeconfig context',
      )
        .choices(['kind', 'existing'])
        .default('kind'),
    )
    .option('--kubeconfig <file>', 'existing: kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'existing: kubeconfig context (default: the current one)')
    .option('--logs <dir>', 'where kind logs go if creating the cluster fails', 'reports/cluster-logs')
    .option('--write-kubeconfig <file>', 'also write the cluster kubeconfig to this file')
    .addHelpText(
      'after',
      `
Every step is printed as the shell command that reproduces it. Nothing is created when a
preflight check fails (Docker, kind, inotify limits, versions) or when the Istio and Kubernetes
versions are not a supported pair.

Examples:
  $ bulkhead up
  $ bulkhead up --kubernetes 1.34.0 --istio 1.28.2 --workers 1
  $ bulkhead up --dataplane ambient --istio 1.30.3      # istio-cni, ztunnel, Gateway API v1.5.1 CRDs
  $ bulkhead run -f scenarios/hard-isolation.yaml --reuse   # then, as often as needed
  $ bulkhead down
  $ bulkhead up --provider existing --context staging   # versions, support, permissions`,
    )
    .action(async (options: UpOptions) => {
      const log = (line: string) => {
        io.stderr(`${line}\n`);
      };
      if (options.provider === 'existing') {
        const { checkExisting, ClusterNotReady, connectExisting } = await import('../cluster/existing.js');
        const cluster = await connectExisting({
          cwd: io.cwd,
          log,
          ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
          ...(options.context ? { context: options.context } : {}),
        });
        const problems = await checkExisting(cluster, log, {
          ...(options.dataplane ? { dataplane: options.dataplane } : {}),
        });
        io.stdout(renderTable(['WHAT', 'VERSION'], environmentRows(cluster.environment)));
        if (problems.length > 0) {
          throw new ClusterNotReady(
            problems,
            `nothing was changed on context '${cluster.environment.cluster}'; fix these and run this check again`,
          );
        }
        io.stdout(
          `\ncontext '${cluster.environment.cluster}' is ready for bulkhead run --provider existing\n`,
        );
        return;
      }
      const { acquireCluster } = await import('../cluster/acquire.js');
      const cluster = await acquireCluster({
        ...provisionProps(options),
        provider: 'kind',
        reuse: true,
        log,
        cwd: io.cwd,
        logsDir: path.resolve(io.cwd, options.logs),
      });
      if (options.writeKubeconfig && cluster.kubeconfigPath) {
        await writeFile(
          path.resolve(io.cwd, options.writeKubeconfig),
          await readFile(cluster.kubeconfigPath),
          {
            mode: 0o600,
          },
        );
      }
      await cluster.release({ keep: true });
      io.stdout(renderTable(['WHAT', 'VERSION'], environmentRows(cluster.environment)));
      io.stdout(
        `\ncluster '${options.name}' is up (context kind-${options.name}; \`kind get kubeconfig --name ${options.name}\` prints its kubeconfig)\n` +
          `next: bulkhead run -f scenarios/hard-isolation.yaml --name ${options.name} --reuse\n`,
      );
    });
}
