import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';
import { parse } from 'yaml';

import { runCli } from '../support/cli.js';
import { repoRoot } from '../support/scenarios.js';

const EXAMPLES = path.join(repoRoot, 'scripts', 'ci-examples');

/** The flags of `bulkhead <command>` as its help lists them. */
async function flagsOf(command: string): Promise<Set<string>> {
  const help = await runCli([command, '--help']);
  return new Set([...help.stdout.matchAll(/--[a-z][a-z-]+/g)].map((m) => m[0]));
}

function bulkheadCommands(script: readonly string[]): string[][] {
  return script
    .filter((line) => line.includes('npx bulkhead'))
    .map((line) => (line.split('npx bulkhead ')[1] ?? '').trim().split(/\s+/));
}

interface GitHubStep {
  run?: string;
  uses?: string;
  id?: string;
  if?: string;
  'continue-on-error'?: unknown;
  with?: Record<string, unknown>;
}

interface GitHubJob {
  needs?: string | string[];
  if?: string;
  outputs?: Record<string, string>;
  permissions: Record<string, string>;
  strategy?: { 'fail-fast'?: boolean; matrix: unknown };
  steps: GitHubStep[];
}

/** The bulkhead command lines of a `run:` script (`node .bulkhead/bin/bulkhead.js ...`). */
function bulkheadRuns(steps: readonly GitHubStep[]): string[][] {
  return steps
    .flatMap((s) => (s.run ?? '').split('\n'))
    .filter((line) => line.includes('bin/bulkhead.js '))
    .map((line) => (line.split('bin/bulkhead.js ')[1] ?? '').replace(/\)$/, '').trim().split(/\s+/));
}

