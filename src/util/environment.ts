import { readFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';

export interface EnvironmentInfo {
  pullbench: string;
  node: string;
  platform: string;
  arch: string;
  kernel: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
}

let cachedVersion: string | undefined;

export function pullbenchVersion(): string {
  if (cachedVersion) return cachedVersion;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  cachedVersion = pkg.version;
  return cachedVersion;
}

export function environmentInfo(): EnvironmentInfo {
  const cpuList = cpus();
  return {
    pullbench: pullbenchVersion(),
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
  };
}
