/**
 * Fails when a module of src/ imports itself through others (an import cycle): modules load
 * in an order that depends on who is imported first, and a cycle makes one of them see the
 * other half-initialized. `npm run lint` runs it (npm test too).
 *
 * Only imports that stay at run time count: `import type`, and imports whose every name is a
 * type, are erased by TypeScript and order nothing (`--types` counts them too). Static
 * `import`/`export … from` and `import()` with a literal path are followed; packages are not.
 *
 *   npx tsx scripts/check-cycles.ts [--types] [dir…]   (default dir: src)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const withTypes = args.includes('--types');
const roots = args.filter((a) => !a.startsWith('--'));
const dirs = (roots.length > 0 ? roots : ['src']).map((d) => resolve(d));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'public') sources(path, out);
    } else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The relative modules `file` loads at run time. */
export function runtimeImports(file: string, text: string, types = false): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found: string[] = [];
  const add = (spec: ts.Expression | undefined) => {
    if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) found.push(resolve(dirname(file), spec.text));
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (types || !typeOnly) add(node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node)) {
      const typeOnly = node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
      if (types || !typeOnly) add(node.moduleSpecifier);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Strongly connected components of more than one module, or a module importing itself (Tarjan). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) connect(v);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-cycles.ts')) {
  const graph = new Map<string, string[]>();
  for (const dir of dirs) for (const file of sources(dir)) graph.set(file, runtimeImports(file, readFileSync(file, 'utf8'), withTypes));
  const found = cycles(graph);
  const root = process.cwd();
  if (found.length === 0) {
    console.log(`check-cycles: no import cycle in ${graph.size} modules (${dirs.map((d) => relative(root, d)).join(', ')}${withTypes ? ', type imports included' : ''})`);
  } else {
    for (const component of found) console.error(`import cycle: ${component.map((f) => relative(root, f)).join(' ↔ ')}`);
    process.exit(1);
  }
}
