import { PullbenchError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './media-types.js';

/** What a node asks for: `{ os: 'linux', architecture: 'arm', variant: 'v7' }`. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** Normalises as containerd's `platforms.Normalize`: aliases, `arm` defaults to v7, `arm64/v8` is plain arm64. */
export function normalizePlatform(p: PlatformSpec): PlatformSpec {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() ?? '';
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8') variant = '';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return variant === '' ? { os, architecture } : { os, architecture, variant };
}

/**
 * The platforms a node accepts, best first, as containerd 1.6's `platforms.Only`:
 * arm/v7 also runs v6 and v5, arm64 also runs arm/v8..v5, amd64 also runs 386.
 */
function compatiblePlatforms(want: PlatformSpec): PlatformSpec[] {
  const p = normalizePlatform(want);
  const out: PlatformSpec[] = [p];
  const armDown = (from: number): void => {
    for (let v = from; v >= 5; v--) out.push({ os: p.os, architecture: 'arm', variant: `v${v}` });
  };
  if (p.architecture === 'amd64') {
    const level = Number((p.variant ?? 'v1').slice(1));
    for (let v = level - 1; v >= 1; v--) out.push(v === 1 ? { os: p.os, architecture: 'amd64' } : { os: p.os, architecture: 'amd64', variant: `v${v}` });
    out.push({ os: p.os, architecture: '386' });
  } else if (p.architecture === 'arm') {
    const level = Number((p.variant ?? 'v7').slice(1));
    if (Number.isInteger(level)) armDown(level - 1);
  } else if (p.architecture === 'arm64') {
    armDown(8);
  }
  return out;
}

function samePlatform(a: PlatformSpec, b: PlatformSpec): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** Rank of `candidate` for a node wanting `want` (0 is best), or -1 when it cannot run there. */
export function platformRank(want: PlatformSpec, candidate: Platform | PlatformSpec): number {
  const c = normalizePlatform(candidate);
  return compatiblePlatforms(want).findIndex((p) => samePlatform(p, c));
}

/**
 * Chooses the manifest for a platform from an index, as containerd does: the best-ranked
 * compatible platform wins (first in index order on a tie), and entries without a platform
 * are candidates of last resort. None compatible: PLATFORM_NOT_FOUND.
 */
export function selectPlatform(index: ImageIndex, want: PlatformSpec): Descriptor {
  let best: { rank: number; desc: Descriptor } | undefined;
  for (const desc of index.manifests ?? []) {
    const rank = desc.platform ? platformRank(want, desc.platform) : Number.MAX_SAFE_INTEGER;
    if (rank < 0) continue;
    if (!best || rank < best.rank) best = { rank, desc };
  }
  if (!best) {
    const offered = (index.manifests ?? []).map((d) => formatPlatform(d.platform)).join(', ');
    throw new PullbenchError('PLATFORM_NOT_FOUND', `no manifest for ${formatPlatform(want)} in the index (offered: ${offered || 'none'})`, {
      details: { want: formatPlatform(want), offered: (index.manifests ?? []).map((d) => formatPlatform(d.platform)) },
    });
  }
  return best.desc;
}

/** `linux/arm/v7`; `unknown` for a missing platform. */
export function formatPlatform(p: PlatformSpec | Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** Parses `linux/arm64`, `linux/arm/v7`; anything else is INVALID_ARGUMENT. */
export function parsePlatform(text: string): PlatformSpec {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((s) => !/^[A-Za-z0-9_.-]+$/.test(s))) {
    throw new PullbenchError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): PlatformSpec {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };
  return normalizePlatform({ os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch });
}
