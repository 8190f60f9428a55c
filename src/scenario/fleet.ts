/**
 * The fleet a scenario declares, in one form whichever way the file wrote it:
 * node pools (`cluster.pools`, or the flat `cluster.nodes` as one pool named
 * "default") and registries (`registries`, or the flat `registry` / `mirror` /
 * `links` as one registry named "registry" with a mirror named "mirror").
 * Everything past the schema reads pools and registries through here; the
 * names are stable, so results, workloads and fault targets refer to them.
 */
import type { Scenario } from './schema.js';

/** The pool the flat form (`cluster.nodes`) is. */
export const DEFAULT_POOL = 'default';
/** The registry the flat form (`registry:`) is. */
export const DEFAULT_REGISTRY = 'registry';
/** The flat form's mirror (`mirror:`). */
export const DEFAULT_MIRROR = 'mirror';

type RegistrySection = Scenario['registry'];
type MirrorSection = NonNullable<Scenario['mirror']>;
type LinkSection = NonNullable<Scenario['links']['registry']>;
type KubeletSection = Scenario['cluster']['kubelet'];

export interface FleetMirror extends MirrorSection {
  name: string;
}

export interface FleetRegistry extends RegistrySection {
  name: string;
  mirror?: FleetMirror;
  links: { registry?: LinkSection; mirror?: LinkSection; upstream?: LinkSection };
}

export interface FleetPool {
  name: string;
  nodes: number;
  /** os/arch[/variant]; undefined: the machine's own (as the flat form). */
  platform?: string;
  links: { registry?: LinkSection; mirror?: LinkSection };
  /** cluster.kubelet with the pool's own settings over it. */
  kubelet: KubeletSection;
  kubernetesVersion?: string;
  containerdVersion?: string;
  /** Node names are `<prefix>-1`, `<prefix>-2`, ...: `node` for the flat form, `<pool>-node` for a named pool. */
  nodePrefix: string;
}

type FleetInput = Pick<Scenario, 'registry' | 'mirror' | 'links' | 'registries'>;

/** Every registry of the scenario, in the order declared; the first is where images without `registry:` live. */
export function scenarioRegistries(sc: FleetInput): FleetRegistry[] {
  if (sc.registries) {
    return sc.registries.map(({ mirror, links, ...r }) => ({
      ...r,
      ...(mirror ? { mirror: { ...mirror, name: mirror.name ?? `${r.name}-mirror` } } : {}),
      links: links ?? {},
    }));
  }
  return [{ ...sc.registry, name: DEFAULT_REGISTRY, ...(sc.mirror ? { mirror: { ...sc.mirror, name: DEFAULT_MIRROR } } : {}), links: sc.links }];
}

/** Every node pool of the scenario, in the order declared. */
export function scenarioPools(sc: Pick<Scenario, 'cluster'>): FleetPool[] {
  const c = sc.cluster;
  const version = (v: string | undefined): { kubernetesVersion?: string } => (v ? { kubernetesVersion: v } : {});
  const containerd = (v: string | undefined): { containerdVersion?: string } => (v ? { containerdVersion: v } : {});
  if (!c.pools) {
    return [{ name: DEFAULT_POOL, nodes: c.nodes, links: {}, kubelet: c.kubelet, ...version(c.kubernetesVersion), ...containerd(c.containerdVersion), nodePrefix: 'node' }];
  }
  return c.pools.map((p) => {
    const own = Object.fromEntries(Object.entries(p.kubelet ?? {}).filter(([, v]) => v !== undefined));
    return {
      name: p.name,
      nodes: p.nodes,
      ...(p.platform ? { platform: p.platform } : {}),
      links: p.links ?? {},
      kubelet: { ...c.kubelet, ...own },
      ...version(p.kubernetesVersion ?? c.kubernetesVersion),
      ...containerd(p.containerdVersion ?? c.containerdVersion),
      nodePrefix: `${p.name}-node`,
    };
  });
}

/** All nodes of the scenario. */
export function nodeCount(sc: Pick<Scenario, 'cluster'>): number {
  return scenarioPools(sc).reduce((n, p) => n + p.nodes, 0);
}

/** The registry an image is seeded into and pulled from. */
export function registryOfImage(sc: FleetInput & Pick<Scenario, 'images'>, ref: string): FleetRegistry {
  const registries = scenarioRegistries(sc);
  const named = sc.images.find((i) => i.ref === ref)?.registry;
  return (named && registries.find((r) => r.name === named)) || registries[0]!;
}

/** The registry a storm hammers (or whose mirror it hammers): the one it names, else the first; undefined for an unknown name. */
export function stormRegistry(sc: FleetInput, storm: { registry?: string | undefined }): FleetRegistry | undefined {
  const registries = scenarioRegistries(sc);
  return storm.registry === undefined ? registries[0] : registries.find((r) => r.name === storm.registry);
}

/**
 * The link a pool's nodes reach a registry (or its mirror) over, and where it was declared: the pool's own link
 * wins over the registry's (which, in the flat form, is the top-level `links`). The origin keys a shared uplink:
 * nodes whose link comes from one declaration share it.
 */
export function routeLink(pool: FleetPool, registry: FleetRegistry, kind: 'registry' | 'mirror'): { link: LinkSection; origin: string } | undefined {
  const own = pool.links[kind];
  if (own) return { link: own, origin: `pool:${pool.name}:${kind}` };
  const theirs = registry.links[kind];
  return theirs ? { link: theirs, origin: `registry:${registry.name}:${kind}` } : undefined;
}

/** What a fault (or anything else) can name: registries, mirrors and pools, each name unique across all three. */
export interface FleetNames {
  registries: string[];
  mirrors: string[];
  pools: string[];
}

export function fleetNames(sc: FleetInput & Pick<Scenario, 'cluster'>): FleetNames {
  const registries = scenarioRegistries(sc);
  return {
    registries: registries.map((r) => r.name),
    mirrors: registries.flatMap((r) => (r.mirror ? [r.mirror.name] : [])),
    pools: scenarioPools(sc).map((p) => p.name),
  };
}
