import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { PullbenchError } from '../errors.js';

/**
 * cosign-compatible key files.
 *
 * `cosign.key` is a PEM block whose body is the JSON that go-securesystemslib's
 * `encrypted` package writes (cosign `pkg/cosign/keys.go` calls
 * `encrypted.Encrypt(pkcs8DER, password)`):
 * `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}`
 * with base64 byte fields (Go's []byte JSON encoding), a 32-byte salt, a 24-byte
 * nonce, and a 32-byte scrypt key. Labels: cosign 2+ writes
 * `ENCRYPTED SIGSTORE PRIVATE KEY`, cosign 1 wrote `ENCRYPTED COSIGN PRIVATE KEY`;
 * cosign reads both.
 */
export const SIGSTORE_KEY_LABEL = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_KEY_LABEL = 'ENCRYPTED COSIGN PRIVATE KEY';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * The scrypt parameters we accept when reading: exactly the three sets
 * go-securesystemslib's `CheckParams` accepts (legacy 2^15, standard 2^16,
 * OWASP 2^17; r=8, p=1). Anything else is refused before deriving, because the
 * parameters come from the file and a tampered N would otherwise let a key file
 * pin a CPU or allocate gigabytes.
 */
const ACCEPTED_SCRYPT_PARAMS: readonly ScryptParams[] = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
];
/** What go-securesystemslib's `Encrypt` (and so `cosign generate-key-pair`) writes today. */
const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 65536, r: 8, p: 1 };

const SALT_SIZE = 32;
const KEY_SIZE = 32;
// 128 * r * N bytes for N = 2^17, r = 8 is 128 MiB; node's default maxmem is 32 MiB.
const SCRYPT_MAXMEM = 256 * 1024 * 1024;

export interface EncryptedKeyJson {
  kdf: { name: 'scrypt'; params: ScryptParams; salt: string };
  cipher: { name: 'nacl/secretbox'; nonce: string };
  ciphertext: string;
}

export interface CosignKeyPair {
  /** PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign.key). */
  privatePem: string;
  /** PEM `PUBLIC KEY` (SubjectPublicKeyInfo, cosign.pub). */
  publicPem: string;
}

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa-2048' | 'rsa-4096';

