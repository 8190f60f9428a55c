import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { HttpPool } from '../../../src/net/http-pool.js';
import { DragonflyAgent } from '../../../src/node/p2p/dragonfly-agent.js';
import { emptyFallbacks, type PieceOptions } from '../../../src/node/p2p/options.js';
import { ParentSelector } from '../../../src/node/p2p/parent-selector.js';
import { PieceScheduler } from '../../../src/node/p2p/piece-scheduler.js';
import { makeTempDir } from '../../../src/util/temp.js';

const SIZE = 20 * 1024;
const DIGEST = `sha256:${'a'.repeat(64)}`;
const opts: PieceOptions = {
  pieceLength: 1024, pieceLengthScale: 1, candidateParentLimit: 3, filterParentLimit: 15, backToSourceCount: 200, retryBackToSourceLimit: 4, retryIntervalMs: 500, concurrentPieceCount: 8,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// A registry that knows the blob's size (HEAD) and answers every range of it with `status`, counting asks per range.
async function brokenSource(status: number): Promise<{ host: string; asks: Map<string, number> }> {
  const asks = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': SIZE }).end();
      return;
    }
    const range = req.headers.range ?? 'all';
    asks.set(range, (asks.get(range) ?? 0) + 1);
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"errors":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, asks };
}

async function agentFor(sourceHost: string): Promise<DragonflyAgent> {
  const dir = await makeTempDir('pbdfagent-');
  const source = new HttpPool();
  const transport = new HttpPool();
  const counters = { wanted: 0, fromPeers: 0, sourceBytes: 0, fallbacks: emptyFallbacks() };
  const agent = new DragonflyAgent(0, opts, { scheduler: new PieceScheduler(opts, systemClock), selector: new ParentSelector(systemClock, () => ({ tx: undefined, max: 1 })), url: () => '', transport, source, sourceHost, dir: dir.path, asked: () => undefined }, counters);
  await agent.start();
  cleanups.push(async () => {
    await agent.close();
    await source.close();
    await transport.close();
    await dir.remove();
  });
  return agent;
}

// What the node's runtime sees of a blob GET to its dfdaemon: the status, and whether the body arrived whole.
function pull(agent: DragonflyAgent): Promise<{ status: number; complete: boolean }> {
  return new Promise((resolve) => {
    const req = request(`http://${agent.server.host}/v2/demo/app/blobs/${DIGEST}`, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, complete: bytes === SIZE }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, complete: false }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, complete: false }));
    });
    req.on('error', () => resolve({ status: 0, complete: false }));
    req.end();
  });
}

describe('a dfdaemon whose back-to-source download keeps failing', () => {
  it('asks the registry for a piece at most four times (one retry, in the scheduled and the direct pass), then fails the task', async () => {
    const source = await brokenSource(503);
    const agent = await agentFor(source.host);
    const result = await pull(agent);
    // The runtime's fetch fails (a broken body after the headers): kubelet retries the pull after its back-off.
    expect(result.complete).toBe(false);
    expect(agent.counters.fallbacks.sourceFailed).toBe(1);
    expect(agent.counters.sourceBytes).toBe(0);
    expect(source.asks.size).toBeGreaterThan(0);
    expect(Math.max(...source.asks.values())).toBeLessThanOrEqual(4);
    // At most two passes of concurrentPieceCount pieces in flight, each asked twice.
    expect([...source.asks.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2 * 2 * opts.concurrentPieceCount);
  });

  it('does not retry an answer that is not transient (404): each piece asked once per pass', async () => {
    const source = await brokenSource(404);
    const agent = await agentFor(source.host);
    const result = await pull(agent);
    expect(result.complete).toBe(false);
    expect(agent.counters.fallbacks.sourceFailed).toBe(1);
    expect(Math.max(...source.asks.values())).toBeLessThanOrEqual(2);
  });
});
