export { KubeClient, type KubeClientProps } from './client.js';
export { KubeApiError, isNotFound } from './errors.js';
export {
  execInPod,
  ExecError,
  exitCodeOf,
  openExecStream,
  type ExecProps,
  type ExecResult,
  type ExecStream,
  type ExecStreamEnd,
  type ExecStreamProps,
} from './exec.js';
export { describeRef, refOf, type ObjectRef, type Selection } from './objects.js';
export { eventsFor, isPodReady, podLogs, readPod } from './pods.js';
export { waitFor, WaitTimeoutError, type WaitProps } from './wait.js';
