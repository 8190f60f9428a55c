import { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import { PullbenchError } from '../errors.js';
import { REQUEST_KINDS, type RequestKind } from './types.js';

/** One request of the cycle each connection repeats. */
export interface EngineRequest {
  kind: RequestKind;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
}

export interface EngineOptions {
  /** scheme://host:port every request goes to. */
  origin: string;
  /** The cycle each connection repeats, in order. */
  requests: EngineRequest[];
  connections: number;
  durationSeconds?: number;
  amount?: number;
  /** Requests per second across all connections. */
  rate?: number;
  timeoutSeconds?: number;
  /** Authorization header for requests whose kind is not `token` (Basic or Bearer), replaceable mid-run. */
  authorization?: string | undefined;
  /** Authorization header for token requests (Basic, or none for anonymous). */
  tokenAuthorization?: string | undefined;
}

/** Raw counts of a finished run; `summarize` turns them into a LoadResult. */
export interface EngineCounts {
  startedAt: Date;
  finishedAt: Date;
  durationSeconds: number;
  totalRequests: number;
  totalBytes: number;
  errors: number;
  timeouts: number;
  /** Non-2xx responses by status code. */
  non2xx: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Per kind, indexed as REQUEST_KINDS. */
  kindRequests: number[];
  kindBytes: number[];
  kindOk: number[];
  /** `${kind} ${status}` -> count, for non-2xx responses. */
  kindStatus: Map<string, number>;
  /** CPU time (user + system) this process spent during the run. */
  cpuMs: number;
}

/** Progress, emitted about once a second. */
export interface EngineTick {
  elapsedMs: number;
  /** Responses completed since the previous tick. */
  requests: number;
  bytes: number;
  totalRequests: number;
}

interface ParserLike {
  constructor: { kOnHeadersComplete: number; kOnBody: number };
  [key: number]: unknown;
}

interface ClientInternals {
  parser: ParserLike;
  pipelinedRequests: { peek(): { req?: { kind?: number; method?: string } } | undefined };
}

const KIND_INDEX = new Map<RequestKind, number>(REQUEST_KINDS.map((k, i) => [k, i]));

/**
 * Drives autocannon with a fixed cycle of registry requests and counts
 * responses by kind. Emits `tick` (EngineTick) once a second; `run()` resolves
 * with the raw counts. Statistics beyond counting are autocannon's histograms.
 */
export class LoadEngine extends EventEmitter<{ tick: [EngineTick] }> {
  private readonly clients: autocannon.Client[] = [];
  private instance: autocannon.Instance | undefined;
  private authorization: string | undefined;
  private stopped = false;
  private stoppedAt: number | undefined;

  constructor(private readonly opts: EngineOptions) {
    super();
    if (opts.requests.length === 0) throw new PullbenchError('INVALID_ARGUMENT', 'a load run needs at least one request');
    this.authorization = opts.authorization;
  }

  /** Replaces the Authorization header on every connection (a refreshed bearer token). */
  setAuthorization(value: string): void {
    this.authorization = value;
    const requests = this.buildRequests();
    for (const client of this.clients) client.setRequests(requests);
  }

  /** Ends the run early; `run()` still resolves with what was counted. */
  stop(): void {
    this.stopped = true;
    this.stoppedAt ??= Date.now();
    // autocannon notices stop() only at its next one-second sample; closing the connections ends the traffic now.
    for (const client of this.clients) (client as unknown as { destroy(): void }).destroy();
    this.instance?.stop();
  }

  async run(): Promise<EngineCounts> {
    const kinds = REQUEST_KINDS.length;
    const kindRequests = new Array<number>(kinds).fill(0);
    const kindBytes = new Array<number>(kinds).fill(0);
    const kindOk = new Array<number>(kinds).fill(0);
    const kindStatus = new Map<string, number>();
    // Kind of the response in flight per connection (pipelining is 1), set when its headers arrive.
    const inFlight = new WeakMap<object, number>();
    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    let sinceTick = 0;
    let bytesSinceTick = 0;
    let total = 0;

    const setupClient = (client: autocannon.Client): void => {
      this.clients.push(client);
      installParserHooks(client as unknown as ClientInternals, (kind) => inFlight.set(client, kind));
    };

    const options: autocannon.Options = {
      url: this.opts.origin,
      connections: this.opts.connections,
      pipelining: 1,
      timeout: this.opts.timeoutSeconds ?? 10,
      requests: this.buildRequests(),
      setupClient,
      ...(this.opts.amount !== undefined ? { amount: this.opts.amount } : { duration: this.opts.durationSeconds ?? 10 }),
      ...(this.opts.rate !== undefined ? { overallRate: this.opts.rate } : {}),
    };

    let result: autocannon.Result;
    try {
      result = await new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(options, (err, res) => (err ? reject(err) : resolve(res)));
        this.instance = instance;
        if (this.stopped) instance.stop();
        instance.on('response', (client, status, bytes) => {
          const kind = inFlight.get(client) ?? 0;
          kindRequests[kind]!++;
          kindBytes[kind]! += bytes;
          if (status >= 200 && status < 300) kindOk[kind]!++;
          else {
            const key = `${REQUEST_KINDS[kind]} ${status}`;
            kindStatus.set(key, (kindStatus.get(key) ?? 0) + 1);
          }
          sinceTick++;
          bytesSinceTick += bytes;
          total++;
        });
        instance.on('tick', () => {
          this.emit('tick', { elapsedMs: Date.now() - started, requests: sinceTick, bytes: bytesSinceTick, totalRequests: total });
          sinceTick = 0;
          bytesSinceTick = 0;
        });
      });
    } catch (err) {
      throw new PullbenchError('INTERNAL', `the load generator failed: ${(err as Error).message}`, { cause: err });
    } finally {
      this.instance = undefined;
    }

    const cpu = process.cpuUsage(cpuBefore);
    const non2xx: Record<string, number> = {};
    for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
      if (!code.startsWith('2')) non2xx[code] = (stat as { count: number }).count;
    }
    // Stopped early: the run ended when the connections closed, not at autocannon's next sample.
    const finish = this.stoppedAt !== undefined ? Math.max(new Date(result.start).getTime(), Math.min(this.stoppedAt, new Date(result.finish).getTime())) : new Date(result.finish).getTime();
    return {
      startedAt: new Date(result.start),
      finishedAt: new Date(finish),
      durationSeconds: this.stoppedAt !== undefined ? Math.round((finish - new Date(result.start).getTime()) / 10) / 100 : result.duration,
      totalRequests: result.requests.total,
      totalBytes: result.throughput.total,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx,
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        mean: result.latency.mean,
      },
      kindRequests,
      kindBytes,
      kindOk,
      kindStatus,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    };
  }

  private buildRequests(): autocannon.Request[] {
    return this.opts.requests.map((r) => {
      const auth = r.kind === 'token' ? this.opts.tokenAuthorization : this.authorization;
      const headers: Record<string, string> = { ...r.headers, ...(auth ? { authorization: auth } : {}) };
      // `kind` rides along on autocannon's request object so the parser hook can read it back.
      return { method: r.method, path: r.path, headers, kind: KIND_INDEX.get(r.kind) } as autocannon.Request;
    });
  }
}

