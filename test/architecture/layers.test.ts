/**
 * The dependency rule of ARCHITECTURE.md ("Layers"), enforced: every relative import in `src/`
 * is parsed, and an import from an area to an area of the same or a higher layer fails, as does
 * any import cycle between files. The rule itself is tested on made-up imports first, so this
 * test can fail.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Lower layers first; an area may import only areas of a strictly lower layer (and itself). */
export const LAYERS: ReadonlyArray<readonly string[]> = [
  ['lib', 'domain'],
  ['config'],
  ['guardrails', 'events'],
  ['store'],
  ['telemetry', 'connectors'],
  ['execution', 'ingest'],
  ['ops'],
  ['deps'],
  ['http'],
  ['app'],
  ['main'],
  ['cli'],
];

const layerOf = new Map(LAYERS.flatMap((areas, level) => areas.map((a) => [a, level] as const)));

/** `execution/run.ts` → `execution`; a top-level file `deps.ts` → `deps`. */
export function areaOf(file: string): string {
  const [first = '', second] = file.split('/');
  return second === undefined ? first.replace(/\.ts$/, '') : first;
}

export interface Import {
  from: string;
  to: string;
}

/** Relative import specifiers of one source file (static, re-exports and dynamic). */
export function importsOf(file: string, source: string): Import[] {
  const out: Import[] = [];
  // Comments may quote an import (`from '../x.js'`); only code counts.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of code.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)) {
    const spec = m[1];
    if (spec === undefined) continue;
    out.push({ from: file, to: normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts') });
  }
  return out;
}

/** Every import that breaks the layer rule, as "from → to" lines. */
export function upwardImports(imports: readonly Import[]): string[] {
  const bad: string[] = [];
  for (const { from, to } of imports) {
    const a = areaOf(from);
    const b = areaOf(to);
    if (a === b) continue;
    const la = layerOf.get(a);
    const lb = layerOf.get(b);
    if (la === undefined) bad.push(`${from}: area "${a}" has no layer in LAYERS`);
    else if (lb === undefined) bad.push(`${from} → ${to}: area "${b}" has no layer in LAYERS`);
    else if (lb >= la) bad.push(`${from} (${a}, layer ${la}) → ${to} (${b}, layer ${lb})`);
  }
  return bad;
}

/** Import cycles between files, each as the path that closes it. */
export function cycles(imports: readonly Import[]): string[][] {
  const edges = new Map<string, string[]>();
  for (const { from, to } of imports) edges.set(from, [...(edges.get(from) ?? []), to]);
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

describe('the layer rule', () => {
  const cases: Array<{ name: string; imports: Import[]; bad: number }> = [
    { name: 'down a layer', imports: [{ from: 'execution/run.ts', to: 'store/store.ts' }], bad: 0 },
    { name: 'within an area', imports: [{ from: 'store/sqlite/gate.ts', to: 'store/plans/gate.ts' }], bad: 0 },
    { name: 'up a layer', imports: [{ from: 'store/store.ts', to: 'execution/run.ts' }], bad: 1 },
    { name: 'sideways in one layer', imports: [{ from: 'ingest/ingest.ts', to: 'execution/executor.ts' }], bad: 1 },
    { name: 'into the composition root', imports: [{ from: 'ops/flatten.ts', to: 'main.ts' }], bad: 1 },
    { name: 'an area with no layer', imports: [{ from: 'misc/x.ts', to: 'domain/types.ts' }], bad: 1 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(upwardImports(c.imports)).toHaveLength(c.bad);
    });
  }

  test('a cycle is found', () => {
    const imports = [
      { from: 'a.ts', to: 'b.ts' },
      { from: 'b.ts', to: 'c.ts' },
      { from: 'c.ts', to: 'a.ts' },
    ];
    expect(cycles(imports)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    expect(cycles(imports.slice(0, 2))).toEqual([]);
  });

  test('imports are parsed in every form', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export { c } from './c.js';",
      "const d = await import('./d.js');",
      "import './e.js';",
      "import { pino } from 'pino';",
      "/** not this: import { f } from './f.js'; */",
      "// nor this: from './g.js'",
    ].join('\n');
    expect(importsOf('x/y.ts', source).map((i) => i.to)).toEqual(['x/a.ts', 'b/b.ts', 'x/c.ts', 'x/d.ts', 'x/e.ts']);
  });
});

describe('src/ follows the layer rule', () => {
  const imports = sourceFiles(SRC).flatMap((file) => importsOf(file, readFileSync(join(SRC, file), 'utf8')));

  test('it has imports to check', () => {
    expect(imports.length).toBeGreaterThan(100);
  });

  test('no area imports an area of its own or a higher layer', () => {
    expect(upwardImports(imports)).toEqual([]);
  });

  test('no import cycle between files', () => {
    expect(cycles(imports)).toEqual([]);
  });
});
