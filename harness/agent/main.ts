/**
 * Entry point of the agent bundle (`node bulkhead-agent.mjs serve|probe|session`), the program every
 * fixture pod runs. Node built-ins only: it runs on a stock Node image with nothing installed.
 */
import { stream, util } from './builtins.js';
import { parseConcurrency, parsePorts, probeInput, serveUntilSignal, UsageError } from './commands.js';
import { coalescedOutput } from './output.js';
import { runSession } from './session.js';
import { tuneForShortWork } from './v8-tiers.js';

const USAGE = `usage:
  bulkhead-agent serve [--port N]... [--udp-port N]... [--host ADDRESS]
  bulkhead-agent probe [--concurrency N] [--stats]   (a JSON array of attempts on stdin)
  bulkhead-agent probe --batch BASE64 [...]         (the same array, base64, for exec without stdin)
  bulkhead-agent session [--concurrency N]          (batch after batch on stdin, one JSON line each,
                                                     {"batch": ID, "attempts": [...]}, until stdin ends)
`;

const log = (text: string): void => {
  process.stderr.write(text);
};

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve') {
    const { values } = util().parseArgs({
      args: [...rest],
      options: {
        port: { type: 'string', multiple: true, default: ['8080'] },
        'udp-port': { type: 'string', multiple: true, default: [] },
        host: { type: 'string' },
      },
    });
    await serveUntilSignal(
      {
        ports: parsePorts(values.port, '--port'),
        udpPorts: parsePorts(values['udp-port'], '--udp-port'),
        ...(values.host ? { host: values.host } : {}),
      },
      log,
    );
    return 0;
  }
  if (command === 'probe') {
    tuneForShortWork();
    const { values } = util().parseArgs({
      args: [...rest],
      options: {
        concurrency: { type: 'string' },
        stats: { type: 'boolean', default: false },
        batch: { type: 'string' },
      },
    });
    // API servers that only speak v4.channel.k8s.io cannot close an exec's stdin without closing
    // the whole stream, so the runner passes the batch as an argument there.
    const out = coalescedOutput((text) => process.stdout.write(text));
    const code = await probeInput(
      values.batch === undefined
        ? process.stdin
        : stream().Readable.from([Buffer.from(values.batch, 'base64')]),
      { stats: values.stats, ...optionalConcurrency(values.concurrency) },
      out.write,
      log,
    );
    out.flush();
    // Every result is written (writes to pipes and files are synchronous on Linux). A name
    // lookup that outlived its attempt's deadline cannot be cancelled and would hold the
    // process open until the resolver gives up; nothing is left to wait for.
    process.exit(code);
  }
  if (command === 'session') {
    tuneForShortWork();
    const { values } = util().parseArgs({ args: [...rest], options: { concurrency: { type: 'string' } } });
    const out = coalescedOutput((text) => process.stdout.write(text));
    await runSession(process.stdin, { ...optionalConcurrency(values.concurrency), write: out.write });
    out.flush();
    // As for probe: a lookup that outlived its attempt must not hold the process open.
    process.exit(0);
  }
  log(
    command === undefined || command === '--help' || command === '-h'
      ? USAGE
      : `unknown command "${command}"\n${USAGE}`,
  );
  return command === '--help' || command === '-h' ? 0 : 2;
}

function optionalConcurrency(value: string | undefined): { concurrency?: number } {
  const concurrency = parseConcurrency(value);
  return concurrency === undefined ? {} : { concurrency };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Bad flags are the caller's mistake: a message and exit 2, no stack trace.
    const code = (error as { code?: unknown }).code;
    const usage =
      error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
    log(
      usage ? `${(error as Error).message}\n${USAGE}` : `agent: ${(error as Error).stack ?? String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
