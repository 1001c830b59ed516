// Generates TypeScript types with @graphql-codegen's client preset from SCHEMA (a file, or
// the URL of a running Castellan, introspected live) into OUT/gql, copies codegen/app.ts
// beside them and type-checks it with `tsc --noEmit`. OUT must lie under tests/peers, so that
// the generated code finds its packages. Prints one JSON line: {generated: [files], tsc: {status, output}}.
//   node codegen.mjs SCHEMA OUT
import { generate } from '@graphql-codegen/cli';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [schema, out] = process.argv.slice(2);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(here, 'codegen', 'app.ts'), join(out, 'app.ts'));
await generate(
  {
    schema,
    documents: [join(out, 'app.ts')],
    silent: true,
    generates: {
      [join(out, 'gql') + '/']: {
        preset: 'client',
        config: { scalars: { DateTime: 'string', JSON: 'unknown' }, enumsAsTypes: true },
        presetConfig: { fragmentMasking: false },
      },
    },
  },
  true,
);
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      skipLibCheck: true,
      typeRoots: [join(here, 'node_modules', '@types')],
    },
    include: ['app.ts', 'gql/*.ts'],
  }),
);
const tsc = spawnSync(process.execPath, [join(here, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', out], {
  encoding: 'utf8',
});
console.log(
  JSON.stringify({
    generated: readdirSync(join(out, 'gql')),
    tsc: { status: tsc.status, output: (tsc.stdout ?? '') + (tsc.stderr ?? '') },
  }),
);
