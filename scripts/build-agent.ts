/** Builds the agent bundle (`npm run build:agent`, and `prepare` on `npm ci`). */
import { AGENT_BUNDLE, buildAgentBundle } from '../harness/agent/bundle.js';

const out = await buildAgentBundle(process.argv[2] ?? AGENT_BUNDLE);
process.stdout.write(`agent bundle: ${out}\n`);
