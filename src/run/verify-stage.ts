import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PullbenchError } from '../errors.js';
import type { PodTimeline } from '../measure/timeline.js';
import type { SupplyChainImage, SupplyChainResult } from '../results/index.js';
import type { RegistryClient } from '../oci/client.js';
import { nodeCount, scenarioPools } from '../scenario/fleet.js';
import type { LoadedScenario } from '../scenario/load.js';
import { clientOf, type RunRegistries } from './registry-stage.js';
import type { RolloutSection, Scenario } from '../scenario/schema.js';
import { VerificationCache } from '../supply-chain/cache.js';
import { generateCosignKeyPair, publicKeyPem, readPrivateKey } from '../supply-chain/keys.js';
import { loadTrust } from '../supply-chain/options.js';
import { loadPolicyFiles, loadReports } from '../supply-chain/policy-files.js';
import { verifyImages } from '../supply-chain/admission.js';
import { emptyPolicySet, type PolicySet } from '../supply-chain/policy.js';
import { signImage } from '../supply-chain/sign.js';
import { makeTempDir } from '../util/temp.js';

/** The failure reason recorded for pods of a rollout whose image the verify stage denied. */
const ADMISSION_DENIED = 'AdmissionDenied';

/** The signing key of a run: given in the scenario or generated into the run's temp dir. */
export interface RunSigner extends AsyncDisposable {
  key: KeyObject;
  publicPem: string;
  /** sha256 of the public key (SPKI PEM), first 16 hex digits: names the key in results without revealing anything. */
  keyId: string;
  source: 'given' | 'generated';
}

/** Loads the scenario's signing key, or generates a cosign pair into a temp dir (removed on dispose). */
export async function prepareSigner(loaded: LoadedScenario): Promise<RunSigner | undefined> {
  const signing = loaded.scenario.signing;
  if (!signing) return undefined;
  let pem: string;
  let password: string;
  let dispose = async (): Promise<void> => undefined;
  if (signing.key) {
    const file = resolve(loaded.dir, signing.key);
    pem = await readFile(file, 'utf8').catch((cause: unknown) => {
      throw new PullbenchError('KEY_INVALID', `signing.key: cannot read ${file}`, { cause });
    });
    password = signing.password ?? '';
  } else {
    const dir = await makeTempDir('pullbench-signing-');
    dispose = () => Promise.resolve(dir[Symbol.asyncDispose]());
    password = randomBytes(24).toString('base64url');
    const pair = await generateCosignKeyPair(password);
    await writeFile(join(dir.path, 'cosign.key'), pair.privatePem, { mode: 0o600 });
    await writeFile(join(dir.path, 'cosign.pub'), pair.publicPem);
    pem = pair.privatePem;
  }
  const key = await readPrivateKey(pem, password);
  const publicPem = publicKeyPem(key);
  return {
    key,
    publicPem,
    keyId: createHash('sha256').update(publicPem).digest('hex').slice(0, 16),
    source: signing.key ? 'given' : 'generated',
    [Symbol.asyncDispose]: dispose,
  };
}

/** A client per registry, each with its first user's credentials, picked by an image's host; closed together. */
function clientsOf(registries: RunRegistries): { of: (image: string) => RegistryClient | undefined } & AsyncDisposable {
  const byHost = new Map(registries.list.map((r) => [r.registry.host, clientOf(r)]));
  return {
    of: (image) => byHost.get(image.slice(0, image.indexOf('/'))),
    [Symbol.asyncDispose]: async () => {
      for (const c of byHost.values()) await c.close();
    },
  };
}

/** The scenario refs the signing section selects. */
function imagesToSign(scenario: Scenario): string[] {
  const wanted = scenario.signing?.images ?? [];
  return wanted.includes('all') ? scenario.images.filter((i) => !i.absent).map((i) => i.ref) : wanted;
}