function deriveKey(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(password, 'utf8'), salt, KEY_SIZE, { N: params.N, r: params.r, p: params.p, maxmem: SCRYPT_MAXMEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function pemEncode(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Finds the first PEM block in `text`; returns its label and DER bytes. */
export function pemDecode(text: string): { label: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new PullbenchError('KEY_INVALID', 'no PEM block found');
  return { label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') };
}

/** Encrypts PKCS#8 DER as cosign does (scrypt + nacl/secretbox). */
export async function encryptPrivateKey(pkcs8Der: Buffer, password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_SIZE);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const key = await deriveKey(password, salt, params);
  const ciphertext = Buffer.from(nacl.secretbox(pkcs8Der, nonce, key));
  key.fill(0);
  const json: EncryptedKeyJson = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: ciphertext.toString('base64'),
  };
  return pemEncode(SIGSTORE_KEY_LABEL, Buffer.from(JSON.stringify(json)));
}

function parseEncryptedJson(der: Buffer): { salt: Buffer; nonce: Buffer; ciphertext: Buffer; params: ScryptParams } {
  let json: EncryptedKeyJson;
  try {
    json = JSON.parse(der.toString('utf8')) as EncryptedKeyJson;
  } catch (cause) {
    throw new PullbenchError('KEY_INVALID', 'encrypted key body is not JSON', { cause });
  }
  const problems: string[] = [];
  if (json?.kdf?.name !== 'scrypt') problems.push('kdf.name must be "scrypt"');
  if (json?.cipher?.name !== 'nacl/secretbox') problems.push('cipher.name must be "nacl/secretbox"');
  const params = json?.kdf?.params;
  if (!params || !ACCEPTED_SCRYPT_PARAMS.some((a) => a.N === params.N && a.r === params.r && a.p === params.p)) {
    problems.push(`unsupported scrypt parameters ${JSON.stringify(params)} (accepted: N 32768|65536|131072, r 8, p 1)`);
  }
  const salt = Buffer.from(String(json?.kdf?.salt ?? ''), 'base64');
  const nonce = Buffer.from(String(json?.cipher?.nonce ?? ''), 'base64');
  const ciphertext = Buffer.from(String(json?.ciphertext ?? ''), 'base64');
  if (salt.length === 0) problems.push('kdf.salt is missing');
  if (nonce.length !== nacl.secretbox.nonceLength) problems.push('cipher.nonce must be 24 bytes');
  if (ciphertext.length <= nacl.secretbox.overheadLength) problems.push('ciphertext is missing');
  if (problems.length > 0) throw new PullbenchError('KEY_INVALID', `invalid encrypted key: ${problems.join('; ')}`, { details: { problems } });
  return { salt, nonce, ciphertext, params: params as ScryptParams };
}

/**
 * Reads a private key: cosign's encrypted formats (both labels), or an
 * unencrypted PKCS#8 / SEC1 / PKCS#1 PEM. A wrong password is KEY_PASSWORD_WRONG.
 */
export async function readPrivateKey(pem: string, password: string): Promise<KeyObject> {
  const { label, der } = pemDecode(pem);
  if (label === SIGSTORE_KEY_LABEL || label === COSIGN_KEY_LABEL) {
    const { salt, nonce, ciphertext, params } = parseEncryptedJson(der);
    const key = await deriveKey(password, salt, params);
    const plain = nacl.secretbox.open(ciphertext, nonce, key);
    key.fill(0);
    if (!plain) throw new PullbenchError('KEY_PASSWORD_WRONG', 'the password does not decrypt this key (or the key file is corrupt)');
    try {
      return createPrivateKey({ key: Buffer.from(plain), format: 'der', type: 'pkcs8' });
    } catch (cause) {
      throw new PullbenchError('KEY_INVALID', 'decrypted key is not PKCS#8', { cause });
    } finally {
      plain.fill(0);
    }
  }
  if (label === 'PRIVATE KEY' || label === 'EC PRIVATE KEY' || label === 'RSA PRIVATE KEY') {
    try {
      return createPrivateKey(pem);
    } catch (cause) {
      throw new PullbenchError('KEY_INVALID', `cannot read ${label}`, { cause });
    }
  }
  throw new PullbenchError('KEY_INVALID', `unsupported PEM type ${JSON.stringify(label)}`);
}

/** Reads a PEM `PUBLIC KEY` (or the key of a PEM certificate). */
export function readPublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (cause) {
    throw new PullbenchError('KEY_INVALID', 'not a PEM public key or certificate', { cause });
  }
}

export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'pem', type: 'spki' }).toString();
}

/** A new key pair in cosign's files (ECDSA P-256 by default, as `cosign generate-key-pair`). */
export async function generateCosignKeyPair(
  password: string,
  opts: { algorithm?: KeyAlgorithm; scrypt?: ScryptParams } = {},
): Promise<CosignKeyPair> {
  const algorithm = opts.algorithm ?? 'ecdsa-p256';
  const { privateKey } = generate(algorithm);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    return { privatePem: await encryptPrivateKey(der, password, opts.scrypt), publicPem: publicKeyPem(privateKey) };
  } finally {
    der.fill(0);
  }
}

function generate(algorithm: KeyAlgorithm): { privateKey: KeyObject } {
  switch (algorithm) {
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-4096':
      return generateKeyPairSync('rsa', { modulusLength: 4096 });
  }
}

/**
 * Digests to try when verifying with `key`: cosign 2 signs with SHA-256 for
 * every ECDSA/RSA key (`LoadPrivateKey(..., crypto.SHA256)`), newer signers use
 * the curve's own hash; Ed25519 signs the message itself (null).
 */
export function hashesForKey(key: KeyObject): (string | null)[] {
  if (key.asymmetricKeyType === 'ed25519') return [null];
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return ['sha256', 'sha384'];
  if (curve === 'secp521r1') return ['sha256', 'sha512'];
  return ['sha256'];
}
