import { describe, expect, it } from 'vitest';
import { importChanges, parseLdd, REGISTRY_CONFIG_YML } from '../../src/docker/registry-image.js';
import { parse } from 'yaml';

describe('parseLdd', () => {
  it('lists resolved libraries and the loader, not the vdso', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007fb603fc4000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fb603dd1000)',
      '\tlibpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f0000000000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007fb603fc6000)',
    ].join('\n');
    expect(parseLdd(out)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/x86_64-linux-gnu/libpthread.so.0',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('returns nothing for a static binary', () => {
    expect(parseLdd('\tnot a dynamic executable')).toEqual([]);
  });
});

describe('the image definition', () => {
  it('runs `registry serve` on the upstream config path and exposes 5000', () => {
    expect(importChanges()).toContain('ENTRYPOINT ["/bin/registry"]');
    expect(importChanges()).toContain('CMD ["serve", "/etc/docker/registry/config.yml"]');
    expect(importChanges()).toContain('EXPOSE 5000');
  });

  it('ships a config like the upstream image (filesystem storage, :5000)', () => {
    const cfg = parse(REGISTRY_CONFIG_YML) as { http: { addr: string }; storage: { filesystem: { rootdirectory: string } } };
    expect(cfg.http.addr).toBe(':5000');
    expect(cfg.storage.filesystem.rootdirectory).toBe('/var/lib/registry');
  });
});
