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
  it("GitHub: nightly schedule and manual trigger, the run through bulkhead's action with inputs it has, nothing that hides its exit", async () => {
    const wf = parse(await readFile(path.join(EXAMPLES, 'github-nightly.yml'), 'utf8')) as {
      on: { schedule: { cron: string }[]; workflow_dispatch: unknown };
      env: Record<string, string>;
      jobs: {
        isolation: {
          permissions: Record<string, string>;
          steps: {
            run?: string;
            uses?: string;
            if?: string;
            'continue-on-error'?: unknown;
            with?: Record<string, unknown>;
          }[];
        };
      };
    };
    const action = parse(await readFile(path.join(repoRoot, 'action.yml'), 'utf8')) as {
      inputs: Record<string, { required?: boolean }>;
    };
    expect(wf.on.schedule[0]?.cron).to.match(/^\d+ \d+ \* \* \*$/);
    expect(wf.on.workflow_dispatch).to.not.equal(undefined);
    const steps = wf.jobs.isolation.steps;
    // The action, by the placeholder the header comment explains, `./` (a bulkhead checkout), or a
    // repository pinned to a full commit SHA; never a movable tag or branch.
    const bulkhead = steps.filter((s) => /(^\.\/$)|(\/bulkhead@)/.test(s.uses ?? ''));
    expect(bulkhead, 'one step uses the bulkhead action').to.have.length(1);
    const [step] = bulkhead;
    expect(step?.uses).to.match(/^(\.\/|(<owner>|[\w.-]+)\/bulkhead@(<commit-sha>|[0-9a-f]{40}))$/);
    const header = (await readFile(path.join(EXAMPLES, 'github-nightly.yml'), 'utf8')).split('\nname:')[0];
    expect(header).to.contain('replace `<owner>/bulkhead@<commit-sha>`');
    // Every input it gives is one the action declares, and every required one is given.
    const given = Object.keys(step?.with ?? {});
    expect(Object.keys(action.inputs)).to.include.members(given);
    for (const [name, input] of Object.entries(action.inputs))
      if (input.required) expect(given, `required input ${name}`).to.include(name);
    expect(step?.with).to.deep.include({ 'run-id': '${{ env.RUN_ID }}', reports: 'reports', lint: 'true' });
    // The lint SARIF needs code scanning's write permission.
    expect(wf.jobs.isolation.permissions).to.deep.include({ 'security-events': 'write', contents: 'read' });
    // The job's own exit is bulkhead's: no `|| true`, no continue-on-error.
    expect(steps.some((s) => (s.run ?? '').includes('|| true'))).to.equal(false);
    expect(steps.some((s) => s['continue-on-error'] !== undefined)).to.equal(false);
    // The other actions are pinned by full commit SHA, as the action's own are.
    for (const s of steps.filter((s) => s !== step && s.uses))
      expect(s.uses, s.uses).to.match(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
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
