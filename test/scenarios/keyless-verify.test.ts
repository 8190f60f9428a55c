import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType, type Descriptor } from '../../src/oci/media-types.js';
import { pushSynthImage } from '../../src/oci/synth.js';
import { embeddedRegistry, type StartedRegistry } from '../../src/registry/provider.js';
import { verifyStage } from '../../src/run/verify-stage.js';
import { RunRegistries } from '../../src/run/registry-stage.js';
import { scenarioRegistries } from '../../src/scenario/fleet.js';
import { loadScenario, type LoadedScenario } from '../../src/scenario/load.js';
import { signatureTag } from '../../src/supply-chain/registry.js';
import { signatureConfig } from '../../src/supply-chain/sign.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { IDENTITY, ISSUER, world } from '../supply-chain/helpers/keyless-world.js';

// The verify stage of a scenario with a keyless policy: trust comes from files
// named in `verify:` (relative to the scenario), offline, against a mock Fulcio,
// CT log and Rekor; the signature is pushed in cosign's .sig layout.
let registry: StartedRegistry;
let dir: TempDir;

async function push(client: RegistryClient, repo: string, bytes: Buffer): Promise<Descriptor> {
  return client.pushBlob(repo, bytes, { digest: digestOf(bytes), size: bytes.length });
}

beforeAll(async () => {
  registry = await embeddedRegistry.start({ storage: 'memory' });
  dir = await makeTempDir();
  const client = new RegistryClient({ baseUrl: registry.url });
  await pushSynthImage(client, 'acme/app', 'v1', { layers: [2048], seed: 'keyless' });
  await pushSynthImage(client, 'acme/other', 'v1', { layers: [2048], seed: 'unsigned' });
  const digest = (await client.resolve('acme/app', 'v1')).digest;
  const w = await world();
  const { layer } = await w.signed(`${registry.host}/acme/app`, digest);
  const payload = await push(client, 'acme/app', layer.payload);
  const layers: Descriptor[] = [{ mediaType: MediaType.CosignSimpleSigning, size: payload.size, digest: payload.digest, annotations: layer.annotations }];
  const config = await push(client, 'acme/app', signatureConfig(layers));
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, size: config.size, digest: config.digest }, layers };
  await client.putManifest('acme/app', signatureTag(digest), Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);

  await writeFile(join(dir.path, 'fulcio-root.pem'), w.pems.caRoots);
  await writeFile(join(dir.path, 'rekor.pub'), w.pems.rekorKey);
  await writeFile(join(dir.path, 'ctlog.pub'), w.pems.ctlogKey);
  const policy = (subject: string): string => `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: { name: release-workflow }
spec:
  images: [{ glob: "**" }]
  authorities:
    - name: github-actions
      keyless:
        identities:
          - issuer: ${ISSUER}
            subject: ${subject}
`;
  await writeFile(join(dir.path, 'policy.yaml'), policy(IDENTITY));
  await writeFile(join(dir.path, 'other-subject.yaml'), policy('https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main'));
  await writeFile(
    join(dir.path, 'scenario.yaml'),
    `apiVersion: pullbench.dev/v1alpha1
kind: Scenario
metadata: { name: keyless }
registry: { provider: external, url: ${registry.url} }
images:
  - ref: acme/app:v1
    synth: { layers: [2kB] }
  - ref: acme/other:v1
    synth: { layers: [2kB] }
verify:
  policies: [policy.yaml]
  ignoreTlog: false
  caRoots: fulcio-root.pem
  rekorKey: rekor.pub
  ctlogKey: ctlog.pub
cluster: { driver: emulated, nodes: 1 }
rollouts:
  - name: app
    deployment: { image: acme/app:v1, replicas: 1 }
  - name: other
    deployment: { image: acme/other:v1, replicas: 1 }
    expect: failure
`,
  );
});

// The test's registry, as the run's one registry (not disposed with it: afterAll does).
const runRegistries = (loaded: LoadedScenario): RunRegistries => new RunRegistries([{ spec: scenarioRegistries(loaded.scenario)[0]!, registry }], loaded.scenario, []);

afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
  await dir?.remove();
});

describe('verify stage with a keyless policy', () => {
  it('admits the image signed by the workflow and denies the unsigned one, with trust from the scenario', async () => {
    const loaded = await loadScenario(join(dir.path, 'scenario.yaml'));
    const result = await verifyStage(loaded, runRegistries(loaded), undefined);
    expect(result.images.map((i) => [i.image, i.decision])).toEqual([
      ['acme/app:v1', 'allow'],
      ['acme/other:v1', 'deny'],
    ]);
    expect(result.images[0]!.signer).toBe('release-workflow/github-actions');
  });

  it('refuses a keyless policy without trust, naming the authority: keyless verification never goes online', async () => {
    const loaded = await loadScenario(join(dir.path, 'scenario.yaml'));
    const { caRoots: _c, rekorKey: _r, ctlogKey: _k, ...untrusting } = loaded.scenario.verify!;
    loaded.scenario.verify = untrusting;
    await expect(verifyStage(loaded, runRegistries(loaded), undefined)).rejects.toThrow('keyless authorities (release-workflow/github-actions) need verify.trustedRoot or verify.caRoots');
  });

  it('denies the signed image for a policy that names another workflow', async () => {
    const loaded = await loadScenario(join(dir.path, 'scenario.yaml'), { set: ['verify.policies=[other-subject.yaml]'] });
    const result = await verifyStage(loaded, runRegistries(loaded), undefined);
    expect(result.images[0]!.decision).toBe('deny');
    expect(result.images[0]!.reasons.join()).toMatch(/IDENTITY_MISMATCH|identity/i);
  });

  it('names a trust file that cannot be read', async () => {
    const loaded = await loadScenario(join(dir.path, 'scenario.yaml'), { set: ['verify.trustedRoot=missing-root.json'] });
    await expect(verifyStage(loaded, runRegistries(loaded), undefined)).rejects.toThrow(/cannot read trusted root .*missing-root\.json/);
  });
});
