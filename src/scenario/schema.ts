import { LOAD_PROFILES } from '../load/types.js';
import { DEFAULT_POOL, fleetNames, scenarioPools, scenarioRegistries, stormRegistry } from './fleet.js';
import { PULL_CAUSES } from '../measure/pull-cause.js';
import { s, type Infer } from './schema-builder.js';
import { signing, verify } from './supply-chain-schema.js';
import { CONTAINERD_VERSIONS, DEFAULT_CONTAINERD_VERSION, DEFAULT_KUBERNETES_VERSION, KUBERNETES_VERSIONS, kubeletProfile } from '../node/profiles.js';
import { effectiveImagePullSettings } from '../node/kubelet/config.js';
import { isPullbenchError } from '../errors.js';
import { unappliablePoolSettings, unappliableSettings } from '../cluster/kube/kubelet-settings.js';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform } from '../oci/platform.js';

/**
 * The scenario schema: the single source for runtime validation, the
 * `Scenario` type, schema/scenario.schema.json (schema/generate.ts) and
 * docs/scenario-reference.md (npm run docs:scenario); every field carries a
 * description, which both publish.
 * Units are parsed at load time: sizes -> bytes, durations -> ms,
 * bandwidths -> bit/s, percentages -> fractions in [0, 1].
 */

export const API_VERSION = 'pullbench.dev/v1alpha1';

const platform = () => s.string({ pattern: /^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, patternHint: 'os/arch like linux/amd64' });

const name = () => s.string({ pattern: /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, patternHint: 'a lower-case DNS-style name like "app-v1"' });

const user = s.object({
  username: s.string({ minLength: 1 }).describe('User name'),
  password: s.secret().describe('Password; write ${env:NAME} to keep it out of the file (redacted in results)'),
});

const rateLimit = s
  .object({
    manifestGets: s.int({ min: 1 }).describe('Manifest GETs allowed per window, per client (Docker Hub counts pulls this way)'),
    window: s.duration().default(21_600_000).describe('Window length, e.g. 6h'),
  })
  .describe('A Docker Hub-like limit: more manifest GETs than this in the window get 429 Too Many Requests');

const faults = s.object({
  errorRate: s.percent().default(0).describe('Fraction of requests answered with 503 Service Unavailable, e.g. 5%'),
  latency: s.duration().default(0).describe('Extra latency per request'),
}).describe("Steady faults on the rollout's pull requests (never on seeding); timed ones go under the top-level faults");

export const FAULT_KINDS = ['refuse', 'reset', 'stall', 'latency', 'corrupt', 'credentials-expire', 401, 404, 429, 500, 503] as const;
/** Kinds the peers can take (target peers): what a P2P agent does to the peers it serves. */
const PEER_FAULT_KINDS: ReadonlySet<string | number> = new Set(['refuse', 'reset', 'stall', 'corrupt']);
/** Kinds a TCP link can take (an HTTP status needs a server to answer it). */
const LINK_FAULT_KINDS: ReadonlySet<string | number> = new Set(['refuse', 'reset', 'stall', 'latency']);

const fault = s
  .object({
    target: s
      .string({ pattern: /^(link:)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, patternHint: 'a registry or mirror name (registry, mirror in the flat form), proxy, peers, or link:NAME' })
      .describe('What fails: a registry or mirror by name (registry and mirror in the flat form) or proxy (the server), peers (topology p2p: the nodes\' P2P agents as their peers reach them), or link:NAME (the nodes\' way to it; link:upstream, or link:REGISTRY.upstream with registries:, is a mirror\'s way to its registry)'),
    at: s.duration().describe('When the fault starts, from the start of the rollout (or of step `after`), e.g. 20s'),
    after: s.string({ minLength: 1 }).optional().describe('A rollout step\'s name: `at` counts from when that step starts (mid-rollout faults that do not depend on how long earlier steps took)'),
    for: s.duration().describe('How long it lasts, e.g. 60s'),
    kind: s
      .enum(FAULT_KINDS)
      .describe('refuse: connections refused; reset: connections reset mid-body; stall: requests and bodies held until the window ends; latency: extra delay per request; corrupt (target peers only): bodies arrive with a flipped bit per chunk; credentials-expire: every request carrying credentials gets 401 (an expired or rotated password until the pull secret catches up); 401, 404, 429, 500, 503: that HTTP status'),
    latency: s.duration().optional().describe('For kind latency: the extra delay per request (default 1s)'),
    nodes: s
      .array(s.string({ minLength: 1 }), { min: 1, unique: true })
      .optional()
      .describe('For target peers: the nodes whose P2P agents fail, by name (node-1, node-2, ...; POOL-node-1 with pools); default every node'),
  })
  .describe('A fault on a timeline')
  .refine((f, report) => {
    if (f.latency !== undefined && f.kind !== 'latency') report(['latency'], 'latency is only for kind latency');
    if (f.target.startsWith('link:') && !LINK_FAULT_KINDS.has(f.kind)) report(['kind'], `a link can refuse, reset, stall or add latency; ${f.kind} needs a server: target registry, mirror or proxy`);
    if (f.target === 'peers' && !PEER_FAULT_KINDS.has(f.kind)) report(['kind'], `peers can refuse, reset, stall or corrupt; ${f.kind} needs a server: target registry, mirror or proxy`);
    if (f.target !== 'peers' && f.kind === 'corrupt') report(['kind'], 'corrupt is for target peers (a registry or mirror serving corrupt bytes is not modelled)');
    if (f.target !== 'peers' && f.nodes !== undefined) report(['nodes'], 'nodes is for target peers');
  });

const proxy = s
  .object({
    auth: s
      .object({
        username: s.string({ minLength: 1 }).describe('Proxy user name'),
        password: s.secret().describe('Proxy password: write ${env:NAME} (redacted in results, never logged)'),
      })
      .optional()
      .describe('Basic proxy authentication (Proxy-Authorization), as containerd sends the user info of HTTP_PROXY'),
    noProxy: s
      .array(s.string({ minLength: 1 }), { unique: true })
      .default([])
      .describe('Registries the nodes reach directly (NO_PROXY): registry, mirror, or a host pattern as Go\'s NO_PROXY takes it (.example.com, *.example.com, 10.0.0.0/8)'),
  })
  .describe("An HTTP forward / CONNECT proxy between the nodes and the registries, set in the nodes' runtime environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) as containerd reads it; pod env changes nothing for pulls");

// The fields a registry has in either form (the flat `registry:` and each `registries:` entry).
const registryShape = {
  provider: s
    .enum(['embedded', 'distribution', 'container', 'external'])
    .default('embedded')
    .describe("embedded: pullbench's registry, in process; distribution: Debian's docker-registry as a child process; container: CNCF distribution through testcontainers (needs Docker); external: an existing registry at url"),
  url: s.string({ pattern: /^https?:\/\/[^/]+$/, patternHint: 'a URL like http://127.0.0.1:5000' }).optional().describe('For provider external'),
  image: s.string({ minLength: 1 }).optional().describe('For provider container (default registry:2)'),
  auth: s
    .object({
      type: s.enum(['none', 'basic', 'token']).default('token').describe('none, basic (HTTP Basic), or token (Bearer tokens from a token endpoint, as Docker Hub)'),
      users: s.array(user, { min: 1 }).describe('The users that may pull and push'),
    })
    .optional()
    .describe('Authentication of the registry'),
  rateLimit: rateLimit.optional(),
  faults: faults.optional(),
};

