/**
 * The probe stream of a transition on a virtual clock with a scripted prober: which outcome each
 * attempt gets is a function of when its batch was sent, so leaks, gaps and their times are
 * exact. The CLI test (upgrade-check.test.ts) runs the same stream on the fake API server.
 */
import { expect } from 'chai';

import type { ResultsDocument } from '../../harness/results/results-model.js';
import type { TransitionPart } from '../../harness/results/transition-schema.js';
import type { Outcome } from '../../harness/scenario/outcomes.js';
import type { Scenario } from '../../harness/scenario/types.js';
import type { RoundObservation, SourceBatch } from '../../harness/run/execute.js';
import { analyseStream } from '../../harness/upgrade/stream-analysis.js';
import { MAX_STREAM_BATCH, ProbeStream, type StreamProber } from '../../harness/upgrade/stream.js';
import { streamAttempts } from '../../harness/upgrade/transition.js';
import { HEAD, load } from '../support/scenarios.js';
import { VirtualClock } from '../support/virtual-clock.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: acme-dns, kind: dns, from: tenant-acme/client, query: { name: api.tenant-acme.svc.cluster.local }, expect: resolved }
`;

/** What the phase before judged, as far as the stream reads it. */
function judged(
  entries: readonly { id: string; verdict: string; mustDeny: boolean; expectedOutcomes: Outcome[] }[],
): ResultsDocument {
  return { attempts: entries } as unknown as ResultsDocument;
}

const PASSED = judged([
  {
    id: 'globex-to-acme',
    verdict: 'pass',
    mustDeny: true,
    expectedOutcomes: ['denied-l7', 'denied-l4', 'reset', 'refused'],
  },
  { id: 'acme-to-acme', verdict: 'pass', mustDeny: false, expectedOutcomes: ['allowed'] },
  { id: 'acme-dns', verdict: 'pass', mustDeny: false, expectedOutcomes: ['resolved'] },
]);

interface Script {
  /** The outcome of an attempt whose batch was sent at `at` (ms since the stream's start, negative before it). */
  readonly outcome: (id: string, at: number, pod: string) => Outcome;
  /** How long a batch takes. @default 0 */
  readonly latencyMs?: number;
}

interface Harness {
  readonly clock: VirtualClock;
  readonly batches: { source: string; pod: string; at: number; ids: string[] }[];
  readonly inFlight: Map<string, number>;
  maxInFlight: number;
  closed: boolean;
}

function prober(h: Harness, script: Script, started: () => number | undefined): StreamProber {
  return {
    async batch(batch: SourceBatch, observe: (o: RoundObservation) => void) {
      const at = h.clock.now();
      const t0 = started();
      const offset = t0 === undefined ? -1 : at - t0;
      h.batches.push({
        source: batch.source,
        pod: batch.pod,
        at: offset,
        ids: batch.attempts.map((a) => a.id),
      });
      const n = (h.inFlight.get(batch.source) ?? 0) + 1;
      h.inFlight.set(batch.source, n);
      h.maxInFlight = Math.max(h.maxInFlight, n);
      if (script.latencyMs) await h.clock.sleep(script.latencyMs);
      for (const a of batch.attempts)
        observe({
          attempt: a.id,
          outcome: script.outcome(a.id, offset, batch.pod),
          reason: '',
          evidence: {},
        });
      h.inFlight.set(batch.source, (h.inFlight.get(batch.source) ?? 1) - 1);
    },
    close() {
      h.closed = true;
      return Promise.resolve();
    },
  };
}

async function stream(
  scenario: Scenario,
  script: Script,
  options: {
    transitionMs?: number;
    ratePerSecond?: number;
    disruptionThresholdMs?: number;
    pods?: (at: number) => Map<string, string>;
  } = {},
): Promise<{ part: TransitionPart; h: Harness }> {
  const h: Harness = {
    clock: new VirtualClock(),
    batches: [],
    inFlight: new Map(),
    maxInFlight: 0,
    closed: false,
  };
  const mark: { t0?: number } = {};
  const pods =
    options.pods ??
    (() =>
      new Map([
        ['tenant-acme/client', 'client-a'],
        ['tenant-globex/client', 'client-g'],
      ]));
  const s = await ProbeStream.start({
    attempts: streamAttempts(scenario, PASSED),
    pods: () => Promise.resolve(pods(mark.t0 === undefined ? -1 : h.clock.now() - mark.t0)),
    prober: prober(h, script, () => mark.t0),
    clock: h.clock,
    ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
    ...(options.disruptionThresholdMs === undefined
      ? {}
      : { disruptionThresholdMs: options.disruptionThresholdMs }),
    refreshMs: 0,
  });
  mark.t0 = s.startedAt;
  // The transition: it takes its time on the same clock.
  await h.clock.sleep(options.transitionMs ?? 6000);
  const part = await s.stop({
    name: 'control-plane',
    title: 'istiod 1.29.3 → 1.30.4 (in-place)',
    completed: true,
    barrier: { status: 'passed', reasoning: 'test', ms: 0 },
  });
  return { part, h };
}

const iso = (ms: number) => new Date(ms).toISOString();
const HELD = (id: string): Outcome =>
  id === 'globex-to-acme' ? 'refused' : id === 'acme-dns' ? 'resolved' : 'allowed';

describe('upgrade: the probe stream through a transition', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await load(SCENARIO);
  });

  it('streams the must-deny and must-allow attempts the phase before passed, and nothing it failed or could not judge', () => {
    expect(
      streamAttempts(scenario, PASSED).map((a) => [a.stream.id, a.stream.mustDeny, a.stream.to]),
    ).to.deep.equal([
      ['globex-to-acme', true, 'tenant-acme/api:8080'],
      ['acme-to-acme', false, 'tenant-acme/api:8080'],
    ]);
    const failed = judged([
      { id: 'globex-to-acme', verdict: 'fail', mustDeny: true, expectedOutcomes: ['refused'] },
      { id: 'acme-to-acme', verdict: 'error', mustDeny: false, expectedOutcomes: ['allowed'] },
    ]);
    expect(streamAttempts(scenario, failed)).to.deep.equal([]);
  });

  it('a must-deny attempt granted during the transition is a leak with its wall-clock time and offset; the warm-up before the start is not judged', async () => {
    const { part, h } = await stream(scenario, {
      // Granted in the warm-up (before the start), and from +1000 to +1999 ms.
      outcome: (id, at) =>
        id === 'globex-to-acme' && (at < 0 || (at >= 1000 && at < 2000)) ? 'allowed' : HELD(id),
    });
    const start = Date.parse(part.startedAt);
    expect(part.before).to.equal(2);
    expect(part.leaks).to.deep.equal([
      {
        attempt: 'globex-to-acme',
        at: iso(start + 1000),
        offsetMs: 1000,
        outcome: 'allowed',
        pod: 'tenant-globex/client-g',
      },
      {
        attempt: 'globex-to-acme',
        at: iso(start + 1500),
        offsetMs: 1500,
        outcome: 'allowed',
        pod: 'tenant-globex/client-g',
      },
    ]);
    expect(part.leakCount).to.equal(2);
    expect(part.disruptions).to.deep.equal([]);
    expect(part.durationMs).to.equal(6000);
    // 2 a second from the start until it stopped (0, 500, …, 6000 ms), per source.
    expect(
      h.batches.filter((b) => b.source === 'tenant-globex/client' && b.at >= 0).map((b) => b.at),
    ).to.deep.equal([0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500]);
    expect(part.sources).to.deep.equal([
      { source: 'tenant-globex/client', batches: 12, ratePerSecond: 2 },
      { source: 'tenant-acme/client', batches: 12, ratePerSecond: 2 },
    ]);
    expect(part.timeline.bucketMs).to.equal(1000);
    expect(part.timeline.buckets.map((b) => b.leaks)).to.deep.equal([0, 2, 0, 0, 0, 0]);
    expect(h.closed).to.equal(true);
  });

  it('a must-allow gap longer than the threshold is a disruption with its length and its failures in a row', async () => {
    const { part } = await stream(scenario, {
      outcome: (id, at) => (id === 'acme-to-acme' && at >= 2000 && at < 3600 ? 'refused' : HELD(id)),
    });
    const start = Date.parse(part.startedAt);
    // Successes at +1500 and +4000; failures at 2000, 2500, 3000, 3500.
    expect(part.disruptions).to.deep.equal([
      {
        attempt: 'acme-to-acme',
        from: iso(start + 1500),
        to: iso(start + 4000),
        startOffsetMs: 1500,
        gapMs: 2500,
        failures: 4,
        closed: true,
      },
    ]);
    expect(part.attempts.find((a) => a.id === 'acme-to-acme')).to.deep.include({
      maxGapMs: 2500,
      longestFailures: 4,
      errors: 0,
    });
    expect(part.leakCount).to.equal(0);
    expect(part.timeline.buckets.map((b) => b.failures)).to.deep.equal([0, 0, 2, 2, 0, 0]);
  });

  it('a gap within the threshold is measured but no disruption; one still failing when the stream stops is not recovered', async () => {
    const short = await stream(scenario, {
      outcome: (id, at) => (id === 'acme-to-acme' && at === 2000 ? 'reset' : HELD(id)),
    });
    expect(short.part.disruptions).to.deep.equal([]);
    expect(short.part.attempts.find((a) => a.id === 'acme-to-acme')).to.deep.include({
      maxGapMs: 1000,
      longestFailures: 1,
    });
    const open = await stream(scenario, {
      outcome: (id, at) => (id === 'acme-to-acme' && at >= 4500 ? 'refused' : HELD(id)),
    });
    expect(open.part.disruptions.map((g) => [g.startOffsetMs, g.gapMs, g.failures, g.closed])).to.deep.equal([
      [4000, 2000, 3, false],
    ]);
  });

  it('a probe error is neither a deny, a leak nor a disruption: it is counted apart', async () => {
    const { part } = await stream(scenario, {
      outcome: (id, at) => (at >= 1000 && at < 3000 ? 'error' : HELD(id)),
    });
    expect(part.errors).to.equal(8);
    expect(part.disruptions).to.deep.equal([]);
    expect(part.leakCount).to.equal(0);
    expect(part.attempts.map((a) => [a.id, a.errors, a.maxGapMs])).to.deep.equal([
      ['globex-to-acme', 4, undefined],
      ['acme-to-acme', 4, 0],
    ]);
    expect(part.timeline.buckets.map((b) => b.errors)).to.deep.equal([0, 4, 4, 0, 0, 0]);
  });

  it('follows a restart: the batches go to the new pod once it is Ready, and a workload without one gets errors', async () => {
    const { part, h } = await stream(
      scenario,
      { outcome: (id) => HELD(id) },
      {
        pods: (at) =>
          new Map(
            at < 2000
              ? [
                  ['tenant-acme/client', 'client-old'],
                  ['tenant-globex/client', 'client-g'],
                ]
              : at < 3000
                ? [['tenant-globex/client', 'client-g']]
                : [
                    ['tenant-acme/client', 'client-new'],
                    ['tenant-globex/client', 'client-g'],
                  ],
          ),
      },
    );
    const acme = h.batches.filter((b) => b.source === 'tenant-acme/client' && b.at >= 0);
    expect([...new Set(acme.map((b) => b.pod))]).to.deep.equal(['client-old', 'client-new']);
    expect(acme.find((b) => b.pod === 'client-new')?.at).to.equal(3000);
    // At +2000 and +2500 there was no Ready acme client: its one attempt is an error, twice.
    expect(part.attempts.find((a) => a.id === 'acme-to-acme')?.errors).to.equal(2);
    expect(part.disruptions).to.deep.equal([]);
  });

  it('never sends faster than the rate: a slow batch delays the next one, never two at once', async () => {
    const { part, h } = await stream(
      scenario,
      { outcome: (id) => HELD(id), latencyMs: 800 },
      { transitionMs: 4000 },
    );
    expect(h.maxInFlight).to.equal(1);
    const globex = h.batches.filter((b) => b.source === 'tenant-globex/client' && b.at >= 0).map((b) => b.at);
    expect(globex).to.deep.equal([0, 800, 1600, 2400, 3200]);
    expect(part.sources.every((s) => s.ratePerSecond <= 2)).to.equal(true);
  });

  it('takes a source with more attempts than a batch holds in turn; refuses a rate outside (0, 10]', async () => {
    const many = await load(
      `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
  attempts:
