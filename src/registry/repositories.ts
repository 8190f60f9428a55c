import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../oci/media-types.js';

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** The descriptor this manifest gets in a referrers response, when it has a subject. */
  subject?: string | undefined;
  referrerDescriptor?: Descriptor | undefined;
}

/** What one repository can see: linked blobs, manifests, tags and referrers. */
export class Repository {
  readonly blobs = new Set<string>();
  readonly manifests = new Map<string, ManifestRecord>();
  readonly tags = new Map<string, string>();
  /** subject digest -> referrer digest -> descriptor */
  readonly referrers = new Map<string, Map<string, Descriptor>>();

  constructor(readonly name: string) {}

  addManifest(record: ManifestRecord): void {
    this.manifests.set(record.digest, record);
    if (record.subject && record.referrerDescriptor) {
      let set = this.referrers.get(record.subject);
      if (!set) this.referrers.set(record.subject, (set = new Map()));
      set.set(record.digest, record.referrerDescriptor);
    }
  }

  removeManifest(digest: string): boolean {
    const record = this.manifests.get(digest);
    if (!record) return false;
    this.manifests.delete(digest);
    for (const [tag, d] of this.tags) if (d === digest) this.tags.delete(tag);
    if (record.subject) this.referrers.get(record.subject)?.delete(digest);
    return true;
  }

  isEmpty(): boolean {
    return this.blobs.size === 0 && this.manifests.size === 0;
  }
}

interface PersistedRepository {
  blobs: string[];
  manifests: Record<string, string>;
  tags: Record<string, string>;
}

/**
 * All repositories, in memory (manifest bytes included, so manifest requests
 * never touch the disk). With a root dir each change is written through to
 * `<root>/repositories/<name>/_index.json` atomically (temp file + rename).
 */
export class RepositoryIndex {
  private readonly repos = new Map<string, Repository>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly root?: string) {}

  get(name: string): Repository | undefined {
    return this.repos.get(name);
  }

  getOrCreate(name: string): Repository {
    let repo = this.repos.get(name);
    if (!repo) this.repos.set(name, (repo = new Repository(name)));
    return repo;
  }

  names(): string[] {
    return [...this.repos.values()].filter((r) => !r.isEmpty()).map((r) => r.name).sort();
  }

  all(): Iterable<Repository> {
    return this.repos.values();
  }

  /** Persists the repository's current state (serialised per repository; last write wins). */
  save(repo: Repository): Promise<void> {
    if (!this.root) return Promise.resolve();
    const dir = join(this.root, 'repositories', repo.name);
    const prev = this.writes.get(repo.name) ?? Promise.resolve();
    const next = prev.then(async () => {
      const data: PersistedRepository = {
        blobs: [...repo.blobs],
        manifests: Object.fromEntries([...repo.manifests.values()].map((m) => [m.digest, m.mediaType])),
        tags: Object.fromEntries(repo.tags),
      };
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `._index.${randomUUID()}`);
      await writeFile(tmp, JSON.stringify(data));
      await rename(tmp, join(dir, '_index.json'));
    });
    this.writes.set(repo.name, next.catch(() => undefined));
    return next;
  }

  /** Loads persisted repositories; manifest bytes come from `readManifest`. */
  async load(readManifest: (digest: string, mediaType: string) => Promise<ManifestRecord | undefined>): Promise<void> {
    if (!this.root) return;
    const base = join(this.root, 'repositories');
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) await walk(join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name);
        else if (e.name === '_index.json' && prefix) {
          const data = JSON.parse(await readFile(join(dir, e.name), 'utf8')) as PersistedRepository;
          const repo = this.getOrCreate(prefix);
          for (const b of data.blobs) repo.blobs.add(b);
          for (const [digest, mediaType] of Object.entries(data.manifests)) {
            const record = await readManifest(digest, mediaType);
            if (record) repo.addManifest(record);
          }
          for (const [tag, digest] of Object.entries(data.tags)) if (repo.manifests.has(digest)) repo.tags.set(tag, digest);
        }
      }
    };
    await walk(base, '');
  }
}