const checkRegistryUrl = (r: { provider: string; url?: string | undefined }, report: (path: (string | number)[], message: string) => void): void => {
  if (r.provider === 'external' && !r.url) report(['url'], 'provider external needs a url');
  if (r.provider !== 'external' && r.url) report(['url'], 'url is only for provider external');
};

const registry = s
  .object(registryShape)
  .describe('The registry the images are seeded into and pulled from (the one-registry form of `registries`; its name is "registry")')
  .refine(checkRegistryUrl);

const mirrorShape = {
  provider: s.enum(['embedded', 'distribution', 'container']).default('embedded').describe('As registry.provider; mirrors run fresh (cold) for each repetition'),
  image: s.string({ minLength: 1 }).optional().describe('For provider container (default registry:2)'),
  faults: faults.optional(),
};

const mirror = s.object(mirrorShape).describe('A pull-through cache of the registry (its name is "mirror")');

const link = s.object({
  bandwidth: s.bandwidth().describe('Per-link bandwidth, e.g. 200Mbit'),
  latency: s.duration().default(0).describe('One-way latency, e.g. 40ms'),
  jitter: s.duration().default(0).describe('Random extra one-way delay, uniform up to this much; data is never reordered'),
  sharedUplink: s.bandwidth().optional().describe('All nodes on this link share this much egress (fair share)'),
}).describe('A shaped link: bandwidth, latency and jitter each way');

const registryLinks = s.object({
  registry: link.optional().describe('nodes <-> this registry'),
  mirror: link.optional().describe("nodes <-> this registry's mirror"),
  upstream: link.optional().describe("this registry's mirror <-> this registry"),
}).describe('Shaped links of this registry (emulated driver; unshaped where absent); a pool\'s own links take precedence');

const namedRegistry = s
  .object({
    name: name().describe('Names the registry: images, pull secrets, storms, faults and results refer to it'),
    ...registryShape,
    mirror: s
      .object({ name: name().optional().describe('Names the mirror for faults and results (default <registry name>-mirror)'), ...mirrorShape })
      .optional()
      .describe("A pull-through cache of this registry; mirror arms pull this registry's images through it"),
    links: registryLinks.optional(),
  })
  .describe('A registry: its images are seeded into it and pulled from it by host, with its own auth, limits, faults, links and mirror')
  .refine(checkRegistryUrl);
const peerLink = s.object({
  upload: s.bandwidth().describe("What a node sends to its peers, shared by every peer it serves at once (its own NIC's egress)"),
  download: s.bandwidth().optional().describe('What a node receives from its peers, shared by every peer it fetches from at once (default: upload)'),
  latency: s.duration().default(0).describe('One-way latency between two nodes, e.g. 1ms'),
}).describe('nodes <-> nodes (topology p2p): per-node upload and download capacity');

const p2pFaults = s.object({
  after: s.duration().default(0).describe('From the first blob a node asks its P2P agent for (mid-rollout)'),
  kill: s.percent().default(0).describe('Share of the nodes whose P2P agent stops (connections dropped, refused after)'),
  corrupt: s.percent().default(0).describe('Share of the nodes whose P2P agent then serves its peers corrupt bytes (one flipped bit per chunk)'),
}).describe('Peers killed or serving corrupt bytes mid-rollout; nodes fall back and the results count the fallbacks');

const p2p = s
  .object({
    mode: s
      .array(s.enum(['whole-blob', 'pieces']), { min: 1, unique: true })
      .default(['whole-blob'])
      .describe('Each mode is an arm of topology p2p: whole-blob (Spegel: nodes serve the blobs committed in their content store) or pieces (Dragonfly: blobs cut into pieces, shared while they arrive)'),
    resolveTags: s.boolean().default(true).describe("Whole-blob: peers also resolve tags to digests (Spegel's --resolve-tags, default true)"),
    advertiseDelay: s.duration().default(0).describe('Whole-blob: from a blob committed on a node to its advertisement reaching the index (Spegel advertises on content-create events, re-advertising every 15 min)'),
    lookupCacheTtl: s.duration().default(5000).describe("Whole-blob: how long a node keeps a lookup's answer, refreshed after half of it (Spegel's lookupCacheTTL, 5s)"),
    resolveRetries: s.int({ min: 1, max: 100 }).default(3).describe("Whole-blob: peers tried per request before the node falls back to the registry (Spegel's --mirror-resolve-retries, 3)"),
    pieceLength: s.size().optional().describe("Pieces: piece size (default Dragonfly's: blob size / 500 rounded up to a power of two, 4 MiB to 64 MiB; scaled by scale.bytes)"),
    candidateParentLimit: s.int({ min: 1, max: 100 }).default(3).describe("Pieces: parents the scheduler gives a peer at most (Dragonfly's candidateParentLimit, 3)"),
    filterParentLimit: s.int({ min: 1, max: 1000 }).default(15).describe("Pieces: peers the scheduler samples to pick parents from (Dragonfly's filterParentLimit, 15)"),
    backToSourceCount: s.int({ min: 1, max: 100_000 }).default(200).describe("Pieces: peers per blob allowed back to the registry (Dragonfly's backToSourceCount, 200)"),
    retryBackToSourceLimit: s.int({ min: 1, max: 100 }).default(4).describe("Pieces: failed schedulings before a peer goes back to the registry (Dragonfly's retryBackToSourceLimit, 4)"),
    retryInterval: s.duration().default(500).describe("Pieces: wait between schedulings that found no parent (Dragonfly's retryInterval, 500ms)"),
    concurrentPieceCount: s.int({ min: 1, max: 64 }).default(8).describe("Pieces: pieces a peer downloads at once (dfdaemon's download.concurrentPieceCount, 8)"),
    faults: p2pFaults.optional(),
  })
  .describe('Peer-to-peer distribution (topology p2p): the modes and their parameters, upstream defaults');

const synth = s.object({
  layers: s.array(s.size(), { min: 1 }).describe('Layer sizes (uncompressed content is random, so compressed ~= size)'),
  platforms: s
    .array(platform(), { min: 1, unique: true })
    .default(['linux/amd64'])
    .describe('os/arch[/variant] of each platform, each with its own layers; more than one makes an OCI image index'),
  compression: s.enum(['gzip', 'none']).default('gzip').describe('Layer compression: gzip (level 1) or none (plain tar)'),
}).describe('A synthesised image: deterministic, incompressible random layers, plus a /pause layer on linux/amd64 and arm64 so it runs');

const image = s
  .object({
    ref: s
      .string({ pattern: /^[a-z0-9]+([._/-][a-z0-9]+)*:[\w][\w.-]{0,127}$/, patternHint: 'repository:tag like demo/app:v1 (the registry host is added at run time)' })
      .describe('repository:tag, e.g. demo/app:v1; the registry host is added at run time'),
    synth: synth.optional(),
    from: s.string({ minLength: 1 }).optional().describe('Another image of this scenario whose layers come first (v1 -> v2 pairs)'),
    import: s.string({ minLength: 1 }).optional().describe('An OCI image layout directory, relative to the scenario file'),
    registry: name().optional().describe('With registries: the registry (by name) the image is seeded into and pulled from; its host goes in front of ref (default the first registry)'),
    absent: s.boolean().optional().describe('Never seeded: pulls of it get 404 (manifest unknown); roll it out with expect: failure'),
  })
  .refine((i, report) => {
    if (i.absent) {
      if (i.synth || i.import || i.from) report(['absent'], 'an absent image has no synth, import or from');
      return;
    }
    if (!i.synth && !i.import) report([], 'an image needs synth or import (or absent: true)');
    if (i.synth && i.import) report(['import'], 'use either synth or import, not both');
    if (i.from && !i.synth) report(['from'], 'from works with synth only');
  });

