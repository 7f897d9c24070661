/**
 * `bulkhead verify-bundle run.tar.gz`: checks an evidence bundle against its SHA256SUMS
 * manifest (every listed file present and unaltered, nothing unlisted added), and, to prove it
 * untampered, against something kept outside it: the archive's SHA-256 recorded when it was
 * written (`--sha256`), or its detached signature (`--verify-key`, harness/report/signature.ts).
 * A manifest inside the bundle alone proves only that the bundle agrees with itself: whoever
 * edits a file can rewrite SHA256SUMS too, and the output says so.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { UserError } from '../errors.js';
import { inputFileRefusal } from '../input-file.js';
import { MANIFEST_NAME, verifyBundle } from './lazy.js';
import { CommandExit, EXIT, type CliIo } from './io.js';

interface VerifyOptions {
  readonly sha256?: string;
  readonly verifyKey?: string;
  readonly signature?: string;
}

/** What verify-bundle says of a bundle that matches its manifest, by what anchored it. */
export const VERIFY_WORDS = {
  selfConsistent:
    'consistent with its own manifest, not proven untampered: whoever can edit the bundle can rewrite SHA256SUMS too; compare with the SHA-256 recorded outside it (--sha256) or check its signature (--verify-key)',
  hashAnchored:
    'proven untampered: the archive has the SHA-256 recorded outside it, and every file matches the manifest',
  signed:
    'proven untampered: the signature verifies with the public key given, and every file matches the manifest',
} as const;

export function verifyBundleCommand(program: Command, io: CliIo): void {
  program
    .command('verify-bundle')
    .description(
      `check an evidence bundle (.tar.gz) against its ${MANIFEST_NAME} manifest and a hash or signature kept outside it`,
    )
    .argument('<bundle>', 'the bundle written by bulkhead run --bundle')
    .option(
      '--sha256 <hex>',
      'require the archive itself to have this SHA-256 (the one recorded outside the bundle)',
    )
    .option('--verify-key <pub.pem>', 'require a valid signature by the private half of this PEM public key')
    .option('--signature <file>', 'the detached signature (default: <bundle>.sig)')
    .addHelpText(
      'after',
      `
Without --sha256 or --verify-key the bundle is only checked against its own manifest: consistent,
not proven untampered.

Exit codes: 0 the bundle matches its manifest (and the SHA-256 or signature given); 1 a file is
missing, altered or unlisted, --sha256 differs, or the signature does not verify; 2 the bundle,
key or signature cannot be read, or an option is malformed.

Examples:
  $ bulkhead verify-bundle reports/bulkhead-run-1.tar.gz --sha256 "$(cut -d' ' -f1 reports/bulkhead-run-1.tar.gz.sha256)"
  $ bulkhead verify-bundle reports/run-1/bulkhead-run-1.tar.gz --verify-key signing-pub.pem`,
    )
    .action(async (bundle: string, options: VerifyOptions) => {
      const file = path.resolve(io.cwd, bundle);
      const expected = options.sha256?.trim().toLowerCase();
      if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected))
        throw new UserError(`--sha256 ${options.sha256 ?? ''}: expected 64 hexadecimal digits`);
      if (options.signature !== undefined && options.verifyKey === undefined)
        throw new UserError('--signature is checked with a public key: add --verify-key');
      if (!existsSync(file)) throw new UserError(`${bundle}: no such file`);
      // A folder, a FIFO or a device is refused before it is opened (a FIFO would block the read).
      const refusal = await inputFileRefusal(file, Number.MAX_SAFE_INTEGER);
      if (refusal !== undefined) throw new UserError(`${bundle}: cannot read: ${refusal}`);
      let signed: (() => Promise<boolean>) | undefined;
      if (options.verifyKey !== undefined) {
        const { readVerifyKey, verifyFileSignature, SIGNATURE_SUFFIX } =
          await import('../report/signature.js');
        const key = await readVerifyKey(path.resolve(io.cwd, options.verifyKey));
        const signature = path.resolve(io.cwd, options.signature ?? `${bundle}${SIGNATURE_SUFFIX}`);
        if (!existsSync(signature))
          throw new UserError(
            `${options.signature ?? `${bundle}${SIGNATURE_SUFFIX}`}: no such file (the detached signature)`,
          );
        signed = () => verifyFileSignature(file, signature, key);
      }
      const result = await verifyBundle(file);
      const problems = [...result.problems];
      if (expected !== undefined && expected !== result.sha256)
        problems.push(
          `the archive's SHA-256 is ${result.sha256}, not ${expected}: it is not the bundle recorded`,
        );
      if (signed && !(await signed()))
        problems.push(
          'the signature does not verify with the public key given: the archive or the signature was changed, or another key signed it',
        );
      io.stdout(
        `${bundle}\n  sha256 ${result.sha256}\n  ${result.checked} files checked against ${MANIFEST_NAME}\n`,
      );
      if (problems.length > 0) {
        for (const p of problems) io.stdout(`  FAIL ${p}\n`);
        throw new CommandExit(EXIT.failed);
      }
      if (expected !== undefined) io.stdout(`  OK: ${VERIFY_WORDS.hashAnchored}\n`);
      if (signed) io.stdout(`  OK: ${VERIFY_WORDS.signed}\n`);
      if (expected === undefined && !signed) io.stdout(`  OK: ${VERIFY_WORDS.selfConsistent}\n`);
    });
}
