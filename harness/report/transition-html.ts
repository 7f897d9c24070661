/**
 * The HTML report's section for an upgrade-check phase's transition (results.json `transition`,
 * harness/results/transition-schema.ts): a strip with one cell per time bucket from the start of
 * the transition (red: a must-deny attempt was granted; amber: a must-allow attempt failed; grey:
 * only probe errors; green: everything held; blank: nothing came back), then the leaks with their
 * times, the disruptions with their lengths, and each streamed attempt's counts. Renderer only.
 */
import type { ResultsDocument } from '../results/results-model.js';
import type { TransitionPart } from '../results/transition-schema.js';

type Escape = (text: string) => string;

/** Strip cell colours, by what the bucket saw (the report's fail, error and pass colours). */
export function transitionCss(colours: {
  readonly fail: string;
  readonly error: string;
  readonly pass: string;
}): string {
  return `.strip { display: flex; flex-wrap: wrap; gap: 1px; margin: 6px 0; }
.strip span { display: inline-block; width: 7px; height: 18px; background: #e5e7eb; }
.strip span.t-leak { background: ${colours.fail}; }
.strip span.t-failure { background: ${colours.error}; }
.strip span.t-error { background: #9ca3af; }
.strip span.t-held { background: ${colours.pass}; }`;
}

type BucketState = 'leak' | 'failure' | 'error' | 'held' | 'empty';

function bucketState(b: TransitionPart['timeline']['buckets'][number]): BucketState {
  if (b.leaks > 0) return 'leak';
  if (b.failures > 0) return 'failure';
  if (b.held > 0) return 'held';
  if (b.errors > 0) return 'error';
  return 'empty';
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function transitionSection(doc: ResultsDocument, h: Escape): string {
  const t = doc.transition;
  if (!t) return '';
  const size = t.timeline.bucketMs / 1000;
  const strip = t.timeline.buckets
    .map((b, i) => {
      const state = bucketState(b);
      const title = `+${String(i * size)}–${String((i + 1) * size)} s: ${String(b.held)} held, ${String(b.leaks)} leaks, ${String(b.failures)} must-allow failures, ${String(b.errors)} errors`;
      return `<span class="t-${state}" title="${h(title)}"></span>`;
    })
    .join('');
  const leaks =
    t.leakCount === 0
      ? '<p>No must-deny attempt was granted while the transition ran.</p>'
      : `<table class="list"><thead><tr><th>Leak</th><th>Time</th><th>From the start</th><th>Outcome</th><th>Source pod</th></tr></thead><tbody>
${t.leaks.map((l) => `<tr class="v-fail"><td class="verdict">${h(l.attempt)}</td><td>${h(l.at)}</td><td>+${h(seconds(l.offsetMs))}</td><td>${h(l.outcome)}</td><td>${h(l.pod)}</td></tr>`).join('\n')}
</tbody></table>${t.leakCount > t.leaks.length ? `<p>… and ${String(t.leakCount - t.leaks.length)} more leaks.</p>` : ''}`;
  const gaps =
    t.disruptions.length === 0
      ? `<p>No must-allow attempt went without success for more than ${h(seconds(t.method.disruptionThresholdMs))}.</p>`
      : `<table class="list"><thead><tr><th>Disruption (warning)</th><th>From</th><th>Until</th><th>Gap</th><th>Failures in a row</th></tr></thead><tbody>
${t.disruptions.map((g) => `<tr class="v-error"><td class="verdict">${h(g.attempt)}</td><td>${h(g.from)} (+${h(seconds(g.startOffsetMs))})</td><td>${h(g.to)}${g.closed ? '' : ' (not recovered)'}</td><td>${h(seconds(g.gapMs))}</td><td>${String(g.failures)}</td></tr>`).join('\n')}
</tbody></table>`;
  const attempts = `<table class="list"><thead><tr><th>Attempt</th><th>From → to</th><th>Must</th><th>Observed</th><th>Granted</th><th>Errors</th><th>Max gap</th><th>Longest failures</th></tr></thead><tbody>
${t.attempts
  .map(
    (a) =>
      `<tr><td>${h(a.id)}</td><td>${h(a.from)} → ${h(a.to)}</td><td>${a.mustDeny ? 'deny' : 'allow'}</td><td>${String(a.observed)}</td><td>${String(a.granted)}</td><td>${String(a.errors)}</td><td>${a.maxGapMs === undefined ? '—' : h(seconds(a.maxGapMs))}</td><td>${a.longestFailures === undefined ? '—' : String(a.longestFailures)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`;
  return `<h2>Transition into this phase: ${h(t.name)} (${h(t.title)})</h2>
<p>${h(t.startedAt)} to ${h(t.endedAt)} (${h(seconds(t.durationMs))})${t.completed ? '' : ', <b>the transition did not complete</b>'}; barrier ${h(t.barrier.status)}: ${h(t.barrier.reasoning)}</p>
<p class="muted">${h(t.method.rule)} ${String(t.errors)} probe errors; ${String(t.before)} warm-up results before the start, not judged.</p>
<div class="strip" aria-label="timeline, one cell per ${h(String(size))} s">${strip}</div>
<p class="muted">One cell per ${h(String(size))} s from the start: red a leak, amber a must-allow failure, green everything held, grey only probe errors.</p>
${leaks}
${gaps}
${attempts}`;
}