const pullSecret = s.object({
  name: name().describe('Secret name, as pods list it in imagePullSecrets'),
  username: s.string({ minLength: 1 }).describe('Registry user name'),
  password: s.secret().describe('Password; write ${env:NAME} to keep it out of the file (redacted in results)'),
  registry: name().optional().describe("With registries: the registry (by name) whose host the secret's .dockerconfigjson names (default every registry)"),
});

const kubeletDescriptions = {
  serializeImagePulls: "Pull one image at a time per node (kubelet's serializeImagePulls). Unset: true, or false when maxParallelImagePulls is 2 or more (kubelet's v1beta1 defaulting)",
  maxParallelImagePulls: 'With serializeImagePulls false: at most this many pulls at once per node (default no limit)',
  registryPullQPS: 'Pulls started per second per node (token bucket; 0: no limit; unset: 5); over it a pull fails with "pull QPS exceeded"',
  registryBurst: 'Burst of the registryPullQPS token bucket (unset or 0: 10, as kubelet defaults it)',
  maxConcurrentDownloads: "containerd's max_concurrent_downloads (unset: 3, containerd's default)",
  imagePullProgressTimeout: "containerd's image_pull_progress_timeout: a pull with no progress for this long is cancelled (`context canceled`); unset: 5m, containerd's default; 0s: never",
  ensureSecretPulledImages: 'KEP-2535: a pod must hold credentials for a private image even when the image is already on the node',
};

const kubelet = s.object({
  serializeImagePulls: s.boolean().optional().describe(kubeletDescriptions.serializeImagePulls),
  maxParallelImagePulls: s.int({ min: 1 }).optional().describe(kubeletDescriptions.maxParallelImagePulls),
  registryPullQPS: s.number({ min: 0 }).optional().describe(kubeletDescriptions.registryPullQPS),
  registryBurst: s.int({ min: 0 }).optional().describe(kubeletDescriptions.registryBurst),
  maxConcurrentDownloads: s.int({ min: 1 }).optional().describe(kubeletDescriptions.maxConcurrentDownloads),
  imagePullProgressTimeout: s.duration().optional().describe(kubeletDescriptions.imagePullProgressTimeout),
  ensureSecretPulledImages: s.boolean().default(false).describe(kubeletDescriptions.ensureSecretPulledImages),
}).refine((k, report) => {
  try {
    effectiveImagePullSettings(k);
  } catch (err) {
    if (!isPullbenchError(err, 'INVALID_ARGUMENT')) throw err;
    const at = k.maxParallelImagePulls !== undefined ? 'maxParallelImagePulls' : 'serializeImagePulls';
    for (const problem of (err.details as { problems: string[] }).problems) report([at], `kubelet would refuse this: ${problem}`);
  }
});

// A pool's kubelet settings: each one it leaves out is cluster.kubelet's.
const poolKubelet = s.object({
  serializeImagePulls: s.boolean().optional().describe(kubeletDescriptions.serializeImagePulls),
  maxParallelImagePulls: s.int({ min: 1 }).optional().describe(kubeletDescriptions.maxParallelImagePulls),
  registryPullQPS: s.number({ min: 0 }).optional().describe(kubeletDescriptions.registryPullQPS),
  registryBurst: s.int({ min: 0 }).optional().describe(kubeletDescriptions.registryBurst),
  maxConcurrentDownloads: s.int({ min: 1 }).optional().describe(kubeletDescriptions.maxConcurrentDownloads),
  imagePullProgressTimeout: s.duration().optional().describe(kubeletDescriptions.imagePullProgressTimeout),
  ensureSecretPulledImages: s.boolean().optional().describe(kubeletDescriptions.ensureSecretPulledImages),
}).describe("This pool's kubelet image-pull settings; each one left out is cluster.kubelet's. Driver kind gives them to the pool's workers as kubelet flags; maxConcurrentDownloads, imagePullProgressTimeout (containerd's) and maxParallelImagePulls cannot differ per pool there");

const pool = s.object({
  name: name().describe('Names the pool: node names (<name>-node-1, ...), results, faults and workloads\' pool field refer to it'),
  nodes: s.int({ min: 1, max: 100_000 }).describe('Node count of this pool'),
  platform: platform().optional().describe("os/arch[/variant] the pool's nodes run, e.g. linux/arm64: they pull that platform's manifest from an image index (default this machine's platform, as the flat form; driver kind: only this machine's)"),
  links: s
    .object({
      registry: link.optional().describe("This pool's nodes <-> every registry (takes precedence over the registry's own link)"),
      mirror: link.optional().describe("This pool's nodes <-> every mirror"),
    })
    .optional()
    .describe("This pool's links (emulated driver); where absent, the registry's links, then the top-level links"),
  kubelet: poolKubelet.optional(),
  kubernetesVersion: s.enum([...KUBERNETES_VERSIONS]).optional().describe("This pool's kubelet release (default cluster.kubernetesVersion): a fleet mid-upgrade"),
  containerdVersion: s.enum([...CONTAINERD_VERSIONS]).optional().describe("This pool's containerd release (default cluster.containerdVersion)"),
}).describe('A node pool: nodes alike in platform, links and kubelet settings');

const clusterFields = s.object({
  driver: s
    .enum(['emulated', 'kind', 'k3s', 'kubeconfig', 'model'])
    .default('emulated')
    .describe('emulated: in-process nodes; kind, k3s: a cluster pullbench creates in Docker; kubeconfig: an existing cluster; model: emulated nodes in virtual time over a flow model of the network (docs/model.md)'),
  nodes: s.int({ min: 1, max: 100_000 }).default(3).describe('Node count (kind: workers; k3s: 1); at most 5,000, or 100,000 with driver model'),
  runtime: s.enum(['embedded', 'containerd']).default('embedded').describe('For driver emulated: embedded (containerd-like, in process) or containerd (a real containerd per node)'),
  layerStore: s
    .enum(['disk', 'inflate-only'])
    .default('disk')
    .describe("Runtime embedded: disk (default) does a containerd node's work per pull (content-store writes and syncs, ordered applies, diff-id checks), the store whose timing matches containerd's; inflate-only verifies and decompresses layers as they arrive and writes nothing: cheaper, for thousands of nodes, and faster than a real node"),
  kubernetesVersion: s
    .enum([...KUBERNETES_VERSIONS])
    .optional()
    .describe(`Drivers emulated and model: the kubelet release whose image-pull behaviour and event texts the nodes follow (default ${DEFAULT_KUBERNETES_VERSION}); a real cluster reports its own`),
  containerdVersion: s
    .enum([...CONTAINERD_VERSIONS])
    .optional()
    .describe(`Runtime embedded and driver model: the containerd release whose pull behaviour the nodes follow (default ${DEFAULT_CONTAINERD_VERSION}); runtime containerd runs the installed one`),
  kubelet: kubelet.describe("Kubelet and containerd image-pull settings (with pools: of every pool, unless the pool sets its own). Emulated nodes follow them; kind creates its nodes with them (a KubeletConfiguration patch, containerd's max_concurrent_downloads), k3s with --kubelet-arg (no containerd setting, no maxParallelImagePulls: it has no kubelet flag); a kubeconfig cluster refuses any that is set. results.json records what the nodes ran with").default({ ensureSecretPulledImages: false }),
  pools: s
    .array(pool, { min: 1 })
    .optional()
    .describe('Node pools, each with its own node count, platform, links and kubelet settings; instead of nodes (which is one pool named "default")'),
  kubeconfig: s.string({ minLength: 1 }).optional().describe('For driver kubeconfig: the kubeconfig file (default $KUBECONFIG or ~/.kube/config)'),
  context: s.string({ minLength: 1 }).optional().describe('For driver kubeconfig: the context (default the current one)'),
  keep: s.boolean().optional().describe('For driver kind: keep the cluster after the run'),
  nodeImage: s.string({ minLength: 1 }).optional().describe('For drivers kind (kindest/node) and k3s (rancher/k3s): the node image'),
  coldCacheImage: s.string({ minLength: 1 }).optional().describe('For real drivers: the image of the cold-cache DaemonSet, which needs a shell (default busybox:1.36; crictl comes from the node)'),
  namespacePrefix: name().optional().describe('For real drivers: prefix of the namespace pullbench creates per repetition (default pullbench)'),
  calibration: s.string({ minLength: 1 }).optional().describe('For driver model: a file from `pullbench calibrate --out`, relative to the scenario (default: the built-in calibration)'),
  command: s.array(s.string({ minLength: 1 }), { min: 1 }).optional().describe('For real drivers: overrides the image entrypoint, e.g. [sleep, "3600"]; the image must contain it. Default: the image\'s own (synthesised images run /pause, which waits for SIGTERM)'),
});

