export { loadScenario, loadScenarioFile, describePort } from './loader.js';
export { scenarioJsonSchema } from './json-schema.js';
export * from './outcomes.js';
export * from './types.js';
export { API_VERSION, KIND } from './schema.js';
export type { Segment, IsolationPair, OutOfScope, ScenarioSegments } from './segments.js';
