import type { Socket } from 'node:net';
import { TcpBackedDuplex } from './tcp-backed-duplex.js';
import type { Link, ShapedFlow } from './shaper.js';

/** Above this many queued bytes a direction stops reading its source (as the proxy does). */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 512 * 1024;
/** A receiving socket counts as ready while less than this waits in its write buffer (as in the proxy). */
const SINK_BUFFER = 256 * 1024;

export interface ServerSideHooks {
  /**
   * A chunk leaves the link for the node: what of it to write (all of it, or the part before a reset's byte), and
   * whether a fault resets or stalls the connection after it.
   */
  delivered(chunk: Buffer): { write: Buffer; fault?: 'reset' | 'stall' };
  /** A chunk reached the server (after the link). */
  received(chunk: Buffer): void;
  stallMs: number;
  /** The connection is gone (once). */
  gone(): void;
}

/**
 * The server's end of a shaped connection from a node: a Duplex an in-process HTTP server takes as its socket
 * (`server.emit('connection', s)`, which node:http documents for any Duplex). What the server writes reaches the node
 * through the link's down direction; what the node sends reaches the server through its up direction: the same link,
 * latency, handshake, shared uplink and faults as the relaying proxy, without its second TCP connection. A relayed
 * byte crossed loopback twice more and was copied in and out of this process once more: 10 MB relayed cost this
 * process ~57 ms of CPU (2 containerd nodes, 2026-12-07), work a real node's network does not do and which competed
 * with the containerds for the machine's cores.
 */
export class ShapedServerSocket extends TcpBackedDuplex {
  private readonly down: ShapedFlow;
  private readonly up: ShapedFlow;
  private gone = false;
  private stalled = false;
  private resetting = false;

  constructor(
    private readonly client: Socket,
    link: Link,
    private readonly hooks: ServerSideHooks,
  ) {
    super(client);
    this.down = link.openFlow('down', {
      deliver: (chunk) => {
        if (this.gone) return;
        const { write, fault } = hooks.delivered(chunk);
        client.write(write);
        if (fault === 'reset') this.reset();
        else if (fault === 'stall' && !this.stalled) {
          this.stalled = true;
          this.down.stall(hooks.stallMs);
        }
      },
      end: () => client.end(),
      writable: () => client.writableLength < SINK_BUFFER,
    });
    this.up = link.openFlow('up', {
      deliver: (chunk) => {
        if (this.gone) return;
        hooks.received(chunk);
        this.push(chunk);
      },
      end: () => {
        if (!this.gone) this.push(null);
      },
      writable: () => this.readableLength < this.readableHighWaterMark,
    });
    // TCP's handshake: the request's first bytes reach the server a round trip late (as the proxy charges it).
    if (link.spec.handshake !== false && link.spec.latencyMs > 0) this.up.stall(2 * link.spec.latencyMs);
    client.on('data', (chunk: Buffer) => {
      this.up.write(chunk);
      if (this.up.queuedBytes > HIGH_WATER) {
        client.pause();
        this.up.whenBelow(LOW_WATER, () => client.resume());
      }
    });
    client.on('end', () => this.up.end());
    client.on('drain', () => this.down.resume());
    client.on('error', (err) => this.destroy(err));
    // Closed by the node: what it already sent still reaches the server, then the end; nothing more can be written.
    client.on('close', () => {
      this.up.end();
      if (!this.gone) this.destroy();
    });
    client.on('timeout', () => this.emit('timeout'));
  }

  override _read(): void {
    this.up.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.down.write(chunk);
    if (this.down.queuedBytes > HIGH_WATER) this.down.whenBelow(LOW_WATER, () => cb());
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.down.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.finish();
    if (!this.resetting) this.client.destroy();
    cb(err);
  }

  /** A link fault: the node's connection gets an RST after what was already written. */
  private reset(): void {
    if (this.gone) return;
    this.resetting = true;
    this.finish();
    // An RST sent in the same tick as a write can reach the client as a clean FIN; let the write go first.
    setImmediate(() => this.client.resetAndDestroy());
    this.destroy();
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.down.abort();
    this.up.abort();
    this.hooks.gone();
  }
}
