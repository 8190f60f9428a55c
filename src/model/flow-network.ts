import type { Clock } from '../core/clock.js';
import { CompletionTimer } from './completion-timer.js';
import { maxMinRates, type FlowClass } from './max-min.js';

/**
 * The network as flows, not bytes. A route is a way from an endpoint (a node,
 * or the mirror towards its upstream) to a server: the endpoint's own link of
 * `endpointBytesPerMs` (a node link; Infinity when unshaped), then shared links
 * (a shared uplink, the server's egress). Flows of one endpoint on one route
 * share its link equally, so every endpoint with k flows on a route is alike:
 * the flows fall into classes (route, k) whose rates maxMinRates gives. Each
 * class keeps the bytes one of its flows has received since it began (`served`),
 * so a flow's end is a key in its class's heap, and a start or end costs a
 * class move for the endpoint's few flows and a solve over the few classes.
 */
export interface RouteSpec {
  name: string;
  endpointBytesPerMs: number;
  /** Indices of the shared links, into the network's capacities. */
  shared: readonly number[];
}

interface Flow {
  /** The class's `served` at which the flow has all its bytes. */
  key: number;
  index: number;
  cls: FlowClassState;
  group: Group;
  done: () => void;
}

interface Group {
  key: number;
  flows: Flow[];
}

interface FlowClassState {
  route: number;
  k: number;
  groups: number;
  served: number;
  rate: number;
  heap: Flow[];
}

const TIME_EPSILON_MS = 1e-3;

export class FlowNetwork {
  private readonly classes = new Map<number, FlowClassState>();
  private readonly groups = new Map<number, Group>();
  private readonly bytes: number[];
  private lastSync: number;
  private readonly completion: CompletionTimer;

  constructor(
    private readonly clock: Clock,
    private readonly capacities: readonly number[],
    private readonly routes: readonly RouteSpec[],
  ) {
    this.lastSync = clock.now();
    this.completion = new CompletionTimer(clock, () => this.complete());
    this.bytes = routes.map(() => 0);
  }

  /** Bytes carried so far, by route name. */
  carried(): Record<string, number> {
    return Object.fromEntries(this.routes.map((r, i) => [r.name, this.bytes[i]!]));
  }

  /** Moves `bytes` from the server to `endpoint` over `route`; resolves when the last byte is there. */
  transfer(endpoint: number, route: number, bytes: number): Promise<void> {
    this.bytes[route]! += bytes;
    if (bytes <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.sync();
      const gk = endpoint * 16 + route;
      let group = this.groups.get(gk);
      if (!group) {
        group = { key: gk, flows: [] };
        this.groups.set(gk, group);
      }
      const k = group.flows.length;
      this.moveGroup(group, route, k, k + 1);
      const cls = this.classOf(route, k + 1);
      const flow: Flow = { key: cls.served + bytes, index: -1, cls, group, done: resolve };
      group.flows.push(flow);
      push(cls.heap, flow);
      this.solve();
    });
  }

  private classOf(route: number, k: number): FlowClassState {
    const key = k * 16 + route;
    let c = this.classes.get(key);
    if (!c) {
      c = { route, k, groups: 0, served: 0, rate: 0, heap: [] };
      this.classes.set(key, c);
    }
    return c;
  }

  // An endpoint's flow count changes: its flows leave class (route, from) for (route, to), keeping what they received.
  private moveGroup(group: Group, route: number, from: number, to: number): void {
    if (from > 0) {
      const old = this.classOf(route, from);
      old.groups--;
      const next = to > 0 ? this.classOf(route, to) : undefined;
      for (const f of group.flows) {
        remove(old.heap, f);
        if (!next) continue;
        f.key = next.served + (f.key - old.served);
        f.cls = next;
        push(next.heap, f);
      }
      if (old.groups === 0) this.classes.delete(from * 16 + route);
    }
    if (to > 0) this.classOf(route, to).groups++;
  }

  // Brings every class's `served` to now at the rates it had.
  private sync(): void {
    const now = this.clock.now();
    const dt = now - this.lastSync;
    if (dt > 0) for (const c of this.classes.values()) c.served += c.rate * dt;
    this.lastSync = now;
  }

  private solve(): void {
    const list = [...this.classes.values()];
    const spec: FlowClass[] = list.map((c) => {
      const route = this.routes[c.route]!;
      return { links: route.shared, weight: c.groups * c.k, cap: route.endpointBytesPerMs / c.k };
    });
    const rates = maxMinRates(this.capacities, spec);
    let next = Infinity;
    list.forEach((c, i) => {
      c.rate = rates[i]!;
      const first = c.heap[0];
      if (first) next = Math.min(next, c.rate === Infinity ? 0 : Math.max(0, first.key - c.served) / c.rate);
    });
    this.completion.arm(next);
  }

  private complete(): void {
    this.sync();
    const finished: Flow[] = [];
    for (const c of this.classes.values()) {
      // Done when what is left would take less than the clock can tell apart (epoch-scale ms are ~0.2 µs apart).
      const eps = 1e-9 * Math.max(1, Math.abs(c.served)) + 1e-6 + c.rate * TIME_EPSILON_MS;
      while (c.heap[0] && (c.rate === Infinity || c.heap[0].key - c.served <= eps)) finished.push(pop(c.heap));
    }
    // Finished flows leave their endpoint's group; the group's other flows move to the class of one flow fewer.
    for (const f of finished) {
      const group = f.group;
      const route = f.cls.route;
      const k = group.flows.length;
      group.flows.splice(group.flows.indexOf(f), 1);
      // The finished flow is out of every heap already; the rest move.
      this.moveGroup(group, route, k, k - 1);
      if (group.flows.length === 0) this.groups.delete(group.key);
    }
    this.solve();
    for (const f of finished) f.done();
  }
}

// A binary min-heap on `key`, each flow knowing its index so a class move can take it out.
function push(h: Flow[], f: Flow): void {
  f.index = h.length;
  h.push(f);
  up(h, f.index);
}

function pop(h: Flow[]): Flow {
  const top = h[0]!;
  remove(h, top);
  return top;
}

function remove(h: Flow[], f: Flow): void {
  const i = f.index;
  if (i < 0 || h[i] !== f) return;
  const last = h.pop()!;
  f.index = -1;
  if (last === f) return;
  h[i] = last;
  last.index = i;
  up(h, i);
  down(h, last.index);
}

function up(h: Flow[], i: number): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]!.key <= h[i]!.key) break;
    swap(h, i, p);
    i = p;
  }
}

function down(h: Flow[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && h[l]!.key < h[m]!.key) m = l;
    if (r < h.length && h[r]!.key < h[m]!.key) m = r;
    if (m === i) return;
    swap(h, i, m);
    i = m;
  }
}

function swap(h: Flow[], a: number, b: number): void {
  const t = h[a]!;
  h[a] = h[b]!;
  h[b] = t;
  h[a]!.index = a;
  h[b]!.index = b;
}
