import type { LinkSection, Scenario } from '../scenario/schema.js';

/**
 * Byte scaling of an emulated run (`scale.bytes`): every synthesised layer and
 * every link bandwidth times the same factor. A layer's transfer time,
 * size / bandwidth, is unchanged, and so are latencies, request counts and
 * kubelet/containerd behaviour; the process hashes, decompresses and copies
 * `factor` times the bytes. What does not scale: manifests, configs and HTTP
 * headers (a few kB per pull) cross the slower links 1/factor times slower.
 */
export function scaleScenario(scenario: Scenario): Scenario {
  const factor = scenario.scale?.bytes ?? 1;
  if (factor === 1) return scenario;
  const link = (l: LinkSection | undefined): LinkSection | undefined =>
    l && { ...l, bandwidth: l.bandwidth * factor, ...(l.sharedUplink !== undefined ? { sharedUplink: l.sharedUplink * factor } : {}) };
  const links: Scenario['links'] = {};
  for (const key of ['registry', 'mirror', 'upstream'] as const) {
    const scaled = link(scenario.links[key]);
    if (scaled) links[key] = scaled;
  }
  const peer = scenario.links.peer;
  if (peer) links.peer = { ...peer, upload: peer.upload * factor, ...(peer.download !== undefined ? { download: peer.download * factor } : {}) };
  // A p2p section's piece length is bytes too: scaled, so a blob keeps its piece count.
  const p2p = scenario.p2p?.pieceLength !== undefined ? { p2p: { ...scenario.p2p, pieceLength: scaleSize(scenario.p2p.pieceLength, factor) } } : {};
  return {
    ...scenario,
    ...p2p,
    links,
    images: scenario.images.map((img) =>
      img.synth ? { ...img, synth: { ...img.synth, layers: img.synth.layers.map((size) => scaleSize(size, factor)) } } : img,
    ),
  };
}

/** A layer size times the factor, whole bytes, never below 1 KiB unless it was smaller already. */
export function scaleSize(size: number, factor: number): number {
  return Math.min(size, Math.max(1024, Math.round(size * factor)));
}