const cluster = clusterFields
  .describe('Where the pods run')
  .refine((c, report) => {
    if (c.driver !== 'kubeconfig' && c.kubeconfig !== undefined) report(['kubeconfig'], 'kubeconfig is only for driver kubeconfig');
    if (c.driver !== 'kubeconfig' && c.context !== undefined) report(['context'], 'context is only for driver kubeconfig');
    if (c.driver !== 'kind' && c.keep !== undefined) report(['keep'], 'keep is only for driver kind');
    if (c.driver !== 'kind' && c.driver !== 'k3s' && c.nodeImage !== undefined) report(['nodeImage'], 'nodeImage is only for drivers kind and k3s');
    const total = c.pools ? c.pools.reduce((n, p) => n + p.nodes, 0) : c.nodes;
    if (c.driver !== 'model' && total > 5000) report(c.pools ? ['pools'] : ['nodes'], 'at most 5,000 nodes (driver model goes to 100,000)');
    if (c.driver === 'model' && total > 100_000) report(['pools'], 'at most 100,000 nodes');
    if (c.driver !== 'model' && c.calibration !== undefined) report(['calibration'], 'calibration is only for driver model');
    if ((c.driver === 'emulated' || c.driver === 'model') && c.coldCacheImage !== undefined) report(['coldCacheImage'], 'coldCacheImage is only for drivers kind, k3s and kubeconfig');
    if ((c.driver === 'emulated' || c.driver === 'model') && c.command !== undefined) report(['command'], 'command is only for drivers kind, k3s and kubeconfig');
    if ((c.driver === 'emulated' || c.driver === 'model') && c.namespacePrefix !== undefined) report(['namespacePrefix'], 'namespacePrefix is only for drivers kind, k3s and kubeconfig');
    if (c.driver !== 'emulated' && c.runtime !== 'embedded') report(['runtime'], 'runtime is for driver emulated; a real cluster runs its own containerd');
    const emulatedNodes = c.driver === 'emulated' || c.driver === 'model';
    if ((c.driver !== 'emulated' || c.runtime !== 'embedded') && c.layerStore !== 'disk') report(['layerStore'], 'layerStore inflate-only is for driver emulated with runtime embedded');
    if (!emulatedNodes && c.kubernetesVersion !== undefined) report(['kubernetesVersion'], `kubernetesVersion is for drivers emulated and model; a ${c.driver} cluster reports its own (recorded in results.json)`);
    if (((c.driver !== 'emulated' && c.driver !== 'model') || c.runtime !== 'embedded') && c.containerdVersion !== undefined) report(['containerdVersion'], 'containerdVersion is for runtime embedded (drivers emulated and model); a real containerd reports its own (recorded in results.json)');
    if (emulatedNodes && c.kubelet.ensureSecretPulledImages && !kubeletProfile(c.kubernetesVersion).ensureSecretPulledImages) report(['kubelet', 'ensureSecretPulledImages'], `ensureSecretPulledImages (KEP-2535) needs kubernetesVersion 1.33 or later, not ${c.kubernetesVersion ?? ''}`);
    if (c.driver === 'k3s' && c.nodes !== 1) report(['nodes'], 'the k3s driver runs a single server node; set nodes: 1');
    if (c.driver === 'kind' || c.driver === 'k3s' || c.driver === 'kubeconfig') {
      for (const { field, why } of unappliableSettings(c.driver, c.kubelet)) report(['kubelet', field], why);
    }
    checkPools(c, report);
  });

// Pools: unique names; what each pool sets must be something its driver and runtime can give a node.
function checkPools(c: Infer<typeof clusterFields>, report: (path: (string | number)[], message: string) => void): void {
  const seen = new Set<string>();
  c.pools?.forEach((p, i) => {
    const at = (...rest: (string | number)[]): (string | number)[] => ['pools', i, ...rest];
    if (seen.has(p.name)) report(at('name'), `duplicate pool name "${p.name}"`);
    seen.add(p.name);
    if (c.driver === 'k3s' || c.driver === 'kubeconfig' || c.driver === 'model') {
      report(at(), c.driver === 'k3s'
        ? 'the k3s driver runs a single server node: it has no pools; use nodes: 1'
        : c.driver === 'kubeconfig'
          ? 'pools create nodes; an existing cluster (driver kubeconfig) has its own; remove pools'
          : 'the model driver does not cover node pools yet; run it with driver emulated');
      return;
    }
    if (p.platform !== undefined && c.driver === 'kind') {
      // A kind node is a container on this machine: its containerd pulls for this machine's platform, whatever the pool says.
      const host = formatPlatform(hostPlatform());
      if (formatPlatform(normalizePlatform(parsePlatform(p.platform))) !== host) {
        report(at('platform'), `kind nodes are containers on this machine and pull for its platform, ${host}: a kind pool cannot be ${p.platform}; remove platform (or set ${host}), or run the pool with driver emulated`);
      }
    } else if (p.platform !== undefined && (c.driver !== 'emulated' || c.runtime !== 'embedded')) {
      report(at('platform'), c.driver === 'emulated'
        ? 'platform needs runtime embedded: a real containerd pulls for the machine it runs on'
        : `platform is for driver emulated: ${c.driver} nodes run this machine's platform`);
    }
    if (c.driver === 'kind') for (const { field, why } of unappliablePoolSettings(c.kubelet, p.kubelet ?? {})) report(at('kubelet', field), why);
    if (c.driver !== 'emulated' && p.kubernetesVersion !== undefined) report(at('kubernetesVersion'), `kubernetesVersion is for driver emulated; a ${c.driver} cluster reports its own`);
    if ((c.driver !== 'emulated' || c.runtime !== 'embedded') && p.containerdVersion !== undefined) report(at('containerdVersion'), 'containerdVersion is for runtime embedded; a real containerd reports its own');
    const version = p.kubernetesVersion ?? c.kubernetesVersion;
    if (c.driver === 'emulated' && (p.kubelet?.ensureSecretPulledImages ?? c.kubelet.ensureSecretPulledImages) && !kubeletProfile(version).ensureSecretPulledImages) {
      report(at('kubelet', 'ensureSecretPulledImages'), `ensureSecretPulledImages (KEP-2535) needs kubernetesVersion 1.33 or later, not ${version ?? ''}`);
    }
  });
}

