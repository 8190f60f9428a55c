import { parseAllDocuments } from 'yaml';
import { PullbenchError } from '../errors.js';
import type { PodContainer } from './gatekeeper.js';

/** One container image in a workload (field, container name, image as written), and where it came from. */
export interface WorkloadImage extends PodContainer {
  /** e.g. `Deployment/web initContainers[0] (migrate)`. */
  resource: string;
  source: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function podSpecOf(d: Obj): Obj | undefined {
  const spec = isObj(d.spec) ? d.spec : undefined;
  switch (d.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'DaemonSet':
    case 'StatefulSet':
    case 'ReplicaSet':
    case 'Job':
      return isObj(spec?.template) && isObj(spec.template.spec) ? spec.template.spec : undefined;
    case 'CronJob': {
      const job = isObj(spec?.jobTemplate) && isObj(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
      return isObj(job?.template) && isObj(job.template.spec) ? job.template.spec : undefined;
    }
    default:
      return undefined;
  }
}

const WORKLOAD_KINDS = new Set(['Pod', 'Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob']);

/** Every image in Pods, Deployments, DaemonSets, StatefulSets, ReplicaSets, Jobs and CronJobs (and Lists of them). */
export function imagesInManifests(text: string, source: string): WorkloadImage[] {
  const out: WorkloadImage[] = [];
  const visit = (d: unknown, where: string): void => {
    if (!isObj(d)) return;
    if (d.kind === 'List' && Array.isArray(d.items)) {
      d.items.forEach((item, i) => visit(item, `${where} items[${i}]`));
      return;
    }
    if (typeof d.kind !== 'string' || !WORKLOAD_KINDS.has(d.kind)) return;
    const name = isObj(d.metadata) && typeof d.metadata.name === 'string' ? d.metadata.name : where;
    const pod = podSpecOf(d);
    if (!pod) throw new PullbenchError('INVALID_ARGUMENT', `${source}: ${d.kind}/${name} has no pod template`);
    for (const field of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
      const list = Array.isArray(pod[field]) ? (pod[field] as unknown[]) : [];
      list.forEach((c, i) => {
        const image = isObj(c) && typeof c.image === 'string' ? c.image : undefined;
        const cname = isObj(c) && typeof c.name === 'string' ? c.name : `#${i}`;
        if (!image) throw new PullbenchError('INVALID_ARGUMENT', `${source}: ${d.kind}/${name} ${field}[${i}] has no image`);
        out.push({ field, name: cname, image, resource: `${d.kind}/${name} ${field}[${i}] (${cname})`, source });
      });
    }
  };
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `${source}: ${doc.errors[0]!.message}`);
    visit(doc.toJS(), `document ${i + 1}`);
  }
  return out;
}
