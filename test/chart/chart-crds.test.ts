// Helm installs the CRDs from charts/mcp-v8/crds/ before anything else; they are copies of the
// generated, authoritative crds/ (npm run crds). This fails when the two drift: re-copy with
// `cp crds/*.yaml charts/mcp-v8/crds/`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const source = join(root, 'crds');
const chart = join(root, 'charts/mcp-v8/crds');
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

describe('chart CRDs', () => {
  it('are exactly the files in crds/', () => {
    expect(yamlFiles(chart)).toEqual(yamlFiles(source));
  });

  it.each(yamlFiles(source))('%s is byte-identical to crds/', (file) => {
    expect(readFileSync(join(chart, file)).equals(readFileSync(join(source, file)))).toBe(true);
  });
});
