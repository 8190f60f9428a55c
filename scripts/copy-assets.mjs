// Copies non-TypeScript files the library loads at run time (the CRI proto) into dist/.
import { cpSync } from 'node:fs';
import { URL } from 'node:url';

for (const file of ['node/cri/api.proto']) {
  cpSync(new URL(`../src/${file}`, import.meta.url), new URL(`../dist/${file}`, import.meta.url));
}
