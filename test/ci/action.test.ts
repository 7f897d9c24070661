/**
 * action.yml, the composite GitHub Action: its inputs against the flags the CLI really has (read
 * from the commander program, never listed here), its shell steps run for real under bash with a
 * stub in place of bulkhead (what the CLI would be handed, parsed by the real CLI; what the steps
 * record), the exit code carried past the uploads to the last step, and its pins.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import type { Command } from 'commander';
import { parse } from 'yaml';

import { buildProgram } from '../../harness/cli/main.js';
import { repoRoot } from '../support/scenarios.js';

interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly shell?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly 'continue-on-error'?: unknown;
}

interface Action {
  readonly inputs: Readonly<Record<string, { description?: string; required?: boolean; default?: string }>>;
  readonly outputs: Readonly<Record<string, { description?: string; value: string }>>;
  readonly runs: { readonly using: string; readonly steps: readonly Step[] };
}

const ACTION_FILE = path.join(repoRoot, 'action.yml');

function program(): Command {
  return buildProgram({ stdout: () => undefined, stderr: () => undefined, cwd: repoRoot });
}

/** The long flags of `bulkhead <command>` (or of `bulkhead` itself), as commander defines them. */
function longFlags(command?: string): Set<string> {
  const p = program();
  const c = command === undefined ? p : p.commands.find((x) => x.name() === command);
  if (!c) throw new Error(`bulkhead has no command ${String(command)}`);
  return new Set(c.options.flatMap((o) => (o.long ? [o.long] : [])));
}

/** The bulkhead command a script runs: `args=(run ...)` or `bulkhead.js" lint ...`. */
function commandOf(script: string): string | undefined {
  const m = /args=\(([a-z-]+)/.exec(script) ?? /bulkhead\.js"? ([a-z][a-z-]*)/.exec(script);
  return m?.[1];
}

/** The `--flags` a script hands bulkhead: on the lines that build its arguments or call it. */
function flagsHanded(script: string): string[] {
  return script
    .split('\n')
    .filter((l) => /bulkhead\.js|args\+?=/.test(l))
    .flatMap((l) => [...l.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]));
}

/** `${{ inputs.x }}` and `${{ steps.id.outputs.y }}`, the only expressions the steps' env may hold. */
function evaluate(
  text: string,
  inputs: Readonly<Record<string, string>>,
  outputs: Readonly<Record<string, Readonly<Record<string, string>>>>,
): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
    const input = /^inputs\.([\w-]+)$/.exec(expr);
    if (input?.[1] !== undefined) {
      if (!(input[1] in inputs)) throw new Error(`env names an undeclared input: ${expr}`);
      return inputs[input[1]] ?? '';
    }
    const output = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr);
    if (output?.[1] !== undefined && output[2] !== undefined) return outputs[output[1]]?.[output[2]] ?? '';
    throw new Error(`an expression this test cannot evaluate: ${expr}`);
  });
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
}

/** Runs a step's script as GitHub runs `shell: bash` (`bash --noprofile --norc -eo pipefail`). */
async function runStep(
  dir: string,
  step: Step,
  inputs: Readonly<Record<string, string>>,
  outputs: Readonly<Record<string, Readonly<Record<string, string>>>>,
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<Ran> {
  const script = path.join(dir, `${step.id ?? 'step'}.sh`);
  const outputFile = path.join(dir, `${step.id ?? 'step'}.out`);
  await writeFile(script, step.run ?? '');
  await writeFile(outputFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GITHUB_OUTPUT: outputFile,
    GITHUB_ACTION_PATH: path.join(dir, 'action'),
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '3',
    RUNNER_TEMP: path.join(dir, 'runner-temp'),
    ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, evaluate(v, inputs, outputs)])),
    ...extraEnv,
  };
  const workspace = path.join(dir, 'workspace');
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['--noprofile', '--norc', '-eo', 'pipefail', script],
      { env, cwd: workspace },
      (error, stdout, stderr) => {
        void readFile(outputFile, 'utf8').then((text) => {
          const recorded = Object.fromEntries(
            text
              .split('\n')
              .filter(Boolean)
              .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
          );
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, outputs: recorded });
        });
      },
    );
  });
}

/** bulkhead's stand-in: records its arguments, prints $STUB_STDOUT, exits with $STUB_EXIT. */
const STUB = `import { appendFileSync } from 'node:fs';
appendFileSync(process.env.ARGV_FILE, JSON.stringify(process.argv.slice(2)) + '\\n');
process.stdout.write(process.env.STUB_STDOUT ?? '');
process.exit(Number(process.env.STUB_EXIT ?? 0));
`;

