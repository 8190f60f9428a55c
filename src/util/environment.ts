import { readFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';

export interface EnvironmentInfo {
  pullbench: string;
  node: string;
  platform: string;
  arch: string;
  kernel: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  /**
   * Whether OpenSSL was told to ignore the CPU's SHA extensions (OPENSSL_ia32cap masking bit 29 of the second word,
   * CPUID leaf 7 EBX "SHA"), as when matching a containerd whose Go sha256 lacks them; with the variable as given.
   */
  shaExtensions?: { hidden: boolean; opensslIa32cap?: string };
}

let cachedVersion: string | undefined;

export function pullbenchVersion(): string {
  if (cachedVersion) return cachedVersion;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  cachedVersion = pkg.version;
  return cachedVersion;
}

export function environmentInfo(): EnvironmentInfo {
  const cpuList = cpus();
  return {
    pullbench: pullbenchVersion(),
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    shaExtensions: shaExtensionsOf(process.env.OPENSSL_ia32cap),
  };
}

/**
 * Reads an OPENSSL_ia32cap value (OPENSSL_ia32cap(3): `[~]LOW[:[~]HIGH]`, each a number in C notation; `~` clears
 * the bits it names): the SHA extensions are hidden when the second word clears bit 29. OpenSSL reads the variable
 * once, as the process starts, so the value this process was started with is what its hashing used.
 */
export function shaExtensionsOf(value: string | undefined): { hidden: boolean; opensslIa32cap?: string } {
  if (value === undefined || value === '') return { hidden: false };
  const high = value.split(':')[1]?.trim() ?? '';
  const clears = high.startsWith('~');
  const bits = Number(clears ? high.slice(1) : high);
  const hidden = clears && Number.isFinite(bits) && (bits & 0x20000000) !== 0;
  return { hidden, opensslIa32cap: value };
}
