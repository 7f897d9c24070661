/**
 * verify-bundle's wording and every exit code of README's table: a bundle checked only against its
 * own manifest is "consistent ..., not proven untampered" (a results.json edited and SHA256SUMS
 * recomputed passes that check), one whose SHA-256 matches the hash recorded outside it, or whose
 * detached signature verifies, is proven; and the signature is one openssl verifies too.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { writeBundle, type BundleFile } from '../../harness/report/bundle.js';
import { readSigningKey, signFile, verifyFileSignature } from '../../harness/report/signature.js';
import { VERIFY_WORDS } from '../../harness/cli/verify-bundle.js';
import { runCli } from '../support/cli.js';

const run = promisify(execFile);

const FILES: BundleFile[] = [
  { name: 'results/results.json', content: '{"v":1,"summary":{"failed":1}}\n' },
  { name: 'reports/report.html', content: '<!DOCTYPE html><p>FAIL</p>\n' },
];

/** What `openssl dgst -sha256 -verify` prints for a file and its signature (`Verified OK` or the failure). */
async function opensslVerify(binary: string, pub: string, signature: string, file: string): Promise<string> {
  return run(binary, ['dgst', '-sha256', '-verify', pub, '-signature', signature, file]).then(
    ({ stdout }) => stdout.trim(),
    (error: unknown) => (error as { stdout?: string }).stdout ?? '',
  );
}

