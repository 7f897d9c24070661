#!/usr/bin/env node
// The bulkhead command. Runs the TypeScript sources through tsx, so `npx bulkhead` works right
// after `npm ci` with no build step.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(
    `bulkhead needs Node.js >= 22.22; this is ${process.version}. ` +
      'Install a newer Node, or source scripts/ensure-node.sh from a checkout.\n',
  );
  process.exit(2);
}

// `bulkhead schema | head` closes the pipe early; that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv);