/** Signs the selected seeded images, each in its registry, with the run's key. */
export async function signSeeded(scenario: Scenario, registries: RunRegistries, signer: RunSigner): Promise<void> {
  await using clients = clientsOf(registries);
  const format = scenario.signing?.format ?? 'legacy';
  for (const ref of imagesToSign(scenario)) {
    const image = registries.imageRef(ref);
    await signImage(clients.of(image)!, image, { key: signer.key, format });
  }
}

async function policiesOf(loaded: LoadedScenario, signer: RunSigner | undefined): Promise<PolicySet> {
  const v = loaded.scenario.verify!;
  const set = v.policies.length > 0 ? await loadPolicyFiles(v.policies.map((p) => resolve(loaded.dir, p))) : emptyPolicySet();
  if (v.key !== undefined) {
    let data: string;
    if (v.key === 'signing') data = signer!.publicPem;
    else {
      const file = resolve(loaded.dir, v.key);
      data = await readFile(file, 'utf8').catch((cause: unknown) => {
        throw new PullbenchError('KEY_INVALID', `verify.key: cannot read ${file}`, { cause });
      });
    }
    // The registry's host:port is only known at run time, so the key's policy covers every image.
    set.imagePolicies.push({ name: 'scenario-key', mode: 'enforce', images: [{ glob: '**' }], authorities: [{ name: v.key === 'signing' ? 'signing' : 'key', key: { data } }] });
  }
  const vulns = v.vulnerabilities;
  if (vulns) {
    const { reports: _files, maxAge, ...requirement } = vulns;
    // Without a report, an image's cosign vuln attestation counts when verify.key signed it.
    const authorities = set.imagePolicies.find((p) => p.name === 'scenario-key')?.authorities ?? [];
    set.vulnerabilityGates.push({ name: 'scenario-vulnerabilities', mode: 'enforce', images: [{ glob: '**' }], requirement: { ...requirement, ...(maxAge === undefined ? {} : { maxAgeMs: maxAge }) }, authorities });
  }
  return set;
}

/** Every scenario image a rollout uses, in first-use order. */
export function rolloutImageRefs(rollouts: RolloutSection[]): string[] {
  return [...new Set(rollouts.flatMap((r) => [r.deployment?.image, r.daemonSet?.image, r.update?.image].filter((x): x is string => x !== undefined)))];
}

/** The verify stage: one decision per rollout image, through one verification cache. */
export async function verifyStage(loaded: LoadedScenario, registries: RunRegistries, signer: RunSigner | undefined): Promise<SupplyChainResult> {
  const { scenario } = loaded;
  const v = scenario.verify!;
  const t0 = Date.now();
  const policies = await policiesOf(loaded, signer);
  await using clients = clientsOf(registries);
  const cache = new VerificationCache({ clients: clients.of });
  const refs = rolloutImageRefs(scenario.rollouts);
  // Trust files are named relative to the scenario file, like keys and policies.
  const files = Object.entries({ trustedRoot: v.trustedRoot, caRoots: v.caRoots, rekorKey: v.rekorKey, ctlogKey: v.ctlogKey }).filter((e): e is [string, string] => e[1] !== undefined);
  const trust = await loadTrust(Object.fromEntries(files.map(([k, p]) => [k, resolve(loaded.dir, p)])));
  const keyless = policies.imagePolicies.flatMap((p) => p.authorities.filter((a) => a.keyless).map((a) => `${p.name}/${a.name}`));
  if (keyless.length > 0 && !trust) {
    throw new PullbenchError('INVALID_ARGUMENT', `verify: keyless authorities (${keyless.join(', ')}) need verify.trustedRoot or verify.caRoots: keyless verification works offline only`);
  }
  // Reports are named by scenario ref; the stage sees the images as the pods will, under their registry's host.
  const scans = await loadReports((v.vulnerabilities?.reports ?? []).map((r) => ({ image: registries.imageRef(r.image), file: resolve(loaded.dir, r.file) })));
  const decisions = await verifyImages(refs.map((r) => registries.imageRef(r)), policies, { cache, ignoreTlog: v.ignoreTlog, scans, ...(trust ? { trust } : {}) });
  const signed = new Set(signer ? imagesToSign(scenario) : []);
  const format = scenario.signing?.format ?? 'legacy';
  const images = decisions.map((d, i): SupplyChainImage => {
    const failing = d.rules.filter((r) => r.result !== 'pass');
    const signerRule = d.rules.find((r) => r.result === 'pass' && /^[^:]+: signature verified/.test(r.reason));
    return {
      image: refs[i]!,
      ...(d.digest ? { digest: d.digest } : {}),
      decision: d.decision,
      admitted: d.decision !== 'deny' || v.mode === 'warn',
      expectDenial: scenario.rollouts.filter((r) => (r.deployment?.image ?? r.daemonSet?.image ?? r.update?.image) === refs[i]).every((r) => r.expect === 'failure'),
      reasons: (failing.length > 0 ? failing : d.rules).map((r) => `${r.rule}: ${r.reason}`),
      rules: d.rules,
      ...(signerRule ? { signer: `${signerRule.rule.replace(/^ClusterImagePolicy\//, '')}/${signerRule.reason.slice(0, signerRule.reason.indexOf(':'))}` } : {}),
      ...(signed.has(refs[i]!) && signer ? { signed: { format, keyId: signer.keyId } } : {}),
    };
  });
  return {
    mode: v.mode,
    ...(signer ? { signing: { format, key: signer.source, keyId: signer.keyId, images: [...signed] } } : {}),
    images,
    cache: { ...cache.stats },
    durationMs: Date.now() - t0,
  };
}

