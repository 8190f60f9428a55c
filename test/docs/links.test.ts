import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The README and docs/ are what a newcomer reads: every relative link must lead somewhere,
// and the README's command table must name every command there is.
const pages = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

const withoutCode = (text: string): string => text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');

// GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'.
function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const slugs = [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    m[1]!.trim().replace(/`/g, '').toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-'),
  );
  return new Set(slugs);
}

function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  for (const m of withoutCode(readFileSync(page, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const file = path ? normalize(join(dirname(page), path)) : page;
    if (!existsSync(file)) broken.push(`${page}: ${target} (no ${relative('.', file)})`);
    else if (anchor && file.endsWith('.md') && !anchors(file).has(anchor)) broken.push(`${page}: ${target} (no heading #${anchor})`);
  }
  return broken;
}

function commandIds(dir = 'src/commands', prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandIds(join(dir, e.name), `${prefix}${e.name} `) : e.name.endsWith('.ts') ? [`${prefix}${e.name.slice(0, -3)}`] : [],
  );
}

describe('the README and docs/', () => {
  it('link only to files and headings that exist', () => {
    expect(pages.flatMap(brokenLinks)).toEqual([]);
  });

  it('the README lists every command in src/commands in its command table', () => {
    const rows = readFileSync('README.md', 'utf8').split('\n').filter((l) => l.startsWith('| `pullbench '));
    const missing = commandIds().filter((id) => !rows.some((r) => r.startsWith(`| \`pullbench ${id}\``) || r.startsWith(`| \`pullbench ${id} `)));
    expect(commandIds().length).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it('the README stays short enough to read (at most 250 lines) and keeps its quick start', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    expect(readme).toContain('pullbench run scenarios/quickstart.yaml');
    expect(readme).toContain('npm test');
  });
});
