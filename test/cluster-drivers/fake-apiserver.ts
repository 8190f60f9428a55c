import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

/**
 * A tiny stand-in for kube-apiserver, for the unit seam of the real-cluster
 * driver: namespaces, nodes, pods, events (list and watch) and /version. When a
 * pod is created it plays the kubelet: Pulling, Pulled (the message given),
 * Started, then the pod turns Ready. It proves wiring, not Kubernetes.
 */
export interface FakeApiServer extends AsyncDisposable {
  url: string;
  kubeconfig: string;
  namespaces: Map<string, Record<string, unknown>>;
  requests: string[];
  deletedDaemonSets: string[];
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What the fake kubelet records for a pod, in order; defaults to Pulling, Pulled (pulledMessage), Started. */
export type KubeletScript = (image: string) => Array<{ type: 'Normal' | 'Warning'; reason: string; message: string }>;

export async function startFakeApiServer(opts: {
  nodes: Obj[];
  pulledMessage?: (image: string) => string;
  kubelet?: KubeletScript;
  gitVersion: string;
  /** A node's kubelet configuration, served at /api/v1/nodes/<name>/proxy/configz (none: the node object, as a 404-less proxy would not). */
  configz?: (node: string) => Obj | undefined;
}): Promise<FakeApiServer> {
  const script: KubeletScript =
    opts.kubelet ??
    ((image) => [
      { type: 'Normal', reason: 'Pulling', message: `Pulling image "${image}"` },
      { type: 'Normal', reason: 'Pulled', message: opts.pulledMessage?.(image) ?? `Successfully pulled image "${image}"` },
      { type: 'Normal', reason: 'Started', message: 'Started container app' },
    ]);
  const namespaces = new Map<string, Obj>();
  const events: Obj[] = [];
  const pods = new Map<string, Obj>();
  const daemonSets = new Map<string, Obj>();
  const deletedDaemonSets: string[] = [];
  const watchers: Array<{ kind: 'events' | 'pods'; res: ServerResponse }> = [];
  const requests: string[] = [];
  let rv = 100;
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const push = (kind: 'events' | 'pods', type: string, object: Obj): void => {
    for (const w of watchers) if (w.kind === kind) w.res.write(JSON.stringify({ type, object }) + '\n');
  };
  const emit = (pod: Obj, reason: string, message: string, at: Date, type = 'Normal'): void => {
    const iso = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const ev = {
      metadata: { name: `${pod.metadata.name}.${rv}`, namespace: pod.metadata.namespace, uid: randomUUID(), resourceVersion: String(++rv) },
      involvedObject: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, fieldPath: 'spec.containers{app}' },
      reason, message, type, source: { component: 'kubelet', host: pod.spec.nodeName },
      firstTimestamp: iso, lastTimestamp: iso, count: 1, eventTime: null,
    };
    events.push(ev);
    push('events', 'ADDED', ev);
  };
  const body = (req: IncomingMessage): Promise<Obj> =>
    new Promise((resolve) => {
      let s = '';
      req.on('data', (c: Buffer) => (s += c.toString()));
      req.on('end', () => resolve(s ? (JSON.parse(s) as Obj) : {}));
    });

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${req.method} ${url.pathname}`);
      const p = url.pathname.split('/').filter(Boolean);
      if (url.pathname === '/version') return send(res, 200, { major: '1', minor: '31', gitVersion: opts.gitVersion });
      if (url.pathname === '/api/v1/nodes') return send(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: {}, items: opts.nodes });
      if (p[2] === 'nodes' && p[3] && p[4] === 'proxy' && p[5] === 'configz') {
        const config = opts.configz?.(p[3]);
        return config ? send(res, 200, { kubeletconfig: config }) : send(res, 404, { kind: 'Status', code: 404 });
      }
      if (p[2] === 'nodes' && p[3]) return send(res, 200, opts.nodes.find((n) => n.metadata.name === p[3]) ?? {});
      if (url.pathname === '/api/v1/namespaces' && req.method === 'POST') {
        const ns = await body(req);
        namespaces.set(ns.metadata.name, ns);
        return send(res, 201, ns);
      }
      if (p[2] === 'namespaces' && p.length === 4) {
        const ns = namespaces.get(p[3]!);
        if (req.method === 'DELETE') {
          namespaces.delete(p[3]!);
          return send(res, 200, { kind: 'Status', status: 'Success' });
        }
        return ns ? send(res, 200, ns) : send(res, 404, { kind: 'Status', code: 404 });
      }
      if (p[4] === 'secrets' && req.method === 'POST') return send(res, 201, await body(req));
      if (p[0] === 'apis' && p[1] === 'apps' && p[5] === 'daemonsets') {
        if (req.method === 'POST') {
          const ds = await body(req);
          daemonSets.set(ds.metadata.name, ds);
          // Play the DaemonSet's pods: each node runs the script's `crictl ... rmi <image>` a moment later.
          const script = String(ds.spec.template.spec.containers[0].command[2] ?? '');
          const removed = [...script.matchAll(/ rmi (\S+) /g)].map((m) => m[1]);
          setTimeout(() => {
            for (const n of opts.nodes) n.status.images = (n.status.images ?? []).filter((i: Obj) => !i.names.some((x: string) => removed.includes(x)));
            ds.status = { desiredNumberScheduled: opts.nodes.length, numberReady: opts.nodes.length };
          }, 30);
          return send(res, 201, ds);
        }
        const ds = daemonSets.get(p[6] ?? '');
        if (req.method === 'DELETE') {
          daemonSets.delete(p[6] ?? '');
          deletedDaemonSets.push(p[6] ?? '');
          return send(res, 200, { kind: 'Status', status: 'Success' });
        }
        return ds ? send(res, 200, { ...ds, status: ds.status ?? { desiredNumberScheduled: opts.nodes.length, numberReady: 0 } }) : send(res, 404, { kind: 'Status', code: 404 });
      }
      if (p[4] === 'events' || p[4] === 'pods') {
        const kind = p[4];
        if (url.searchParams.get('watch') === 'true') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.flushHeaders();
          watchers.push({ kind, res });
          return;
        }
        if (kind === 'pods' && req.method === 'POST') {
          const pod = await body(req);
          pod.metadata.uid = randomUUID();
          pod.metadata.creationTimestamp = new Date().toISOString();
          pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date().toISOString() }] };
          pods.set(pod.metadata.name, pod);
          send(res, 201, pod);
          const image = pod.spec.containers[0].image as string;
          const steps = script(image);
          steps.forEach((step, i) => setTimeout(() => emit(pod, step.reason, step.message, new Date(), step.type), 10 + i * 5));
          setTimeout(() => {
            if (!steps.some((st) => st.reason === 'Started')) return;
            // The kubelet then lists the image in Node.status.images.
            const n = opts.nodes.find((x) => x.metadata.name === pod.spec.nodeName);
            if (n && !(n.status.images ?? []).some((i: Obj) => i.names.includes(image))) n.status.images = [...(n.status.images ?? []), { names: [image], sizeBytes: 1 }];
            pod.status = {
              ...pod.status,
              phase: 'Running',
              conditions: [...pod.status.conditions, { type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
              containerStatuses: [{ name: 'app', imageID: `${image}@sha256:00`, state: { running: { startedAt: new Date().toISOString() } } }],
            };
            push('pods', 'MODIFIED', pod);
          }, 20 + steps.length * 5);
          return;
        }
        if (kind === 'events') return send(res, 200, { kind: 'EventList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: events });
        return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: [...pods.values()] });
      }
      send(res, 404, { kind: 'Status', code: 404, message: `fake apiserver: ${req.method} ${url.pathname}` });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = [
    'apiVersion: v1', 'kind: Config', 'current-context: fake',
    'clusters:', '- name: fake', '  cluster:', `    server: ${url}`, '    insecure-skip-tls-verify: true',
    'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: fake',
    'users:', '- name: fake', '  user:', '    token: fake-token', '',
  ].join('\n');
  return {
    url,
    kubeconfig,
    namespaces,
    requests,
    deletedDaemonSets,
    [Symbol.asyncDispose]: async () => {
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
