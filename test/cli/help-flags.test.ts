import { Config } from '@oclif/core';
import { describe, expect, it } from 'vitest';

describe('--help of every command', () => {
  it('describes every flag and argument', async () => {
    const config = await Config.load({ root: process.cwd() });
    expect(config.commands.length).toBeGreaterThan(10);
    const bare: string[] = [];
    for (const cmd of config.commands) {
      for (const [name, flag] of Object.entries(cmd.flags)) if (!flag.description && !flag.summary) bare.push(`${cmd.id} --${name}`);
      for (const [name, arg] of Object.entries(cmd.args)) if (!arg.description) bare.push(`${cmd.id} <${name}>`);
    }
    expect(bare).toEqual([]);
  });
});
