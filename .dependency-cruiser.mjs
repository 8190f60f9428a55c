// The dependency rule of src/ (docs/architecture.md): folders in one order,
// each importing only folders before it. A total order forbids upward imports
// and, with them, every cycle between folders. Checked by `npm run lint`.

/** Bottom to top. `errors` is src/errors.ts. A new folder must be placed here, or the `unlisted-folder` rule fails. */
export const LAYERS = [
  'errors', // the one PullbenchError and its codes
  'core', // shared contracts: kubelet events, the clock
  'util',
  'net', // link shaping, shaped sockets and proxies
  'measure', // events -> timelines -> statistics
  'oci', // references, registry client, image synthesis
  'docker', // Docker daemon, networks, testcontainers
  'supply-chain', // keys, signing, verification, policies
  'registry', // the embedded registry and registry providers
  'node', // the emulated node: kubelet semantics and runtimes
  'load', // registry storms
  'cluster', // the Cluster port and its drivers
  'scenario', // the scenario schema, loading, matrix
  'rollout', // workloads over a Cluster
  'results', // results model, aggregation, thresholds, the gate; the comparison model
  'model', // the virtual-time model driver's runtimes, servers and repetition (issue 25)
  'compare', // the regression gate
  'report', // HTML, JUnit, text
  'run', // `pullbench run` as stages
  'cli', // oclif base command, exit codes
  'commands', // oclif commands: nothing imports them
];

const folder = (name) => (name === 'errors' ? 'src/errors\\.ts$' : `src/${name}/`);
const anyOf = (names) => `^(${names.map(folder).join('|')})`;

const layerRules = LAYERS.slice(0, -1).map((name, i) => ({
  name: `layer-${name}`,
  comment: `${name} sits below ${LAYERS.slice(i + 1).join(', ')}: it may not import them (see LAYERS in .dependency-cruiser.mjs)`,
  severity: 'error',
  from: { path: `^${folder(name)}` },
  to: { path: anyOf(LAYERS.slice(i + 1)) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'no-commands-import',
      comment: 'src/commands/ is oclif only: nothing imports a command',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/commands/' },
      to: { path: '^src/commands/' },
    },
    {
      name: 'unlisted-folder',
      comment: 'every folder of src/ has a place in LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: anyOf(LAYERS) },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'modules do not import each other in a cycle at run time (a cycle of type-only imports within a folder is harmless; between folders the layer rules forbid it)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