describe('action.yml: the composite GitHub Action', () => {
  let action: Action;
  let text: string;
  let steps: readonly Step[];
  let dir: string;
  const step = (id: string): Step => {
    const found = steps.find((s) => s.id === id);
    if (!found) throw new Error(`action.yml has no step with id ${id}`);
    return found;
  };
  /** Every input at its default, then the overrides. */
  const inputsWith = (overrides: Readonly<Record<string, string>> = {}): Record<string, string> => ({
    ...Object.fromEntries(Object.entries(action.inputs).map(([k, v]) => [k, v.default ?? ''])),
    ...overrides,
  });

  before(async () => {
    text = await readFile(ACTION_FILE, 'utf8');
    action = parse(text) as Action;
    steps = action.runs.steps;
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-action-'));
    await mkdir(path.join(dir, 'action', 'bin'), { recursive: true });
    await mkdir(path.join(dir, 'workspace'));
    await mkdir(path.join(dir, 'runner-temp'));
    await writeFile(path.join(dir, 'action', 'bin', 'bulkhead.js'), STUB);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is a composite action whose inputs are documented; the required ones have no default and are in the usage example', () => {
    expect(action.runs.using).to.equal('composite');
    const required = Object.entries(action.inputs).filter(([, i]) => i.required === true);
    expect(required.map(([n]) => n)).to.deep.equal(['scenario']);
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description?.trim(), `input ${name} has a description`).to.not.equal(undefined);
      expect(input.description?.trim().length ?? 0, `input ${name} has a description`).to.be.greaterThan(10);
      expect(typeof input.required, `input ${name} says whether it is required`).to.equal('boolean');
    }
    const header = text.split('\nname:')[0] ?? '';
    for (const [name, input] of required) {
      expect(input.default, `required input ${name}`).to.equal(undefined);
      expect(header, `the usage example gives ${name}`).to.match(new RegExp(`^#\\s+${name}: \\S`, 'm'));
    }
    for (const [name, output] of Object.entries(action.outputs))
      expect(output.description?.trim().length ?? 0, `output ${name} has a description`).to.be.greaterThan(
        10,
      );
    expect(Object.keys(action.outputs)).to.include.members(['exit-code', 'results', 'report']);
  });

  it('hands each bulkhead command only flags that command has', () => {
    const calls = steps.filter((s) => s.run?.includes('bulkhead.js'));
    expect(calls.map((s) => commandOf(s.run ?? ''))).to.have.members([undefined, 'lint', 'run', 'down']);
    for (const s of calls) {
      const command = commandOf(s.run ?? '');
      const known = longFlags(command);
      const handed = flagsHanded(s.run ?? '');
      for (const flag of handed)
        expect([...known], `${s.name ?? ''}: bulkhead ${command ?? ''} ${flag}`).to.include(flag);
    }
    expect(flagsHanded(step('lint').run ?? '')).to.include.members(['--file', '--output']);
  });

  it('maps every input named after a flag of bulkhead run to that flag, and uses every other input', () => {
    const runFlags = longFlags('run');
    const run = step('run');
    const lines = (run.run ?? '').split('\n');
    /** Inputs that are not a run flag of their own name, and where each goes. */
    const elsewhere: Record<string, (s: readonly Step[]) => boolean> = {
      scenario: () =>
        lines.some((l) => /--file "\$SCENARIO"/.test(l)) && run.env?.SCENARIO === '${{ inputs.scenario }}',
      lint: (s) => s.some((x) => x.id === 'lint' && x.if === "inputs.lint == 'true'"),
      'artifact-name': (s) => s.some((x) => x.env?.ARTIFACT_NAME === '${{ inputs.artifact-name }}'),
      'node-version': (s) => s.some((x) => x.with?.['node-version'] === '${{ inputs.node-version }}'),
      // Named by the prepare step, which also names the run folder from it.
      'run-id': (s) =>
        s.some((x) => x.id === 'prepare' && x.env?.GIVEN_RUN_ID === '${{ inputs.run-id }}') &&
        lines.some((l) => l.includes('--run-id "$RUN_ID"')),
    };
    for (const name of Object.keys(action.inputs)) {
      const viaElsewhere = elsewhere[name];
      if (viaElsewhere) {
        expect(viaElsewhere(steps), `input ${name} reaches where it should`).to.equal(true);
        continue;
      }
      expect([...runFlags], `input ${name} is a flag of bulkhead run`).to.include(`--${name}`);
      const variable = Object.entries(run.env ?? {}).find(([, v]) => v === `\${{ inputs.${name} }}`)?.[0];
      expect(variable, `the run step's env carries input ${name}`).to.not.equal(undefined);
      expect(
        lines.some((l) => l.includes(`--${name}`) && l.includes(`$${variable ?? ''}`)),
        `input ${name} reaches --${name}`,
      ).to.equal(true);
    }
    // No input is declared and never read.
    for (const name of Object.keys(action.inputs))
      expect(text, `input ${name} is read`).to.contain(`inputs.${name} `);
  });

  it('runs the CLI with arguments the real CLI parses to what the inputs say, records its exit code and ends the step with 0', async () => {
    const inputs = inputsWith({
      scenario: 'scenarios/hard-isolation.yaml',
      provider: 'existing',
      kubeconfig: '/tmp/kubeconfig',
      context: 'staging',
      'api-server': '10.0.0.5/32,10.0.0.6/32:6443',
      environment: 'production',
      bundle: 'true',
      suite: 'a.spec.ts\nb.spec.ts c.spec.ts',
      'keep-on-failure': 'true',
      trigger: 'nightly gate',
      tester: 'A. Auditor',
      organisation: 'Example Assurance',
      independence: 'not part of the platform team',
      dataplane: 'ambient',
      'cluster-policy': 'cnp',
      'sign-key': '/tmp/sign.pem',
      anchor: '/tmp/anchor.sha256',
    });
    const prepare = await runStep(dir, step('prepare'), inputs, {});
    expect(prepare.code, prepare.stderr).to.equal(0);
    expect(prepare.outputs).to.deep.equal({
      'run-id': 'gh-4242-3',
      'run-dir': path.join(dir, 'workspace', 'reports', 'gh-4242-3'),
      results: path.join(dir, 'workspace', 'reports', 'gh-4242-3', 'results.json'),
      report: path.join(dir, 'workspace', 'reports', 'gh-4242-3', 'report.html'),
      junit: path.join(dir, 'workspace', 'reports', 'gh-4242-3', 'junit.xml'),
      artifact: 'bulkhead-gh-4242-3',
    });
    for (const exit of [0, 1, 2]) {
      const argvFile = path.join(dir, `argv-${exit}`);
      const ran = await runStep(
        dir,
        step('run'),
        inputs,
        { prepare: prepare.outputs },
        { ARGV_FILE: argvFile, STUB_EXIT: String(exit) },
      );
      expect(ran.code, `exit ${exit}: ${ran.stderr}`).to.equal(0);
      expect(ran.outputs).to.deep.equal({ 'exit-code': String(exit) });
      const argv = JSON.parse((await readFile(argvFile, 'utf8')).trim()) as string[];
      // The real CLI parses them (unknown flags and bad choices would throw), its action replaced.
      const p = program();
      let parsed: Record<string, unknown> | undefined;
      p.commands
        .find((c) => c.name() === 'run')
        ?.action((options: Record<string, unknown>) => {
          parsed = options;
        });
      await p.parseAsync(['node', 'bulkhead', ...argv]);
      expect(parsed).to.deep.include({
        file: 'scenarios/hard-isolation.yaml',
        provider: 'existing',
        kubeconfig: '/tmp/kubeconfig',
        context: 'staging',
        apiServer: { cidrs: ['10.0.0.5/32', '10.0.0.6/32'], port: 6443 },
        environment: 'production',
        reports: 'reports',
        runId: 'gh-4242-3',
        bundle: true,
        suite: ['a.spec.ts', 'b.spec.ts', 'c.spec.ts'],
        keepOnFailure: true,
        trigger: 'nightly gate',
        tester: 'A. Auditor',
        organisation: 'Example Assurance',
        independence: 'not part of the platform team',
        dataplane: 'ambient',
        clusterPolicy: 'cnp',
        signKey: '/tmp/sign.pem',
        anchor: '/tmp/anchor.sha256',
      });
    }
  });

  it('leaves what the inputs leave empty to the CLI: its defaults, not empty flags', async () => {
    const inputs = inputsWith({ scenario: 's.yaml', 'run-id': 'mine' });
    const prepare = await runStep(dir, step('prepare'), inputs, {});
    const argvFile = path.join(dir, 'argv');
    const ran = await runStep(
      dir,
      step('run'),
      inputs,
      { prepare: prepare.outputs },
      { ARGV_FILE: argvFile },
    );
    expect(ran.code, ran.stderr).to.equal(0);
    expect(JSON.parse((await readFile(argvFile, 'utf8')).trim())).to.deep.equal([
      'run',
      '--file',
      's.yaml',
      '--provider',
      'kind',
      '--reports',
      'reports',
      '--run-id',
      'mine',
    ]);
    expect(prepare.outputs['artifact']).to.equal('bulkhead-mine');
  });

  it('lints into lint.sarif in the run folder; findings (exit 1) do not fail the step or the job, unreadable input (2) fails the job', async () => {
    const inputs = inputsWith({ scenario: 's.yaml', lint: 'true' });
    const prepare = await runStep(dir, step('prepare'), inputs, {});
    const argvFile = path.join(dir, 'argv');
    const lint = await runStep(
      dir,
      step('lint'),
      inputs,
      { prepare: prepare.outputs },
      { ARGV_FILE: argvFile, STUB_EXIT: '1', STUB_STDOUT: '{"version":"2.1.0"}' },
    );
    expect(lint.code, lint.stderr).to.equal(0);
    const sarif = path.join(prepare.outputs['run-dir'] ?? '', 'lint.sarif');
    expect(lint.outputs).to.deep.equal({ sarif, 'exit-code': '1' });
    expect(await readFile(sarif, 'utf8')).to.equal('{"version":"2.1.0"}');
    expect(JSON.parse((await readFile(argvFile, 'utf8')).trim())).to.deep.equal([
      'lint',
      '--file',
      's.yaml',
      '--output',
      'sarif',
    ]);
    const last = steps.at(-1) as Step;
    const fail = (run: string, lintExit: string) =>
      runStep(dir, last, inputs, { run: { 'exit-code': run }, lint: { 'exit-code': lintExit } });
    expect((await fail('0', '1')).code).to.equal(0);
    expect((await fail('0', '2')).code).to.equal(2);
  });

  it("carries the run's exit code past the uploads to the last step, which fails the job with it", async () => {
    expect(action.outputs['exit-code']?.value).to.equal('${{ steps.run.outputs.exit-code }}');
    const runAt = steps.findIndex((s) => s.id === 'run');
    const after = steps.slice(runAt + 1);
    // Nothing after the run may be skipped because an earlier step failed.
    for (const s of after) expect(s.if ?? '', `${s.name ?? ''} runs always()`).to.match(/^always\(\)/);
    const last = steps.at(-1) as Step;
    expect(last.env?.RUN_EXIT).to.equal('${{ steps.run.outputs.exit-code }}');
    const uploads = after.filter((s) => /upload-artifact|upload-sarif/.test(s.uses ?? ''));
    expect(uploads).to.have.length(2);
    for (const s of steps) expect(s['continue-on-error'], s.name).to.equal(undefined);
    // Where bulkhead's exit code is not the step's, it is recorded, never swallowed.
    for (const id of ['lint', 'run']) {
      const calls = (step(id).run ?? '').split('\n').filter((l) => l.includes('bulkhead.js'));
      expect(calls, id).to.have.length(1);
      expect(calls[0], id).to.match(/ \|\| code=\$\?( |$)/);
    }
    const inputs = inputsWith({ scenario: 's.yaml' });
    const cases: [string, number][] = [
      ['0', 0],
      ['1', 1],
      ['2', 2],
      ['', 2], // the run step never ran: an earlier step failed
    ];
    for (const [code, want] of cases) {
      const r = await runStep(dir, last, inputs, {
        run: { 'exit-code': code },
        prepare: { report: 'r.html' },
      });
      expect(r.code, `run exit '${code}'`).to.equal(want);
      if (want !== 0) expect(r.stdout).to.match(/^::error title=bulkhead run::/m);
    }
  });

  it('uploads the run folder and the SARIF if: always(); says the permission code scanning needs', () => {
    const artifact = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(artifact?.if).to.equal('always()');
    expect(artifact?.with?.path).to.equal('${{ steps.prepare.outputs.run-dir }}/');
    expect(artifact?.with?.name).to.equal('${{ steps.prepare.outputs.artifact }}');
    const sarif = steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
    expect(sarif?.if).to.match(/^always\(\) && /);
    expect(sarif?.with?.sarif_file).to.equal('${{ steps.lint.outputs.sarif }}');
    expect(text).to.match(/^#\s+security-events: write/m);
    expect(action.inputs.lint?.description).to.contain('security-events: write');
  });

  it('pins every action it uses by full commit SHA, with the version in a comment', () => {
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect(uses).to.have.length.greaterThan(2);
    for (const ref of uses) {
      expect(ref, ref).to.match(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      const line = text.split('\n').find((l) => l.includes(`uses: ${ref}`));
      expect(line, ref).to.match(/ # v\d+(\.\d+)*$/);
    }
  });

  it('runs every script as bash, with inputs only through env, and each passes bash -n', async () => {
    const scripts = steps.filter((s) => s.run !== undefined);
    expect(scripts.length).to.be.greaterThan(4);
    for (const s of scripts) {
      expect(s.shell, s.name).to.equal('bash');
      expect(s.run, `${s.name ?? ''}: no expression inside a script`).to.not.contain('${{');
      const file = path.join(dir, 'check.sh');
      await writeFile(file, s.run ?? '');
      const problem = await new Promise<string>((resolve) => {
        execFile('bash', ['-n', file], (error, _stdout, stderr) => {
          resolve(error ? stderr || error.message : '');
        });
      });
      expect(problem, s.name).to.equal('');
    }
  });
});
