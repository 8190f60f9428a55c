import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKind } from '../../src/cluster/drivers/kind/driver.js';
import { isPullbenchError } from '../../src/errors.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';

// Stand-ins for the kind and docker CLIs (a unit seam: the real ones need Docker Hub's node images,
// which this machine cannot pull). Each logs its arguments, and docker its stdin, to $FAKE_LOG.
const FAKE_KIND = `#!/bin/sh
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "create cluster") [ "$FAKE_FAIL" = create ] && { echo "ERROR: failed to create cluster" >&2; exit 1; }; exit 0 ;;
  "get nodes") printf 'pb-control-plane\\npb-worker\\n' ;;
  "get kubeconfig") printf 'apiVersion: v1\\nkind: Config\\nclusters: [{name: kind-pb, cluster: {server: "https://127.0.0.1:1"}}]\\ncontexts: [{name: kind-pb, context: {cluster: kind-pb, user: kind-pb}}]\\ncurrent-context: kind-pb\\nusers: [{name: kind-pb, user: {token: t}}]\\n' ;;
  "delete cluster") exit 0 ;;
esac
`;
const FAKE_DOCKER = `#!/bin/sh
echo "docker $*" >> "$FAKE_LOG"
if [ "$2" = "-i" ]; then sed 's/^/  stdin: /' >> "$FAKE_LOG"; fi
[ "$FAKE_FAIL" = exec ] && [ "$1" = exec ] && { echo "Error: No such container" >&2; exit 1; }
[ "$1 $2 $4" = "network connect pb-registry" ] && { echo "Error response from daemon: endpoint with name pb-registry already exists in network kind" >&2; exit 1; }
exit 0
`;

let bin: TempDir;
let savedPath: string | undefined;
beforeAll(async () => {
  bin = await makeTempDir('pb-fake-kind-');
  for (const [name, text] of [['kind', FAKE_KIND], ['docker', FAKE_DOCKER]] as const) {
    await writeFile(join(bin.path, name), text);
    await chmod(join(bin.path, name), 0o755);
  }
  savedPath = process.env.PATH;
  process.env.PATH = `${bin.path}:${savedPath ?? ''}`;
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await bin?.remove();
});
afterEach(() => {
  delete process.env.FAKE_FAIL;
});

async function withLog(): Promise<{ read: () => Promise<string[]> }> {
  const log = join(bin.path, `log-${Math.random().toString(36).slice(2)}`);
  await writeFile(log, '');
  process.env.FAKE_LOG = log;
  return { read: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean) };
}

const routes = [{ host: 'pullbench-registry:5000', endpoint: 'http://pullbench-registry:5000' }];

describe("the kind driver follows kind's local-registry guide", () => {
  it('creates the cluster, then writes hosts.toml into every node, then connects containers not yet on the network; deletes the cluster on dispose', async () => {
    const log = await withLog();
    const cluster = await startKind({ name: 'pb', workers: 1, routes, connectContainers: ['pb-registry', 'other'] });
    const lines = await log.read();
    const create = lines.findIndex((l) => l.startsWith('kind create cluster --config'));
    const firstExec = lines.findIndex((l) => l.startsWith('docker exec'));
    const connect = lines.findIndex((l) => l.startsWith('docker network connect'));
    expect(create).toBeGreaterThanOrEqual(0);
    expect(firstExec).toBeGreaterThan(create);
    expect(connect).toBeGreaterThan(firstExec);
    expect(lines.filter((l) => l.startsWith('docker exec -i'))).toEqual([
      'docker exec -i pb-control-plane cp /dev/stdin /etc/containerd/certs.d/pullbench-registry:5000/hosts.toml',
      'docker exec -i pb-worker cp /dev/stdin /etc/containerd/certs.d/pullbench-registry:5000/hosts.toml',
    ]);
    expect(lines).toContain('  stdin: server = "http://pullbench-registry:5000"');
    // pb-registry answered "already exists" (it joined at creation): not an error.
    expect(lines.filter((l) => l.startsWith('docker network connect'))).toEqual(['docker network connect kind pb-registry', 'docker network connect kind other']);
    expect(cluster.driver).toBe('kind');
    expect(lines.some((l) => l.startsWith('kind delete'))).toBe(false);

    await cluster[Symbol.asyncDispose]();
    expect(await log.read()).toContain('kind delete cluster --name pb');
  });

  it('keeps the cluster with keep: true', async () => {
    const log = await withLog();
    const cluster = await startKind({ name: 'pb', routes, keep: true });
    await cluster[Symbol.asyncDispose]();
    expect((await log.read()).some((l) => l.startsWith('kind delete'))).toBe(false);
  });

  it('deletes the half-made cluster when writing hosts.toml fails, and says so', async () => {
    const log = await withLog();
    process.env.FAKE_FAIL = 'exec';
    const err = await startKind({ name: 'pb', routes }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'CLUSTER_ERROR')).toBe(true);
    expect((err as Error).message).toContain('No such container');
    expect(await log.read()).toContain('kind delete cluster --name pb');
  });

  it('reports kind create failing, and still tries to delete what kind may have left', async () => {
    const log = await withLog();
    process.env.FAKE_FAIL = 'create';
    const err = await startKind({ name: 'pb', routes }).catch((e: unknown) => e);
    expect(isPullbenchError(err, 'CLUSTER_ERROR')).toBe(true);
    expect((err as Error).message).toContain('failed to create cluster');
    expect((await log.read()).filter((l) => !l.startsWith('kind create'))).toEqual(['kind delete cluster --name pb']);
  });
});