/** Every step's action is pinned by full commit SHA (or is bulkhead's placeholder / `./`). */
function expectPinned(steps: readonly GitHubStep[]): void {
  for (const s of steps.filter((s) => s.uses && !/(^\.\/$)|(\/bulkhead@)/.test(s.uses)))
    expect(s.uses, s.uses).to.match(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
}

describe('scripts/ci-examples: the workflows users copy', () => {
  it("GitHub: nightly and manual; a job prints the matrix, one job per cell through bulkhead's action, a last job merges", async () => {
    const text = await readFile(path.join(EXAMPLES, 'github-nightly.yml'), 'utf8');
    const wf = parse(text) as {
      on: { schedule: { cron: string }[]; workflow_dispatch: unknown };
      env: Record<string, string>;
      jobs: Record<'matrix' | 'isolation' | 'matrix-report', GitHubJob>;
    };
    const action = parse(await readFile(path.join(repoRoot, 'action.yml'), 'utf8')) as {
      inputs: Record<string, { required?: boolean }>;
    };
    expect(wf.on.schedule[0]?.cron).to.match(/^\d+ \d+ \* \* \*$/);
    expect(wf.on.workflow_dispatch).to.not.equal(undefined);
    const header = text.split('\nname:')[0];
    expect(header).to.contain('replace `<owner>/bulkhead@<commit-sha>`');

    // The matrix job prints the cells with flags `run` has, into the job's output, exit kept.
    const printer = wf.jobs.matrix;
    expect(printer.outputs?.matrix).to.equal('${{ steps.print.outputs.matrix }}');
    const [print] = bulkheadRuns(printer.steps);
    const runFlags = await flagsOf('run');
    for (const flag of (print ?? []).filter((w) => w.startsWith('--')))
      expect(runFlags, flag).to.include(flag);
    expect(print).to.include.members(['--istio-matrix', '"$ISTIO_MATRIX"', '--matrix-format', 'github']);
    const printStep = printer.steps.find((s) => s.id === 'print');
    // An assignment keeps the command's exit under bash -e; `echo "...$(cmd)"` would hide it.
    expect(printStep?.run).to.match(/^matrix=\$\(node /);
    // The printed matrix, as this workflow's env gives it, is what the cell jobs read.
    const printed = await runCli([
      'run',
      '-f',
      'scenarios/hard-isolation.yaml',
      '--istio-matrix',
      '1.29.6,1.30.3',
      '--kubernetes',
      '1.34.0',
    ]);
    expect(printed.code, printed.stderr).to.equal(0);
    const cells = (JSON.parse(printed.stdout) as { include: Record<string, string>[] }).include;
    expect(wf.env.ISTIO_MATRIX).to.contain("'1.29.6,1.30.3'");

    // One job per cell, none cancelled by another's failure, through the action.
    const cell = wf.jobs.isolation;
    expect(cell.needs).to.equal('matrix');
    expect(cell.strategy).to.deep.equal({
      'fail-fast': false,
      matrix: '${{ fromJSON(needs.matrix.outputs.matrix) }}',
    });
    const bulkhead = cell.steps.filter((s) => /(^\.\/$)|(\/bulkhead@)/.test(s.uses ?? ''));
    expect(bulkhead, 'one step uses the bulkhead action').to.have.length(1);
    const [step] = bulkhead;
    expect(step?.uses).to.match(/^(\.\/|(<owner>|[\w.-]+)\/bulkhead@(<commit-sha>|[0-9a-f]{40}))$/);
    const given = Object.keys(step?.with ?? {});
    expect(Object.keys(action.inputs)).to.include.members(given);
    for (const [name, input] of Object.entries(action.inputs))
      if (input.required) expect(given, `required input ${name}`).to.include(name);
    expect(step?.with).to.deep.include({
      'run-id': '${{ matrix.cell }}',
      'artifact-name': '${{ matrix.cell }}',
      reports: 'reports',
      lint: '${{ strategy.job-index == 0 }}',
    });
    // Every matrix key the job reads is one the printer writes.
    const keys = [...JSON.stringify(cell).matchAll(/(?<![.\w])matrix\.([a-z]+)/g)].map((m) => m[1]);
    expect(keys).to.include.members(['cell', 'istio', 'kubernetes', 'calico']);
    for (const key of keys) expect(Object.keys(cells[0] ?? {}), `matrix.${key ?? ''}`).to.include(key);
    expect(cell.permissions).to.deep.include({ 'security-events': 'write', contents: 'read' });

    // The merge runs after every cell, failed or not, over every downloaded artifact.
    const merge = wf.jobs['matrix-report'];
    expect(merge.needs).to.deep.equal(['matrix', 'isolation']);
    expect(merge.if).to.equal("always() && needs.matrix.result == 'success'");
    const download = merge.steps.find((s) => (s.uses ?? '').startsWith('actions/download-artifact@'));
    expect(download?.with).to.deep.equal({ path: 'cells' });
    const [report] = bulkheadRuns(merge.steps);
    expect(report?.slice(0, 2)).to.deep.equal(['matrix-report', 'cells/*/']);
    expect(report).to.include.members(['--expect', '"$ISTIO_MATRIX"', '--out', 'merged']);

    for (const job of Object.values(wf.jobs)) {
      // A job's exit is bulkhead's: no `|| true`, no continue-on-error.
      expect(job.steps.some((s) => (s.run ?? '').includes('|| true'))).to.equal(false);
      expect(job.steps.some((s) => s['continue-on-error'] !== undefined)).to.equal(false);
      expectPinned(job.steps);
    }
  });

  it('GitLab: scheduled or manual; the matrix printed into a child pipeline of one job per cell and a merge', async () => {
    type GitLabJob = {
      stage?: string;
      rules?: { if: string }[];
      extends?: string;
      when?: string;
      needs?: { job: string; artifacts: boolean }[];
      script: string[];
      after_script?: string[];
      artifacts: { when?: string; paths: string[]; reports?: { junit: string } };
      trigger?: { include: { artifact: string; job: string }[]; strategy: string };
    };
    const ci = parse(await readFile(path.join(EXAMPLES, 'gitlab-ci.yml'), 'utf8')) as Record<
      string,
      GitLabJob
    > & {
      variables: Record<string, string>;
    };
    const child = parse(await readFile(path.join(EXAMPLES, 'gitlab-cell.yml'), 'utf8')) as Record<
      string,
      GitLabJob
    >;
    const schedule = ['$CI_PIPELINE_SOURCE == "schedule"', '$CI_PIPELINE_SOURCE == "web"'];
    const printer = ci['bulkhead-matrix'];
    expect(printer?.rules?.map((r) => r.if)).to.deep.equal(schedule);
    const [print] = bulkheadCommands(printer?.script ?? []);
    const runFlags = await flagsOf('run');
    for (const flag of (print ?? []).filter((w) => w.startsWith('--')))
      expect(runFlags, flag).to.include(flag);
    expect(print).to.include.members(['--istio-matrix', '"$ISTIO_MATRIX"', '--matrix-format', 'gitlab']);
    // No pipe after bulkhead: its exit is the line's.
    expect(printer?.script.find((l) => l.includes('npx bulkhead'))).to.match(/> matrix\.yml$/);
    expect(printer?.artifacts.paths).to.deep.equal(['cells.yml']);
    expect(ci['bulkhead-cells']?.trigger).to.deep.equal({
      include: [{ artifact: 'cells.yml', job: 'bulkhead-matrix' }],
      strategy: 'depend',
    });

    // The child pipeline as bulkhead-matrix writes it: the printed parallel:matrix under the template.
    const printed = await runCli([
      'run',
      '-f',
      'scenarios/hard-isolation.yaml',
      '--istio-matrix',
      ci.variables.ISTIO_MATRIX ?? '',
      '--kubernetes',
      ci.variables.KUBERNETES ?? '',
      '--calico',
      ci.variables.CALICO ?? '',
      '--matrix-format',
      'gitlab',
    ]);
    expect(printed.code, printed.stderr).to.equal(0);
    const generated = parse(
      `bulkhead-cell:\n  extends: .bulkhead-cell\n${printed.stdout.replace(/^/gm, '  ')}`,
    ) as { 'bulkhead-cell': { extends: string; parallel: { matrix: Record<string, string>[] } } };
    const cells = generated['bulkhead-cell'].parallel.matrix;
    expect(cells.map((c) => c.BULKHEAD_CELL)).to.deep.equal(['istio-1.29.6', 'istio-1.30.3']);
    expect(printer?.script.join('\n')).to.contain('extends: .bulkhead-cell');

    const template = child['.bulkhead-cell'];
    const [run] = bulkheadCommands(template?.script ?? []);
    for (const flag of (run ?? []).filter((w) => w.startsWith('--'))) expect(runFlags, flag).to.include(flag);
    expect(run).to.include.members(['--run-id', '"$BULKHEAD_CELL"', '--reports', 'reports']);
    // Every variable the template reads is one the printer writes.
    for (const v of [...JSON.stringify(template).matchAll(/\$(BULKHEAD_[A-Z]+)/g)].map((m) => m[1] ?? ''))
      expect(Object.keys(cells[0] ?? {}), v).to.include(v);
    expect(template?.after_script).to.deep.equal(['npx bulkhead down']);
    expect(template?.artifacts).to.deep.include({ when: 'always', paths: ['reports/$BULKHEAD_CELL/'] });
    expect(template?.artifacts.reports?.junit).to.equal('reports/$BULKHEAD_CELL/junit.xml');

    const merge = child['bulkhead-matrix-report'];
    expect(merge?.when).to.equal('always');
    expect(merge?.needs).to.deep.equal([{ job: 'bulkhead-cell', artifacts: true }]);
    const [report] = bulkheadCommands(merge?.script ?? []);
    expect(report?.slice(0, 2)).to.deep.equal(['matrix-report', 'reports/*/']);
    expect(report).to.include.members(['--expect', '"$ISTIO_MATRIX"', '--out', 'merged']);
    expect(merge?.artifacts.reports?.junit).to.equal('merged/matrix-report.xml');
  });
});
