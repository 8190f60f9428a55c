import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VECTORS } from './helpers/vectors.js';
import { promisify } from 'node:util';
import { createPublicKey, sign, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import {
  COSIGN_KEY_LABEL,
  encryptPrivateKey,
  generateCosignKeyPair,
  pemDecode,
  publicKeyPem,
  readPrivateKey,
  SIGSTORE_KEY_LABEL,
} from '../../src/supply-chain/keys.js';

const POLICY_CONTROLLER = join(VECTORS, 'policy-controller');
const run = promisify(execFile);
const bin = new URL('../../bin/dev.js', import.meta.url).pathname;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isPullbenchError(err) ? err.code : `not a PullbenchError: ${String(err)}`;
  }
}

describe('cosign key files', () => {
  it('decrypts the real cosign key (ENCRYPTED COSIGN PRIVATE KEY, empty password) to the key in cosign.pub', async () => {
    const pem = await readFile(join(POLICY_CONTROLLER, 'cosign.key'), 'utf8');
    expect(pemDecode(pem).label).toBe(COSIGN_KEY_LABEL);
    const key = await readPrivateKey(pem, '');
    expect(publicKeyPem(key)).toBe(await readFile(join(POLICY_CONTROLLER, 'cosign.pub'), 'utf8'));
  });

  it('rejects a wrong password with KEY_PASSWORD_WRONG', async () => {
    const pem = await readFile(join(POLICY_CONTROLLER, 'cosign.key'), 'utf8');
    expect(await codeOf(readPrivateKey(pem, 'not-the-password'))).toBe('KEY_PASSWORD_WRONG');
  });

  it('writes ENCRYPTED SIGSTORE PRIVATE KEY with the JSON fields go-securesystemslib reads', async () => {
    const pair = await generateCosignKeyPair('s3cret');
    const { label, der } = pemDecode(pair.privatePem);
    expect(label).toBe(SIGSTORE_KEY_LABEL);
    const json = JSON.parse(der.toString()) as { kdf: { name: string; params: unknown; salt: string }; cipher: { name: string; nonce: string } };
    expect(Object.keys(json)).toEqual(['kdf', 'cipher', 'ciphertext']);
    expect(json.kdf).toMatchObject({ name: 'scrypt', params: { N: 65536, r: 8, p: 1 } });
    expect(Buffer.from(json.kdf.salt, 'base64')).toHaveLength(32);
    expect(json.cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(json.cipher.nonce, 'base64')).toHaveLength(24);
    const key = await readPrivateKey(pair.privatePem, 's3cret');
    const sig = sign('sha256', Buffer.from('payload'), key);
    expect(verify('sha256', Buffer.from('payload'), createPublicKey(pair.publicPem), sig)).toBe(true);
  });

  it('refuses scrypt parameters outside the accepted sets before deriving (KEY_INVALID)', async () => {
    const pair = await generateCosignKeyPair('');
    const { der } = pemDecode(pair.privatePem);
    const json = JSON.parse(der.toString()) as { kdf: { params: { N: number } } };
    json.kdf.params.N = 2 ** 24;
    const tampered = `-----BEGIN ${SIGSTORE_KEY_LABEL}-----\n${Buffer.from(JSON.stringify(json)).toString('base64')}\n-----END ${SIGSTORE_KEY_LABEL}-----\n`;
    expect(await codeOf(readPrivateKey(tampered, ''))).toBe('KEY_INVALID');
  });

  it('reads the legacy (2^15) parameters cosign 1 wrote', async () => {
    const pair = await generateCosignKeyPair('x');
    const pkcs8 = (await readPrivateKey(pair.privatePem, 'x')).export({ format: 'der', type: 'pkcs8' });
    const legacy = await encryptPrivateKey(pkcs8, 'x', { N: 32768, r: 8, p: 1 });
    expect(publicKeyPem(await readPrivateKey(legacy, 'x'))).toBe(pair.publicPem);
  });

  it('rejects a PEM that is not a key (KEY_INVALID)', async () => {
    expect(await codeOf(readPrivateKey('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', ''))).toBe('KEY_INVALID');
    expect(await codeOf(readPrivateKey('garbage', ''))).toBe('KEY_INVALID');
  });
});

describe('pullbench key generate', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  it('writes cosign.key and cosign.pub and never prints the password', async () => {
    dir = await makeTempDir();
    const prefix = join(dir.path, 'cosign');
    const { stdout, stderr } = await run(bin, ['key', 'generate', '--output-prefix', prefix, '--key-password-env', 'KEYPW', '--json'], {
      env: { ...process.env, KEYPW: 'very-secret-pw' },
    });
    expect(JSON.parse(stdout)).toEqual({ privateKey: `${prefix}.key`, publicKey: `${prefix}.pub` });
    expect(stdout + stderr).not.toContain('very-secret-pw');
    const key = await readPrivateKey(await readFile(`${prefix}.key`, 'utf8'), 'very-secret-pw');
    expect(publicKeyPem(key)).toBe(await readFile(`${prefix}.pub`, 'utf8'));
  });
});
