// The import graph's rules (`npm run lint` checks them): no circles; each floor imports only the floors below it,
// from the model up to the places that compose the kit (cli/, bench/, infra/, tests/); nothing outside cli/ imports
// the CLI.
const FLOORS = [
  ['model'],
  ['base'],
  ['provision'],
  ['machine'],
  ['docker'],
  ['testbed', 'verify'],
  ['inside'],
  ['drive'],
  ['checks', 'view'],
  ['lab'],
  ['cli', 'bench', 'infra', 'tests'],
];
const folders = (floors) => `^(${floors.flat().join('|')})/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'cli-is-a-leaf',
      comment: 'the CLI composes the kit; nothing else imports it',
      severity: 'error',
      from: { pathNot: '^(cli|tests/unit/cli)/' },
      to: { path: '^cli/' },
    },
    ...FLOORS.slice(0, -1).map((floor, i) => ({
      name: `floor-${floor.join('-')}`,
      comment: `${floor.join(', ')} import only from the floors below them`,
      severity: 'error',
      from: { path: folders([floor]) },
      to: { path: folders(FLOORS.slice(i + 1)) },
    })),
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules/' },
  },
};