const podTemplate = {
  image: s.string({ minLength: 1 }).describe('An image of this scenario, by ref'),
  pool: name().optional().describe("Run the pods on this pool's nodes only (a nodeSelector on the pool's label pullbench.io/pool); default every node"),
  imagePullSecrets: s.array(name(), { unique: true }).default([]).describe('Names of pullSecrets the pods use'),
  env: s
    .array(s.object({
      name: s.string({ pattern: /^[-._a-zA-Z][-._a-zA-Z0-9]*$/, patternHint: 'an environment variable name, e.g. HTTP_PROXY' }).describe('Variable name, e.g. HTTP_PROXY'),
      value: s.string().describe('Its value; write ${env:NAME} for one that holds a password (redacted in results)'),
    }))
    .default([])
    .describe("The container's environment, as a pod spec's env. It changes nothing for pulls: kubelet hands the pull to the runtime over CRI (PullImageRequest: image, auth, sandbox config), so HTTP_PROXY here never reaches it; see proxy for the runtime's"),
};

const deployment = s.object({
  ...podTemplate,
  // Kubernetes' documented limit for one cluster (docs: Considerations for large clusters): 150,000 pods in total.
  replicas: s.int({ min: 0, max: 150_000 }).default(1).describe("Pod count: at most 150,000, a whole cluster's pods at Kubernetes' documented limit (what fits this machine is checked before the run: docs/scale.md#memory)"),
  maxSurge: s.intOrPercent().default('25%').describe('Pods above replicas during a rolling update: a count or a percentage (rounded up)'),
  maxUnavailable: s.intOrPercent().default('25%').describe('Pods that may be unavailable during a rolling update: a count or a percentage (rounded down)'),
}).describe('A Deployment, rolled out in waves as the Deployment controller does');

const daemonSet = s.object({
  ...podTemplate,
  maxUnavailable: s.intOrPercent().default(1).describe('Nodes whose pod may be unavailable during a rolling update: a count or a percentage'),
}).describe('A DaemonSet: one pod per node');

const rollout = s
  .object({
    name: name().describe('Names the step, and the workload an update targets'),
    deployment: deployment.optional(),
    daemonSet: daemonSet.optional(),
    update: s
      .object({
        target: name().describe('The name of an earlier deployment or daemonSet step'),
        image: s.string({ minLength: 1 }).describe('The new image, by ref'),
      })
      .optional()
      .describe('Roll an earlier workload to a new image (v1 -> v2) with its rolling-update strategy'),
    expect: s.enum(['success', 'failure']).default('success').describe('failure: these pods are meant not to start (e.g. a wrong pull secret)'),
    timeout: s.duration().default(300_000).describe('Longest the step may run; a step still rolling out then is recorded as timed out'),
    failFast: s
      .boolean()
      .default(true)
      .describe('End the step early when every pod not ready failed to pull with 401, 403 or 404 on every credential; false waits out the timeout as kubelet keeps retrying'),
  })
  .describe('A step: exactly one of deployment, daemonSet, update')
  .refine((r, report) => {
    const kinds = [r.deployment, r.daemonSet, r.update].filter((x) => x !== undefined).length;
    if (kinds !== 1) report([], 'a rollout needs exactly one of deployment, daemonSet, update');
  });

const mixWeight = (what: string) => s.int({ min: 0, max: 10_000 }).optional().describe(`Weight of ${what} in each cycle`);

const storm = s
  .object({
    name: name().optional().describe('Names the storm in results (default storm-1, storm-2, ...)'),
    profile: s.enum(LOAD_PROFILES).describe('The request pattern, as `pullbench load --profile`'),
    target: s.enum(['registry', 'mirror']).default('registry').describe("registry: the scenario's registry; mirror: the arm's mirror (arms without one run no such storm)"),
    registry: name().optional().describe('With registries: which registry (by name), or whose mirror, the storm hammers (default the first)'),
    connections: s.int({ min: 1, max: 10_000 }).default(10).describe('Concurrent connections, shared by the images (at least one each)'),
    rate: s.int({ min: 1, max: 1_000_000 }).optional().describe('Requests per second across all connections (default: as fast as possible)'),
    duration: s.union(s.literal('rollout'), s.duration(), '"rollout" or a duration like 30s').default('rollout').describe('rollout: until the rollout ends; a duration: that long, or until the rollout ends if sooner'),
    startBefore: s.duration().default(1000).describe('The storm starts this long before each rollout'),
    images: s.array(s.string({ minLength: 1 }), { min: 1, unique: true }).optional().describe('Scenario image refs to hammer (default: every image the rollouts use)'),
    user: s.string({ minLength: 1 }).optional().describe('A registry.auth user to authenticate as (default the first); its password is never printed'),
    mix: s
      .object({
        manifestHead: mixWeight('manifest HEADs by tag'),
        manifestGet: mixWeight('manifest GETs'),
        blobGet: mixWeight('blob GETs'),
        token: mixWeight('token requests'),
      })
      .optional()
      .describe('Weights for profile mix (blobGet defaults to the image\'s blob count)'),
    timeout: s.duration().default(10_000).describe('A request slower than this counts as an error'),
  })
  .refine((l, report) => {
    if (l.mix && l.profile !== 'mix') report(['mix'], 'mix is only for profile mix');
  })
  .describe('A registry storm (`pullbench load`) that runs beside each arm\'s rollout');

const scale = s
  .object({
    bytes: s
      .number({ min: 0.001, max: 1 })
      .describe('Factor on every synthesised layer size and every link bandwidth (node links, shared uplinks, mirror and upstream links), e.g. 0.1: pull times stay representative while the CPU moves this fraction of the bytes'),
  })
  .describe('Scale the emulation down: fewer bytes at proportionally slower links (emulated driver, synth images)');

const matrix = s.object({
  pullPolicy: s
    .array(s.enum(['Always', 'IfNotPresent', 'Never', 'Default']), { min: 1, unique: true })
    .default(['IfNotPresent'])
    .describe('The imagePullPolicy of every pod; Default leaves it out, for the API server to default per container (`:latest` or no tag: Always, otherwise IfNotPresent)'),
  topology: s
    .array(s.enum(['direct', 'mirror', 'pre-pulled', 'p2p']), { min: 1, unique: true })
    .default(['direct'])
    .describe('direct: nodes pull from the registry; mirror: through the pull-through mirror; pre-pulled: warm, with nodes unshaped to the registry; p2p: nodes fetch from each other first (an arm per p2p.mode; drivers emulated and model)'),
  cache: s
    .array(s.enum(['cold', 'warm']), { min: 1, unique: true })
    .default(['cold'])
    .describe('cold: fresh nodes; warm: every image pulled onto every node first, checked with CRI ListImages'),
}).describe('The arms: every combination of pullPolicy x topology x cache is run');

export const METRICS = ['pull', 'pullWithWaiting', 'rolloutDuration', 'failureRate', 'upstreamPulls', 'tooManyRequests', 'blobBytes', 'pullFailures', 'recovery'] as const;

const threshold = s
  .object({
    arm: s.string({ minLength: 1 }).default('*').describe('Arm name or pattern: "IfNotPresent/mirror", "*/mirror/warm"'),
    metric: s.enum(METRICS).describe('pull, pullWithWaiting (including the kubelet\'s queue), rolloutDuration, failureRate, upstreamPulls (the registry\'s manifest GETs, as Docker Hub counts pulls), tooManyRequests (429s), blobBytes (bytes the registry and mirror served), pullFailures (failed pull attempts per repetition, of one cause or all), recovery (from the last fault\'s end until every pod is Ready)'),
    cause: s.enum(PULL_CAUSES).optional().describe('For pullFailures: count only this cause (default every cause)'),
    percentile: s.enum([50, 90, 95, 99, 100]).optional().describe('For pull, pullWithWaiting (default 95)'),
    max: s
      .union(s.duration(), s.union(s.percent(), s.number({ min: 0 }), 'a number'), 'a duration (5s), a percentage (1%) or a number')
      .describe('The limit: a duration for times, a percentage for failureRate, a number for counts and bytes'),
  })
  .describe('A limit on one metric of matching arms; a breach fails the run (exit 3)');

