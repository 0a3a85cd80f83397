/** scripts/check-cycles.ts, which `npm run lint` runs over src/: it finds cycles, and only real ones. */
import { describe, expect, it } from 'vitest';
import { cycles, runtimeImports } from '../scripts/check-cycles.ts';

describe('check-cycles', () => {
  it('finds a cycle of three modules and a self-import, not a chain', () => {
    const graph = new Map([
      ['/a.ts', ['/b.ts']],
      ['/b.ts', ['/c.ts']],
      ['/c.ts', ['/a.ts', '/d.ts']],
      ['/d.ts', ['/e.ts']],
      ['/e.ts', []],
      ['/self.ts', ['/self.ts']],
    ]);
    expect(cycles(graph)).toEqual(expect.arrayContaining([['/a.ts', '/b.ts', '/c.ts'], ['/self.ts']]));
    expect(cycles(graph)).toHaveLength(2);
    graph.set('/c.ts', ['/d.ts']);
    expect(cycles(graph)).toEqual([['/self.ts']]);
  });

  it('reads value imports, re-exports and import(); type-only imports only with --types', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from './b.ts';",
      "import { type C } from './c.ts';",
      "export { d } from './d.ts';",
      "export type { E } from './e.ts';",
      "const f = await import('./f.ts');",
      "import { g } from 'some-package';",
    ].join('\n');
    const names = (types: boolean) => runtimeImports('/src/x.ts', text, types).map((p) => p.replace('/src/', ''));
    expect(names(false)).toEqual(['a.ts', 'd.ts', 'f.ts']);
    expect(names(true)).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'e.ts', 'f.ts']);
  });
});