/** The openssl binary, when the machine has one. */
async function openssl(): Promise<string | undefined> {
  try {
    const { stdout } = await run('sh', ['-c', 'command -v openssl']);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('verify-bundle: wording, exit codes and signatures', function () {
  this.timeout(60_000);
  let dir: string;
  let original: { file: string; sha256: string };
  let forged: { file: string; sha256: string };
  let pub: string;
  let priv: string;

  const pem = (key: KeyObject, type: 'spki' | 'pkcs8') => key.export({ format: 'pem', type }) as string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-verify-'));
    original = await writeBundle({ file: path.join(dir, 'b.tar.gz'), root: 'bulkhead-r1', files: FILES });
    // Someone edits results.json and rewrites SHA256SUMS: writeBundle does exactly that.
    forged = await writeBundle({
      file: path.join(dir, 'forged.tar.gz'),
      root: 'bulkhead-r1',
      files: [{ name: 'results/results.json', content: '{"v":1,"summary":{"failed":0}}\n' }, FILES[1]!],
    });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    priv = path.join(dir, 'key.pem');
    pub = path.join(dir, 'pub.pem');
    await writeFile(priv, pem(privateKey, 'pkcs8'));
    await writeFile(pub, pem(publicKey, 'spki'));
    await signFile(original.file, await readSigningKey(priv));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exit 0, "not proven untampered", for a bundle checked only against its own manifest, even a forged one', async () => {
    for (const b of [original, forged]) {
      const r = await runCli(['verify-bundle', b.file]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.contain(`  OK: ${VERIFY_WORDS.selfConsistent}\n`);
      expect(r.stdout).to.contain('consistent with its own manifest, not proven untampered');
      expect(r.stdout).to.not.contain('OK: proven');
    }
  });

  it('exit 0, proven, when the archive has the SHA-256 recorded outside it', async () => {
    const r = await runCli(['verify-bundle', original.file, '--sha256', original.sha256.toUpperCase()]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`  OK: ${VERIFY_WORDS.hashAnchored}\n`);
    expect(r.stdout).to.not.contain('not proven');
  });

  it('exit 1 for the forged bundle against the recorded SHA-256', async () => {
    const r = await runCli(['verify-bundle', forged.file, '--sha256', original.sha256]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain(
      `  FAIL the archive's SHA-256 is ${forged.sha256}, not ${original.sha256}: it is not the bundle recorded\n`,
    );
    expect(r.stdout).to.not.contain('OK:');
  });

  it('exit 0, proven, when the signature verifies; exit 1 for the forged bundle with the original signature', async () => {
    const ok = await runCli(['verify-bundle', original.file, '--verify-key', pub]);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain(`  OK: ${VERIFY_WORDS.signed}\n`);
    const bad = await runCli([
      'verify-bundle',
      forged.file,
      '--verify-key',
      pub,
      '--signature',
      `${original.file}.sig`,
    ]);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.contain('FAIL the signature does not verify with the public key given');
  });

  it('the signature verifies with openssl dgst -sha256 -verify (or node:crypto where there is no openssl), and only for its bundle', async () => {
    const binary = await openssl();
    const sig = `${original.file}.sig`;
    if (binary) {
      expect(await opensslVerify(binary, pub, sig, original.file)).to.equal('Verified OK');
      expect(await opensslVerify(binary, pub, sig, forged.file)).to.contain('Verification failure');
    } else {
      const { readVerifyKey } = await import('../../harness/report/signature.js');
      const key = await readVerifyKey(pub);
      expect(await verifyFileSignature(original.file, sig, key)).to.equal(true);
      expect(await verifyFileSignature(forged.file, sig, key)).to.equal(false);
    }
  });

  it('signs with an RSA key as openssl does (PKCS #1 v1.5), and refuses Ed25519 and encrypted keys', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaKey = path.join(dir, 'rsa.pem');
    const rsaPub = path.join(dir, 'rsa-pub.pem');
    await writeFile(rsaKey, pem(rsa.privateKey, 'pkcs8'));
    await writeFile(rsaPub, pem(rsa.publicKey, 'spki'));
    const copy = path.join(dir, 'rsa.tar.gz');
    await writeFile(copy, await readFile(original.file));
    await signFile(copy, await readSigningKey(rsaKey));
    const binary = await openssl();
    if (binary) {
      expect(await opensslVerify(binary, rsaPub, `${copy}.sig`, copy)).to.equal('Verified OK');
    }
    expect((await runCli(['verify-bundle', copy, '--verify-key', rsaPub])).code).to.equal(0);

    const ed = generateKeyPairSync('ed25519');
    const edKey = path.join(dir, 'ed.pem');
    await writeFile(edKey, pem(ed.privateKey, 'pkcs8'));
    const refused = await runCli(['report', dir, '--bundle', '--sign-key', edKey]);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain(`${edKey}: a ed25519 key; bulkhead signs with RSA or EC keys`);

    const locked = path.join(dir, 'locked.pem');
    await writeFile(
      locked,
      rsa.privateKey.export({
        format: 'pem',
        type: 'pkcs8',
        cipher: 'aes-256-cbc',
        passphrase: 'secret',
      }) as string,
    );
    const encrypted = await runCli(['report', dir, '--bundle', '--sign-key', locked]);
    expect(encrypted.code).to.equal(2);
    expect(encrypted.stderr).to.contain(`${locked}: the private key is encrypted`);
  });

  it('exit 2 for a bundle that is not there, a malformed --sha256, a missing signature, a bad key, --signature alone', async () => {
    await writeFile(path.join(dir, 'not-a-key.pem'), 'hello\n');
    const cases: [string[], string][] = [
      [['verify-bundle', path.join(dir, 'none.tar.gz')], 'none.tar.gz: no such file'],
      [['verify-bundle', original.file, '--sha256', 'abc'], '--sha256 abc: expected 64 hexadecimal digits'],
      [
        ['verify-bundle', forged.file, '--verify-key', pub],
        'forged.tar.gz.sig: no such file (the detached signature)',
      ],
      [
        ['verify-bundle', original.file, '--verify-key', path.join(dir, 'not-a-key.pem')],
        'not a PEM public key',
      ],
      [
        ['verify-bundle', original.file, '--signature', 'x.sig'],
        '--signature is checked with a public key: add --verify-key',
      ],
      [['report', dir, '--sign-key', priv], '--sign-key concerns the evidence bundle: add --bundle'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.contain(message);
      expect(r.stderr).to.not.match(/\n\s+at /);
    }
    expect(existsSync(`${forged.file}.sig`)).to.equal(false);
  });
});