const outputs = s.object({
  dir: s.string({ minLength: 1 }).optional().describe('Default reports/<metadata.name>'),
  formats: s.array(s.enum(['json', 'junit', 'html']), { unique: true }).default(['json']).describe('json: results.json; junit: junit.xml; html: report.html'),
}).describe('Where and in which formats results are written');

export const scenarioSchema = s
  .object({
    apiVersion: s.literal(API_VERSION).describe('The scenario format version'),
    kind: s.literal('Scenario').describe('The document kind'),
    metadata: s.object({
      name: name().describe('Names the run in results and the default output directory'),
      description: s.string().optional().describe('One line shown under the title of the report'),
    }).describe('Names the scenario'),
    registry: registry.default({ provider: 'embedded' }),
    mirror: mirror.optional(),
    registries: s
      .array(namedRegistry, { min: 1 })
      .optional()
      .describe('Several registries, each by name; instead of registry, mirror and links (which are one registry named "registry" with a mirror named "mirror")'),
    p2p: p2p.optional(),
    links: s
      .object({
        registry: link.optional().describe('nodes <-> registry'),
        mirror: link.optional().describe('nodes <-> mirror'),
        upstream: link.optional().describe('mirror <-> registry'),
        proxy: link.optional().describe('nodes <-> proxy (with a proxy section)'),
        peer: peerLink.optional(),
      })
      .default({})
      .describe('Shaped links of the emulated driver (unshaped where absent)'),
    proxy: proxy.optional(),
    faults: s.array(fault).default([]).describe('Faults on a timeline: each arm\'s rollout meets them at the same times (docs/faults-and-proxies.md)'),
    images: s.array(image, { min: 1 }).describe('The images seeded into the registry before the arms run'),
    pullSecrets: s.array(pullSecret).default([]).describe('Credentials pods name in imagePullSecrets'),
    scale: scale.optional(),
    cluster: cluster.default({
      driver: 'emulated',
      nodes: 3,
      runtime: 'embedded',
      layerStore: 'disk',
      kubelet: { ensureSecretPulledImages: false },
    }),
    signing: signing.optional(),
    verify: verify.optional(),
    rollouts: s.array(rollout, { min: 1 }).describe('The steps rolled out, in order, in every arm'),
    load: s.array(storm, { min: 1 }).optional().describe('Registry storms that run while each arm rolls out'),
    matrix: matrix.default({ pullPolicy: ['IfNotPresent'], topology: ['direct'], cache: ['cold'] }),
    repeat: s.int({ min: 1, max: 100 }).default(1).describe('Repetitions of every arm (confidence intervals and `compare` need at least 2)'),
    failureRate: s.object({ max: s.percent().describe('The largest share of pods allowed to fail unexpectedly') }).default({ max: 0 }).describe('Gate: unexpected pod failures above this fail the run (exit 5)'),
    thresholds: s.array(threshold).default([]).describe('Limits checked after the run'),
    outputs: outputs.default({ formats: ['json'] }),
  })
  .refine((sc, report) => {
    const refs = new Set<string>();
    sc.images.forEach((img, i) => {
      if (refs.has(img.ref)) report(['images', i, 'ref'], `duplicate image ${img.ref}`);
      refs.add(img.ref);
      if (img.from && !sc.images.slice(0, i).some((o) => o.ref === img.from)) report(['images', i, 'from'], `from must name an earlier image of this scenario (got "${img.from}")`);
    });
    const secrets = new Set(sc.pullSecrets.map((p) => p.name));
    const workloads = new Set<string>();
    sc.rollouts.forEach((r, i) => {
      const template = r.deployment ?? r.daemonSet;
      const kind = r.deployment ? 'deployment' : r.daemonSet ? 'daemonSet' : 'update';
      const imageRef = template?.image ?? r.update?.image;
      if (imageRef !== undefined && !refs.has(imageRef)) report(['rollouts', i, kind, 'image'], `unknown image "${imageRef}"; declare it under images`);
      template?.imagePullSecrets.forEach((ps, j) => {
        if (!secrets.has(ps)) report(['rollouts', i, kind, 'imagePullSecrets', j], `unknown pull secret "${ps}"; declare it under pullSecrets`);
      });
      if (r.update && !workloads.has(r.update.target)) report(['rollouts', i, 'update', 'target'], `update target "${r.update.target}" is not an earlier deployment or daemonSet`);
      if (template) {
        if (workloads.has(r.name)) report(['rollouts', i, 'name'], `duplicate workload name "${r.name}"`);
        workloads.add(r.name);
      }
      if (r.deployment && r.deployment.maxSurge === 0 && r.deployment.maxUnavailable === 0) report(['rollouts', i, 'deployment'], 'maxSurge and maxUnavailable cannot both be 0');
    });
    sc.signing?.images.forEach((ref, i) => {
      if (ref !== 'all' && !refs.has(ref)) report(['signing', 'images', i], `unknown image "${ref}"; declare it under images`);
    });
    if (sc.verify?.key === 'signing' && !sc.signing) report(['verify', 'key'], 'key "signing" needs a signing section');
    sc.verify?.vulnerabilities?.reports.forEach((r, i) => {
      if (!refs.has(r.image)) report(['verify', 'vulnerabilities', 'reports', i, 'image'], `unknown image "${r.image}"; declare it under images`);
    });
    if (sc.scale && sc.cluster.driver !== 'emulated' && sc.cluster.driver !== 'model') report(['scale'], `scale shrinks emulated links and synthesised layers; remove it for driver ${sc.cluster.driver}`);
    if (sc.scale && sc.scale.bytes < 1) sc.images.forEach((img, i) => {
      if (img.import) report(['images', i, 'import'], 'scale.bytes below 1 needs synth images (an imported layout keeps its sizes)');
    });
    if (sc.matrix.topology.includes('mirror') && !scenarioRegistries(sc).some((r) => r.mirror)) report(['matrix', 'topology'], sc.registries ? 'topology mirror needs a mirror on at least one of registries' : 'topology mirror needs a mirror section');
    checkP2p(sc, report);
    sc.thresholds.forEach((t, i) => {
      if (t.percentile !== undefined && t.metric !== 'pull' && t.metric !== 'pullWithWaiting') report(['thresholds', i, 'percentile'], `percentile applies to pull and pullWithWaiting, not ${t.metric}`);
      if (t.cause !== undefined && t.metric !== 'pullFailures') report(['thresholds', i, 'cause'], `cause applies to pullFailures, not ${t.metric}`);
      if (t.metric === 'recovery' && sc.faults.length === 0) report(['thresholds', i, 'metric'], 'recovery is measured from the end of a fault: add faults');
    });
  })
  .refine((sc, report) => checkFleet(sc, report))
  .refine((sc, report) => checkFaults(sc, report))
  .refine((sc, report) => checkLoadStage(sc, report))
  .refine((sc, report) => checkRealClusterReach(sc, report))
  .refine((sc, report) => checkModelCoverage(sc, report));

