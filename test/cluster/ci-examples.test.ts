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

describe('scripts/ci-examples: the workflows users copy', () => {
  it('GitHub: nightly schedule and manual trigger, a run with real flags, the run folder uploaded, the cluster always deleted', async () => {
    const wf = parse(await readFile(path.join(EXAMPLES, 'github-nightly.yml'), 'utf8')) as {
      on: { schedule: { cron: string }[]; workflow_dispatch: unknown };
      env: Record<string, string>;
      jobs: {
        isolation: { steps: { run?: string; uses?: string; if?: string; with?: Record<string, unknown> }[] };
      };
    };
    expect(wf.on.schedule[0]?.cron).to.match(/^\d+ \d+ \* \* \*$/);
    expect(wf.on.workflow_dispatch).to.not.equal(undefined);
    const steps = wf.jobs.isolation.steps;
    const commands = bulkheadCommands(steps.flatMap((s) => (s.run ? [s.run] : [])));
    expect(commands.map((c) => c[0])).to.deep.equal(['run', 'down']);
    const runFlags = await flagsOf('run');
    for (const flag of (commands[0] ?? []).filter((w) => w.startsWith('--')))
      expect(runFlags, flag).to.include(flag);
    // The job's own exit is bulkhead's: no `|| true`, no continue-on-error.
    expect(steps.some((s) => (s.run ?? '').includes('|| true'))).to.equal(false);
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.if).to.equal('always()');
    expect(upload?.with?.path).to.equal('reports/${{ env.RUN_ID }}/');
    expect(commands[0]).to.include.members(['--run-id', '"$RUN_ID"', '--reports', 'reports']);
    expect(steps.at(-1)).to.deep.include({ if: 'always()', run: 'npx bulkhead down' });
  });

  it('GitLab: scheduled or manual, the same run, junit.xml as the test report, the cluster deleted after', async () => {
    const ci = parse(await readFile(path.join(EXAMPLES, 'gitlab-ci.yml'), 'utf8')) as Record<
      string,
      {
        rules: { if: string }[];
        script: string[];
        after_script: string[];
        artifacts: { when: string; paths: string[]; reports: { junit: string } };
      }
    >;
    const job = ci['bulkhead-isolation'];
    expect(job?.rules.map((r) => r.if)).to.deep.equal([
      '$CI_PIPELINE_SOURCE == "schedule"',
      '$CI_PIPELINE_SOURCE == "web"',
    ]);
    const [run] = bulkheadCommands(job?.script ?? []);
    const runFlags = await flagsOf('run');
    for (const flag of (run ?? []).filter((w) => w.startsWith('--'))) expect(runFlags, flag).to.include(flag);
    expect(run).to.include.members(['--run-id', '"$RUN_ID"', '--reports', 'reports']);
    expect(job?.after_script).to.deep.equal(['npx bulkhead down']);
    expect(job?.artifacts).to.deep.include({ when: 'always', paths: ['reports/$RUN_ID/'] });
    expect(job?.artifacts.reports.junit).to.equal('reports/$RUN_ID/junit.xml');
  });
});