${Array.from({ length: 20 }, (_, i) => `    - { id: a${String(i)}, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }`).join('\n')}
`,
    );
    const previous = judged(
      many.attempts.map((a) => ({
        id: a.id,
        verdict: 'pass',
        mustDeny: false,
        expectedOutcomes: ['allowed'] as Outcome[],
      })),
    );
    const h: Harness = {
      clock: new VirtualClock(),
      batches: [],
      inFlight: new Map(),
      maxInFlight: 0,
      closed: false,
    };
    const s = await ProbeStream.start({
      attempts: streamAttempts(many, previous),
      pods: () => Promise.resolve(new Map([['tenant-acme/client', 'c']])),
      prober: prober(h, { outcome: () => 'allowed' }, () => 0),
      clock: h.clock,
    });
    await h.clock.sleep(1000);
    await s.stop({
      name: 'x',
      title: 'x',
      completed: true,
      barrier: { status: 'skipped', reasoning: 'test' },
    });
    expect(h.batches.map((b) => b.ids.length)).to.deep.equal([
      MAX_STREAM_BATCH,
      MAX_STREAM_BATCH,
      MAX_STREAM_BATCH,
    ]);
    expect(h.batches[1]?.ids[0]).to.equal('a16');
    expect(h.batches[1]?.ids.at(-1)).to.equal('a11');
    for (const rate of [0, -1, 11])
      await ProbeStream.start({
        attempts: [],
        pods: () => Promise.resolve(new Map()),
        prober: prober(h, { outcome: () => 'allowed' }, () => 0),
        clock: h.clock,
        ratePerSecond: rate,
      }).then(
        () => expect.fail(`rate ${String(rate)} was accepted`),
        (error: unknown) => expect(String(error)).to.match(/at most 10 batches a second/),
      );
  });

  it('the analysis counts nothing sent before the start, even a result that came back after it', () => {
    const t0 = Date.parse('2026-12-01T00:00:00.000Z');
    const part = analyseStream({
      name: 'restart',
      title: 't',
      startedAt: t0,
      endedAt: t0 + 3000,
      completed: true,
      barrier: { status: 'passed', reasoning: 'r' },
      ratePerSecond: 2,
      disruptionThresholdMs: 1000,
      maxBatch: 16,
      attempts: [{ id: 'd', from: 'a/b', to: 'c/d:1', mustDeny: true, expected: ['refused'] }],
      observations: [
        { attempt: 'd', outcome: 'allowed', sentAt: t0 - 100, at: t0 + 200, pod: 'a/b-1' },
        { attempt: 'd', outcome: 'refused', sentAt: t0 + 400, at: t0 + 450, pod: 'a/b-1' },
      ],
      sources: [{ source: 'a/b', batches: 1 }],
    });
    expect(part.leakCount).to.equal(0);
    expect(part.before).to.equal(1);
    expect(part.attempts[0]).to.deep.include({ observed: 1, granted: 0 });
  });
});