// Registries and pools: names unique (faults and results refer to them), and every reference to one resolves.
function checkFleet(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  const names = fleetNames(sc);
  const seen = new Map<string, string>();
  const claim = (what: string, named: string, path: (string | number)[]): void => {
    const before = seen.get(named);
    if (before) report(path, `duplicate name "${named}": a ${before} has it; registries, mirrors and pools need names of their own`);
    else seen.set(named, what);
  };
  sc.registries?.forEach((r, i) => {
    claim('registry', r.name, ['registries', i, 'name']);
    if (r.mirror) claim('mirror', r.mirror.name ?? `${r.name}-mirror`, ['registries', i, 'mirror', ...(r.mirror.name ? ['name'] : [])]);
  });
  sc.cluster.pools?.forEach((p, i) => claim('pool', p.name, ['cluster', 'pools', i, 'name']));
  const unknown = (kind: string, named: string, known: string[]): string => `unknown ${kind} "${named}"; declare it under ${kind === 'pool' ? 'cluster.pools' : 'registries'} (known: ${known.join(', ') || 'none'})`;
  const registryRef = (named: string | undefined, path: (string | number)[]): void => {
    if (named === undefined) return;
    if (!sc.registries) report(path, 'registry names a registry of registries; with the one-registry form (registry:) leave it out');
    else if (!names.registries.includes(named)) report(path, unknown('registry', named, names.registries));
  };
  sc.images.forEach((img, i) => {
    registryRef(img.registry, ['images', i, 'registry']);
    const base = img.from ? sc.images.find((o) => o.ref === img.from) : undefined;
    if (base && sc.registries && (base.registry ?? names.registries[0]) !== (img.registry ?? names.registries[0])) {
      report(['images', i, 'from'], `from must name an image of the same registry ("${img.from}" is in another)`);
    }
  });
  sc.pullSecrets.forEach((p, i) => registryRef(p.registry, ['pullSecrets', i, 'registry']));
  sc.load?.forEach((l, i) => registryRef(l.registry, ['load', i, 'registry']));
  sc.rollouts.forEach((r, i) => {
    const template = r.deployment ?? r.daemonSet;
    const kind = r.deployment ? 'deployment' : 'daemonSet';
    if (template?.pool !== undefined && !names.pools.includes(template.pool)) {
      report(['rollouts', i, kind, 'pool'], sc.cluster.pools ? unknown('pool', template.pool, names.pools) : `pool names a pool of cluster.pools; the flat form has one pool, "${DEFAULT_POOL}"`);
    }
  });
}

// What the model driver does not cover is refused by name, never run as something else (docs/model.md).
function checkModelCoverage(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  if (sc.cluster.driver !== 'model') return;
  const no = (what: string): string => `the model driver does not cover ${what}; run it with driver emulated`;
  if (sc.registries) {
    report(['registries'], no('several registries (it models one registry and its mirror)'));
    return;
  }
  if (sc.registry.provider !== 'embedded') report(['registry', 'provider'], no(`registry provider ${sc.registry.provider} (it is calibrated on the embedded registry)`));
  if (sc.mirror && sc.mirror.provider !== 'embedded') report(['mirror', 'provider'], no(`mirror provider ${sc.mirror.provider} (it models the embedded mirror)`));
  if (sc.registry.auth) report(['registry', 'auth'], no('registry auth (token and basic round trips are not modelled)'));
  if (sc.signing) report(['signing'], no('signing'));
  if (sc.verify) report(['verify'], no('the verify stage'));
  if (sc.load) report(['load'], no('load storms beside the rollout'));
  if (sc.faults.length > 0) report(['faults'], no('faults on a timeline'));
  if (sc.proxy) report(['proxy'], no('a proxy hop'));
  for (const key of ['registry', 'mirror', 'upstream'] as const) {
    if (sc.links[key]?.jitter) report(['links', key, 'jitter'], no('link jitter'));
  }
}

/**
 * What a fault may target in this scenario, by the names src/scenario/fleet.ts gives: each registry and mirror
 * (the server), `link:NAME` (the nodes' way to it), and a mirror's way to its registry (`link:upstream` in the
 * flat form, `link:REGISTRY.upstream` with registries:), and the proxy.
 */
export function faultTargets(sc: Pick<Scenario, 'registry' | 'mirror' | 'links' | 'registries' | 'proxy'>): string[] {
  return [
    ...scenarioRegistries(sc).flatMap((r) => [
      r.name,
      `link:${r.name}`,
      ...(r.mirror ? [r.mirror.name, `link:${r.mirror.name}`, sc.registries ? `link:${r.name}.upstream` : 'link:upstream'] : []),
    ]),
    ...(sc.proxy ? ['proxy', 'link:proxy'] : []),
  ];
}

// Faults name targets this scenario has; absent images roll out expecting failure; the proxy's noProxy names known hosts.
function checkFaults(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  const targets = faultTargets(sc);
  sc.faults.forEach((f, i) => {
    if (f.target === 'peers') {
      if (!(sc.matrix.topology as readonly string[]).includes('p2p')) report(['faults', i, 'target'], 'target peers needs topology p2p in matrix.topology (the peers are the nodes\' P2P agents)');
      const names = new Set(scenarioPools(sc).flatMap((p) => Array.from({ length: p.nodes }, (_, n) => `${p.nodePrefix}-${n + 1}`)));
      f.nodes?.forEach((name, j) => {
        if (!names.has(name)) report(['faults', i, 'nodes', j], `unknown node "${name}"; the nodes are ${[...names].slice(0, 3).join(', ')}${names.size > 3 ? ', ...' : ''}`);
      });
    } else if (!targets.includes(f.target)) report(['faults', i, 'target'], `unknown fault target "${f.target}"; this scenario has ${targets.join(', ')}`);
    if (f.after !== undefined && !sc.rollouts.some((r) => r.name === f.after)) report(['faults', i, 'after'], `unknown rollout step "${f.after}"; name one of rollouts[].name`);
  });
  const absent = new Set(sc.images.filter((i) => i.absent).map((i) => i.ref));
  sc.rollouts.forEach((r, i) => {
    const ref = r.deployment?.image ?? r.daemonSet?.image ?? r.update?.image;
    if (ref !== undefined && absent.has(ref) && r.expect !== 'failure') report(['rollouts', i, 'expect'], `image "${ref}" is absent: set expect: failure`);
  });
  sc.images.forEach((img, i) => {
    if (img.absent && sc.images.some((o) => o.from === img.ref)) report(['images', i, 'absent'], 'an absent image cannot be the base (from) of another');
  });
  if (sc.links.proxy && !sc.proxy) report(['links', 'proxy'], 'links.proxy needs a proxy section');
  if (sc.proxy && (sc.matrix.topology as readonly string[]).includes('p2p')) report(['proxy'], 'the proxy hop and topology p2p do not run together yet (the peers would need the proxy too)');
  // The nodes name the proxied registry and mirror by one alias each (PROXY_ALIASES): one registry's.
  if (sc.proxy && (sc.registries?.length ?? 1) > 1) report(['proxy'], 'the proxy hop runs with one registry yet (the nodes name the proxied registry and mirror by one alias each); remove the proxy or all registries but one');
}

