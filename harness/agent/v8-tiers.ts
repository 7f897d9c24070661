/**
 * V8's optimizing compilers, Maglev and Turbofan, switched off for the agent's short commands
 * (`probe`, `session`): they run on V8's interpreter and its baseline compiler, Sparkplug, only.
 * Maglev compiles a function once it has run a few hundred times (on by default since V8 11.7:
 * https://v8.dev/blog/maglev), Turbofan later still, and in the agent the hot functions are
 * Node's own JavaScript for sockets, streams and timers as much as ours. An agent runs a few dozen
 * attempts per batch, and each attempt's time is in the kernel and in Node's socket code, so that
 * compile time is never earned back: every pod pays it again, and on a kind cluster every pod's
 * agent runs on the CI runner's few cores at once. Measured with `npm run bench:agent-cpu` (60
 * sessions × 20 HTTP attempts, two cores, the bundles in turns, medians): with Maglev 0.53 ms CPU
 * per attempt in rounds 2+, without it 0.34 ms (4 rounds, 4 runs); round 1 1.39 ms against
 * 1.15 ms; then without Turbofan too 0.31 ms against 0.38 ms (3 rounds, 5 runs), the third round
 * no longer dearer than the second (a session's first Turbofan compiles come in its third round,
 * V8's code log shows). A batch of 2,000 attempts in one probe costs no more without them
 * (540-710 ms of CPU against 610-820 ms, 5 runs each).
 *
 * Set at run time rather than as a `node` flag in the exec command: a Node whose V8 no longer knew
 * the flag would refuse to start at all ("bad option"), while `setFlagsFromString` only notes an
 * unknown flag on stderr and goes on. Node keeps V8's flags writable after start (it sets
 * `--no-freeze-flags-after-init` before its own flags, src/node.cc), and turning a tier off only
 * changes what later tier-ups do. `serve` (the long-lived echo server) keeps V8's defaults.
 *
 * The young generation is the exception: its size is fixed when V8 creates the heap, before any
 * of the agent's code runs, so it can only be given on the command line
 * ({@link SHORT_WORK_NODE_FLAGS}, which the runner puts in the exec command). V8 starts a
 * semi-space at 1 MiB and grows it only after scavenges that keep much alive; Node's own start
 * leaves about 5 MiB live, so an agent scavenges every round or so, 1-1.5 ms each time
 * (`--trace-gc`), to free the few hundred KiB a batch allocates. A 4 MiB minimum lets a session
 * run several rounds without one: 0.35 against 0.30 ms CPU per attempt in rounds 2+, 1.15 against
 * 0.85 ms in round 1 (bench:agent-cpu as above, 3 runs each, alternated), with no change in peak
 * RSS (55 MiB after four 20-attempt batches either way: the pages are touched anyway).
 * `--min-semi-space-size` has been V8's since long before Node 22, the oldest Node the bundle
 * runs on.
 */
import { v8 } from './builtins.js';

/** The flags set at run time. */
export const SHORT_WORK_V8_FLAGS = '--no-maglev --no-opt';

/** The `node` flags before the bundle's path in every `probe` and `session` exec. */
export const SHORT_WORK_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=4'];

export function tuneForShortWork(): void {
  v8().setFlagsFromString(SHORT_WORK_V8_FLAGS);
}
