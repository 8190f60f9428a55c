import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * A node's P2P agent as a process on the node: an HTTP server on 127.0.0.1:0 that its runtime (hosts.toml) and its
 * peers (through the node's upload link) reach. `kill()` is the agent's process dying: every connection is dropped
 * and every later one reset, so a runtime falls through to its next host and a peer to its next parent.
 */
export class AgentServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  killed = false;
  /** Connections that found the agent dead (a runtime or a peer that then fell through). */
  refused = 0;
  port = 0;

  constructor(private readonly handler: Handler) {}

  async start(): Promise<void> {
    const server = createServer({ noDelay: true }, (req, res) => {
      this.handler(req, res).catch(() => res.destroy());
    });
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s) => {
      if (this.killed) {
        this.refused++;
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  kill(): void {
    this.killed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A peer gone bad: every chunk it sends has one bit flipped (its own copy stays intact). */
export function corrupting(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, corrupted(chunk));
    },
  });
}

/** A copy of `chunk` with one bit flipped, in its middle. */
export function corrupted(chunk: Buffer): Buffer {
  const copy = Buffer.from(chunk);
  if (copy.length > 0) copy[copy.length >> 1] = copy[copy.length >> 1]! ^ 0x01;
  return copy;
}

/** Reads a request body to its end and drops it. */
export async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const _ of stream) void _;
}