// P2P agents run beside emulated nodes only: pullbench starts them in process and writes each node's hosts.toml.
function checkP2p(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  if (!sc.matrix.topology.includes('p2p')) {
    if (sc.p2p) report(['p2p'], 'p2p needs topology p2p in matrix.topology');
    return;
  }
  const driver = sc.cluster.driver;
  if (driver === 'model') {
    const no = (what: string): string => `the model driver does not cover ${what}; run it with driver emulated`;
    if (sc.p2p?.faults) report(['p2p', 'faults'], no('faults on the P2P agents'));
  } else if (driver !== 'emulated') report(['matrix', 'topology'], `topology p2p needs driver emulated: pullbench runs the P2P agents (Spegel- or Dragonfly-like) beside emulated nodes and cannot deploy them on a ${driver} cluster; remove p2p from matrix.topology`);
  if (!sc.p2p) report(['matrix', 'topology'], 'topology p2p needs a p2p section (mode: [whole-blob] or [pieces])');
  if ((driver === 'emulated' || driver === 'model') && !sc.links.peer) report(['matrix', 'topology'], 'topology p2p needs links.peer (each node\'s upload and download to its peers)');
  if (driver === 'emulated' && sc.cluster.runtime === 'embedded' && sc.cluster.layerStore === 'inflate-only' && sc.p2p?.mode.includes('whole-blob')) {
    report(['cluster', 'layerStore'], 'p2p mode whole-blob serves blobs from the nodes\' content stores, which layerStore inflate-only does not keep; use layerStore disk');
  }
  // Each node's P2P agent fronts one registry (its hosts.toml entry for the first registry only).
  if ((sc.registries?.length ?? 1) > 1) report(['matrix', 'topology'], 'topology p2p runs with one registry yet (a node\'s P2P agent fronts one registry); remove p2p from matrix.topology or all registries but one');
}

// Storms name this scenario's images, users and mirror.
function checkLoadStage(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  const refs = new Set(sc.images.map((i) => i.ref));
  const names = new Set<string>();
  sc.load?.forEach((l, i) => {
    const named = l.name ?? `storm-${i + 1}`;
    if (names.has(named)) report(['load', i, 'name'], `duplicate storm name "${named}"`);
    names.add(named);
    l.images?.forEach((ref, j) => {
      if (!refs.has(ref)) report(['load', i, 'images', j], `unknown image "${ref}"; declare it under images`);
    });
    const target = stormRegistry(sc, l);
    if (!target) return;
    if (l.target === 'mirror' && !target.mirror) report(['load', i, 'target'], sc.registries ? `target mirror needs a mirror on registry "${target.name}"` : 'target mirror needs a mirror section');
    if (l.user !== undefined && !target.auth?.users.some((u) => u.username === l.user)) report(['load', i, 'user'], `unknown user "${l.user}"; declare it under ${sc.registries ? `registry "${target.name}"'s auth.users` : 'registry.auth.users'}`);
    if (l.profile === 'token' && (l.target === 'mirror' || target.auth?.type !== 'token')) report(['load', i, 'profile'], 'profile token needs target registry with registry.auth.type token');
  });
}

/** Fault kinds a registry container can take on a real cluster, and what the run does to the container for each. */
export const CONTAINER_FAULT_ACTIONS = { refuse: 'docker stop', stall: 'docker pause' } as const;

// A real node reaches the registry (or mirror) container itself: stopping or pausing that container is the only
// fault it can meet (src/run/container-fault-stage.ts). Every other fault is refused by field, naming it, never run
// without it; an external registry (kubeconfig) cannot be stopped at all.
function checkRealClusterFaults(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  const driver = sc.cluster.driver;
  const kinds = Object.entries(CONTAINER_FAULT_ACTIONS).map(([k, a]) => `${k} (${a})`).join(' or ');
  sc.faults.forEach((f, i) => {
    const named = `fault ${f.kind} on ${f.target}`;
    if (driver === 'kubeconfig') {
      report(['faults', i], `driver kubeconfig: ${named} cannot run: the registry is external, pullbench can neither stop nor pause it; faults run with driver emulated (any kind), or kind/k3s with provider container (${kinds})`);
      return;
    }
    if (f.target !== 'registry' && f.target !== 'mirror') {
      report(['faults', i, 'target'], `driver ${driver}: ${named} cannot run: real nodes reach the registry and mirror containers themselves, so only those can fail (target registry or mirror); links and the proxy are emulated only`);
      return;
    }
    const provider = f.target === 'mirror' ? sc.mirror?.provider : sc.registry.provider;
    if (provider !== 'container') report(['faults', i, 'target'], `driver ${driver}: ${named} needs the ${f.target} in a container (provider container) to stop or pause it`);
    if (!(String(f.kind) in CONTAINER_FAULT_ACTIONS)) {
      report(['faults', i, 'kind'], `driver ${driver}: ${named} cannot run: a real node meets the ${f.target} container's outage only, ${kinds}; HTTP statuses, reset, latency and credentials-expire need driver emulated (its fault fronts)`);
    }
  });
}

// Real clusters pull from where their nodes can reach: a registry in a container on kind's/k3s' network, or an external one.
function checkRealClusterReach(sc: Infer<typeof scenarioSchema>, report: (path: (string | number)[], message: string) => void): void {
  const driver = sc.cluster.driver;
  if (driver === 'emulated' || driver === 'model') return;
  const links = Object.keys(sc.links).filter((k) => sc.links[k as keyof typeof sc.links] !== undefined);
  if (links.length > 0) report(['links', links[0]!], `links shape emulated nodes only; remove links for driver ${driver}`);
  if (sc.proxy) report(['proxy'], `driver ${driver}: pullbench cannot set the proxy environment of a real node's containerd; run the proxy hop with driver emulated`);
  checkRealClusterFaults(sc, report);
  sc.cluster.pools?.forEach((p, i) => {
    if (p.links) report(['cluster', 'pools', i, 'links'], `links shape emulated nodes only; remove links for driver ${driver}`);
  });
  // Each registry where it was written: the flat form at registry/mirror, a list entry at registries[i].
  const written = sc.registries
    ? sc.registries.map((r, i) => ({ r, at: ['registries', i] as (string | number)[], mirror: r.mirror, mirrorAt: ['registries', i, 'mirror'] as (string | number)[] }))
    : [{ r: sc.registry, at: ['registry'] as (string | number)[], mirror: sc.mirror, mirrorAt: ['mirror'] as (string | number)[] }];
  if (sc.registries && written.length > 1) report(['registries'], `driver ${driver} pulls from one registry; several registries need driver emulated`);
  for (const { r, at, mirror, mirrorAt } of written) {
    if ('links' in r && r.links) report([...at, 'links'], `links shape emulated nodes only; remove links for driver ${driver}`);
    if (driver === 'kubeconfig') {
      if (r.provider !== 'external') report([...at, 'provider'], 'driver kubeconfig needs registry provider external with a url the cluster nodes can reach (pullbench cannot route an existing cluster to a local registry)');
      continue;
    }
    if (r.provider !== 'container') report([...at, 'provider'], `driver ${driver} needs registry provider container (started on the cluster's Docker network); set ${at.join('.').replace(/\.(\d+)/g, '[$1]')}.provider: container`);
    if (mirror && mirror.provider !== 'container') report([...mirrorAt, 'provider'], `driver ${driver} needs mirror provider container; set mirror.provider: container`);
  }
  if (driver === 'kubeconfig' && sc.matrix.topology.includes('mirror')) report(['matrix', 'topology'], 'topology mirror needs driver kind or k3s (pullbench cannot configure the containerd of an existing cluster); remove mirror from matrix.topology');
}

export type Scenario = Infer<typeof scenarioSchema>;
export type LinkSection = NonNullable<Scenario['links']['registry']>;
export type RolloutSection = Scenario['rollouts'][number];
export type LoadSection = NonNullable<Scenario['load']>[number];
export type PullPolicy = Scenario['matrix']['pullPolicy'][number];
export type Topology = Scenario['matrix']['topology'][number];
export type P2pSection = NonNullable<Scenario['p2p']>;
export type P2pMode = P2pSection['mode'][number];
export type PeerLinkSection = NonNullable<Scenario['links']['peer']>;
export type CacheState = Scenario['matrix']['cache'][number];
export type Metric = (typeof METRICS)[number];