/**
 * autocannon 8's HTTP parser waits for a body after a HEAD response that has a
 * Content-Length (registries send one), so HEAD requests only end by timeout.
 * This tells the parser to skip the body for HEAD, as node:http does, records
 * the in-flight request's kind, and stops autocannon buffering bodies as
 * strings (blob GETs of large layers would otherwise hold whole layers in memory).
 * It reaches into autocannon's private client and parser, so package.json pins
 * autocannon exactly (8.0.0): an upgrade is a deliberate change, checked by
 * test/load (HEAD profiles end by response, not by timeout).
 */
function installParserHooks(client: ClientInternals, onKind: (kind: number) => void): void {
  const parser = client.parser;
  const { kOnHeadersComplete, kOnBody } = parser.constructor;
  // setupClient runs before autocannon assigns its parser callbacks in the same
  // constructor; the first response can only arrive in a later event-loop turn.
  queueMicrotask(() => {
    const onHeaders = parser[kOnHeadersComplete] as (info: unknown) => unknown;
    parser[kOnHeadersComplete] = (info: unknown): boolean => {
      onHeaders(info);
      const req = client.pipelinedRequests.peek()?.req;
      onKind(req?.kind ?? 0);
      return req?.method === 'HEAD';
    };
    parser[kOnBody] = noop;
  });
}

function noop(): void {}
