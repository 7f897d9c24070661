/**
 * A detached signature over the evidence bundle, with a key the user provides, so the bundle's
 * integrity rests on something outside it: anyone can rewrite a bundle's SHA256SUMS, nobody
 * without the private key can make its signature verify. The signature is what
 * `openssl dgst -sha256 -sign key.pem -out bundle.sig bundle` writes (node:crypto's `sign` with
 * SHA-256: PKCS #1 v1.5 for RSA keys, DER-encoded ECDSA for EC keys, the encodings OpenSSL uses),
 * so it verifies with `openssl dgst -sha256 -verify pub.pem -signature bundle.sig bundle` as well
 * as with `bulkhead verify-bundle --verify-key pub.pem`. Ed25519 and other key types are refused:
 * `openssl dgst -sha256` cannot verify them.
 */
import { createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

import { UserError } from '../errors.js';
import { inputFileRefusal, readInputFile } from '../input-file.js';
import { messageOf } from '../values.js';

/** The signature file next to what it signs. */
export const SIGNATURE_SUFFIX = '.sig';

/** Key types whose SHA-256 signatures `openssl dgst -sha256 -verify` checks. */
const SIGNING_TYPES = new Set(['rsa', 'ec']);

/** A PEM key file is small; anything larger is not one. */
const MAX_KEY_BYTES = 64 * 1024;

async function keyText(file: string, what: string): Promise<string> {
  return readInputFile(file, {
    maxBytes: MAX_KEY_BYTES,
    describe: (why) => `cannot read the ${what}: ${why}`,
  });
}

function checkType(key: KeyObject, file: string): KeyObject {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (!SIGNING_TYPES.has(type))
    throw new UserError(
      `${file}: a ${type} key; bulkhead signs with RSA or EC keys, whose SHA-256 signatures openssl dgst -sha256 -verify checks`,
    );
  return key;
}

/** The private key of `--sign-key`: an unencrypted PEM RSA or EC key, checked before anything runs. */
export async function readSigningKey(file: string): Promise<KeyObject> {
  const text = await keyText(file, 'signing key');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    const why = messageOf(error);
    throw new UserError(
      /passphrase|encrypted/i.test(why) || text.includes('ENCRYPTED')
        ? `${file}: the private key is encrypted; give an unencrypted copy (openssl pkey -in ${file} -out plain.pem) kept where only the signing job can read it`
        : `${file}: not a PEM private key (${why})`,
    );
  }
  return checkType(key, file);
}

/** The public key of `--verify-key`: a PEM public key, certificate or private key (its public half). */
export async function readVerifyKey(file: string): Promise<KeyObject> {
  const text = await keyText(file, 'public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new UserError(`${file}: not a PEM public key or certificate (${messageOf(error)})`);
  }
  return checkType(key, file);
}

/** Feeds the file to a Sign or Verify, which must not be ended before `sign`/`verify`. */
async function digestInto(sink: { update(chunk: Buffer): unknown }, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) sink.update(chunk as Buffer);
}

/** Signs `file` and writes the detached signature to `file.sig`; returns the signature's path. */
export async function signFile(file: string, key: KeyObject): Promise<string> {
  const signer = createSign('sha256');
  await digestInto(signer, file);
  const signature = signer.sign(key);
  const out = `${file}${SIGNATURE_SUFFIX}`;
  await writeFile(out, signature);
  return out;
}

/** True when `signatureFile` is a signature of `file` by the private half of `key`. */
export async function verifyFileSignature(
  file: string,
  signatureFile: string,
  key: KeyObject,
): Promise<boolean> {
  const verifier = createVerify('sha256');
  await digestInto(verifier, file);
  const refusal = await inputFileRefusal(signatureFile, MAX_KEY_BYTES);
  if (refusal !== undefined) throw new UserError(`${signatureFile}: cannot read the signature: ${refusal}`);
  return verifier.verify(key, await readFile(signatureFile));
}
