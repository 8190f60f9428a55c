/**
 * What each side of the fidelity bench hashes with.
 *
 * Every byte of a pull is hashed twice (the blob's digest while it downloads,
 * the layer's diff id while it unpacks), so the speed of sha256 is a large
 * part of a pull's CPU. Node's OpenSSL uses the CPU's SHA extensions where it
 * has them; Go's crypto/sha256 uses them only from Go 1.21 on. A containerd
 * built with an older Go (Debian 12's 1.6.20 is built with go1.19.8) hashes at
 * about a quarter of Node's speed on such a CPU (measured on the bench's AMD
 * EPYC, 2026-12-02: go1.19.8 238-297 MB/s, Node 20 1,200-1,290 MB/s, Node 20
 * with the extensions masked 310-345 MB/s). The bench reports both, and can run
 * its own side with the extensions masked (`--no-sha-ext`) to compare like
 * with like.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/**
 * OPENSSL_ia32cap value that hides the SHA extensions from OpenSSL: bit 29 of
 * the second word is CPUID leaf 7's EBX bit 29, "SHA" (OpenSSL's
 * OPENSSL_ia32cap(3) manual). OpenSSL reads it once, when the process starts.
 */
export const NO_SHA_EXT = ':~0x20000000';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

function uvarint(buf: Buffer, at: number): [value: number, next: number] | undefined {
  let value = 0;
  for (let i = 0, shift = 0; i < 10 && at + i < buf.length; i++, shift += 7) {
    const b = buf[at + i]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at + i + 1];
  }
  return undefined;
}

/**
 * The Go version a Go binary was built with (`go1.19.8`), read from its build
 * info: a 32-byte header at a 16-byte boundary starting with "\xff Go
 * buildinf:", and, in binaries from Go 1.18 on (flag bit 2), the version as a
 * length-prefixed string right after it. Undefined for anything else,
 * including older Go binaries, whose header points into the data segment.
 */
export function goVersionOf(binary: Buffer): string | undefined {
  for (let at = binary.indexOf(MAGIC); at !== -1; at = binary.indexOf(MAGIC, at + 1)) {
    if (at % 16 !== 0 || at + 32 > binary.length) continue;
    const flags = binary[at + 15]!;
    if ((flags & 0x2) === 0) return undefined;
    const len = uvarint(binary, at + 32);
    if (!len || len[0] > 64 || len[1] + len[0] > binary.length) return undefined;
    const version = binary.toString('latin1', len[1], len[1] + len[0]);
    // `go1.19.8`, `go1.22rc1`, `go1.22.0 X:nocoverageredesign` (with experiments)
    return /^go1\.\d+\S*( X:\S+)?$/.test(version) ? version : undefined;
  }
  return undefined;
}

/** The Go version of a running process's executable (`/proc/PID/exe`), if it is a Go binary that says. */
export async function goVersionOfProcess(pid: number): Promise<string | undefined> {
  return goVersionOf(await readFile(`/proc/${pid}/exe`));
}

/** Whether Go's crypto/sha256 of this version uses the CPU's SHA extensions (amd64: from go1.21). */
export function goUsesShaExt(version: string): boolean {
  const m = /^go1\.(\d+)/.exec(version);
  return m !== null && Number(m[1]) >= 21;
}

/** Whether this CPU has the SHA extensions (`sha_ni` in /proc/cpuinfo's flags). */
export async function cpuHasShaExt(): Promise<boolean> {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^flags\s*:.*\bsha_ni\b/m.test(info);
}

/** sha256 throughput of this process in MB/s (10^6 bytes): the best of a few passes over 64 MiB, about half a second. */
export function sha256MBps(): number {
  const buf = Buffer.alloc(64 * 1024 * 1024, 0x5a);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    createHash('sha256').update(buf).digest();
    best = Math.min(best, performance.now() - t0);
  }
  return buf.length / 1e6 / (best / 1000);
}