/** Which rollouts run, and the pods an admission controller would have refused, per repetition. */
export interface Admission {
  rollouts: RolloutSection[];
  denied: { rollout: RolloutSection; pods: number; reason: string }[];
}

/**
 * Splits the rollouts by the verify stage's decisions: a rollout whose image
 * was denied (enforce) is not run, nor an update of a workload that never ran.
 */
export function admission(scenario: Scenario, supplyChain: SupplyChainResult): Admission {
  const refused = new Map(supplyChain.images.filter((i) => !i.admitted).map((i) => [i.image, i.reasons.join('; ')]));
  const replicas = new Map<string, number>();
  const skipped = new Set<string>();
  const out: Admission = { rollouts: [], denied: [] };
  for (const r of scenario.rollouts) {
    const image = r.deployment?.image ?? r.daemonSet?.image ?? r.update!.image;
    const pods = r.deployment ? r.deployment.replicas : r.daemonSet ? daemonSetPods(scenario, r.daemonSet.pool) : (replicas.get(r.update!.target) ?? 0);
    if (r.deployment || r.daemonSet) replicas.set(r.name, pods);
    const reason = refused.get(image) ?? (r.update && skipped.has(r.update.target) ? `target ${r.update.target} was not admitted` : undefined);
    if (reason === undefined) out.rollouts.push(r);
    else {
      skipped.add(r.name);
      out.denied.push({ rollout: r, pods, reason });
    }
  }
  return out;
}

// A DaemonSet has a pod per node it selects: its pool's, or every node.
function daemonSetPods(scenario: Scenario, pool: string | undefined): number {
  return pool === undefined ? nodeCount(scenario) : (scenarioPools(scenario).find((p) => p.name === pool)?.nodes ?? 0);
}

/** Pod records for denied rollouts: created, never scheduled, failed with AdmissionDenied. */
export function deniedPods(a: Admission, imageRef: (ref: string) => string, at: number): PodTimeline[] {
  return a.denied.flatMap(({ rollout, pods, reason }) =>
    Array.from({ length: pods }, (_, i): PodTimeline => ({
      uid: `denied-${rollout.name}-${i}`,
      name: `${rollout.name}-denied-${i}`,
      rollout: rollout.name,
      image: imageRef(rollout.deployment?.image ?? rollout.daemonSet?.image ?? rollout.update!.image),
      createdAt: at,
      alreadyPresent: false,
      pullErrors: 0,
      lastError: reason,
      outcome: 'failed',
      failureReason: ADMISSION_DENIED,
      expectFailure: rollout.expect === 'failure',
    })),
  );
}
