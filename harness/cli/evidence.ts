/**
 * What `run` and `report` add to make their evidence stand outside the run folder: the bundle's
 * SHA-256 printed, written to a file outside the folder and to the CI job summary (GitHub's
 * `$GITHUB_STEP_SUMMARY`, a Markdown file the job page shows: GitHub Actions docs, "Adding a job
 * summary"), a detached signature with the user's key (harness/report/signature.ts), and who
 * tested, as the operator says it. A bundle's own SHA256SUMS proves nothing against someone who
 * can rewrite the bundle; a hash kept elsewhere, or a signature, does.
 */
import type { KeyObject } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Option, type Command } from 'commander';

import { UserError } from '../errors.js';
import type { WrittenBundle } from '../report/bundle.js';
import type { EnvironmentKind } from '../results/results-model.js';
import { messageOf } from '../values.js';
import type { CliIo } from './io.js';

export interface EvidenceOptions {
  readonly bundle: boolean;
  readonly signKey?: string;
  readonly anchor?: string;
}

export interface TesterOptions {
  readonly tester?: string;
  readonly organisation?: string;
  readonly independence?: string;
}

/** `--sign-key` and `--anchor` (run, report). */
export function addEvidenceOptions(command: Command): Command {
  return command
    .option(
      '--sign-key <key.pem>',
      'sign the bundle with this unencrypted PEM RSA or EC private key (writes <bundle>.sig; needs --bundle)',
    )
    .option(
      '--anchor <file>',
      "write the bundle's SHA-256 to this file (default: <bundle>.sha256 next to the run folder, outside it)",
    );
}

/** `--tester`, `--organisation`, `--independence` (run): recorded as given, never verified. */
export function addTesterOptions(command: Command): Command {
  return command
    .option('--tester <name>', 'who performed the test, for the report (recorded as given)')
    .option('--organisation <name>', "the tester's organisation, for the report (recorded as given)")
    .option(
      '--independence <text>',
      'how the tester is independent of the cluster’s operators, for the report (recorded as given)',
    );
}

/** `--environment` (run): what the cluster is, which bulkhead cannot read from it. */
export function environmentOption(): Option {
  return new Option(
    '--environment <kind>',
    'what the cluster is, for the auditor (default: replica for kind/k3s; existing: declare it)',
  ).choices(['production', 'staging', 'replica'] satisfies EnvironmentKind[]);
}

/** The tester fields given, or nothing. */
export function testerOf(
  options: TesterOptions,
): { name?: string; organisation?: string; independence?: string } | undefined {
  const tester = {
    ...(options.tester ? { name: options.tester } : {}),
    ...(options.organisation ? { organisation: options.organisation } : {}),
    ...(options.independence ? { independence: options.independence } : {}),
  };
  return Object.keys(tester).length > 0 ? tester : undefined;
}

/**
 * The warning for an existing cluster whose kind was not declared: bulkhead cannot tell a
 * production cluster from a staging one, and the report must not guess.
 */
export function environmentWarning(provider: string, environment: string | undefined): string | undefined {
  if (provider !== 'existing' || environment !== undefined) return undefined;
  return 'warning: --provider existing without --environment: the report will say "environment not declared"; declare what the cluster is with --environment production|staging|replica\n';
}

/** Refuses `--sign-key` or `--anchor` without `--bundle`, and reads the key, before anything runs. */
export async function evidenceSettings(
  options: EvidenceOptions,
  cwd: string,
): Promise<{ signKey?: KeyObject }> {
  for (const [flag, value] of [
    ['--sign-key', options.signKey],
    ['--anchor', options.anchor],
  ] as const)
    if (value !== undefined && !options.bundle)
      throw new UserError(`${flag} concerns the evidence bundle: add --bundle`);
  if (options.signKey === undefined) return {};
  const { readSigningKey } = await import('../report/signature.js');
  return { signKey: await readSigningKey(path.resolve(cwd, options.signKey)) };
}

export interface AnchorProps {
  readonly bundle: WrittenBundle;
  readonly runId: string;
  /** The run folder the bundle was written in. */
  readonly runDirectory: string;
  readonly anchor?: string;
  readonly signKey?: KeyObject;
  readonly io: CliIo;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Where the bundle's SHA-256 goes by default: next to the run folder, outside it. */
export function defaultAnchor(bundle: string, runDirectory: string): string {
  return path.join(path.dirname(runDirectory), `${path.basename(bundle)}.sha256`);
}

/**
 * Prints the bundle's SHA-256, writes it (in `sha256sum -c` form) outside the run folder and to
 * the job summary when `$GITHUB_STEP_SUMMARY` is set, and signs the bundle when given a key.
 */
export async function anchorBundle(props: AnchorProps): Promise<void> {
  const { bundle, io } = props;
  const env = props.env ?? process.env;
  const shown = (f: string) => path.relative(io.cwd, f) || f;
  const anchor = path.resolve(io.cwd, props.anchor ?? defaultAnchor(bundle.file, props.runDirectory));
  await writeFile(anchor, `${bundle.sha256}  ${path.relative(path.dirname(anchor), bundle.file)}\n`);
  io.stdout(`bundle SHA-256 ${bundle.sha256}  ${shown(bundle.file)}\n`);
  io.stdout(
    `  recorded outside the run folder in ${shown(anchor)}; keep it where the bundle's holder cannot change it\n`,
  );
  let signature: string | undefined;
  if (props.signKey) {
    const { signFile } = await import('../report/signature.js');
    signature = await signFile(bundle.file, props.signKey);
    io.stdout(
      `  signed: ${shown(signature)} (openssl dgst -sha256 -verify pub.pem -signature ${shown(signature)} ${shown(bundle.file)})\n`,
    );
  }
  const summary = env.GITHUB_STEP_SUMMARY;
  if (summary) {
    const lines = [
      `### bulkhead evidence bundle, run ${props.runId}`,
      '',
      `- bundle: \`${path.basename(bundle.file)}\``,
      `- SHA-256: \`${bundle.sha256}\``,
      ...(signature ? [`- signature: \`${path.basename(signature)}\` (detached, SHA-256)`] : []),
      '',
    ];
    try {
      await appendFile(summary, lines.join('\n') + '\n');
      io.stdout('  SHA-256 added to the job summary ($GITHUB_STEP_SUMMARY)\n');
    } catch (error) {
      io.stderr(`warning: cannot append to $GITHUB_STEP_SUMMARY (${summary}): ${messageOf(error)}\n`);
    }
  }
}
