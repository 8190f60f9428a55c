import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDockerd, type StartedDockerd } from '../../src/docker/dockerd.js';
import { buildLocalRegistryImage } from '../../src/docker/registry-image.js';
import type { DoctorReport } from '../../src/docker/doctor.js';
import { describeWithTools } from '../helpers/interop.js';

const execFileAsync = promisify(execFile);

describeWithTools(['dockerd', 'docker', 'docker-registry'], 'pullbench doctor on this machine', () => {
  let dockerd: StartedDockerd;
  beforeAll(async () => {
    dockerd = await startDockerd({ label: 'doctor' });
    await buildLocalRegistryImage(dockerd);
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it('finds the private docker daemon through DOCKER_HOST and reports real versions', async () => {
    const { stdout } = await execFileAsync('./bin/dev.js', ['doctor', '--json', '--kubeconfig', '/nonexistent/kubeconfig'], {
      env: { ...process.env, DOCKER_HOST: dockerd.host },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout) as DoctorReport;
    const container = report.registryProviders.find((c) => c.name === 'container');
    expect(container?.available).toBe(true);
    expect(container?.versions.docker).toBe(dockerd.version);
    expect(container?.notes.join(' ')).toMatch(/pullbench\/registry:2-local is present/);
    expect(report.registryProviders.find((c) => c.name === 'distribution')?.versions.distribution).toMatch(/^2\.8\./);
    expect(report.drivers.find((c) => c.name === 'kubeconfig')?.reasons[0]).toMatch(/no kubeconfig/);
  });
});
