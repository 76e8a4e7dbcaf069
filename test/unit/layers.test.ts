/**
 * The layer rule of docs/architecture.md, checked on every import of src/ (static, re-exports and dynamic
 * import()), parsed with TypeScript's own parser:
 * - core is pure: it imports no other layer and no module that does I/O;
 * - runtime imports no use case and no face; app imports no face;
 * - the faces (cli, ui) import runtime values only where they start their process (ALLOWED_FACE_IMPORTS);
 * - no import circle, type imports included.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/**
 * Face → runtime value imports that are allowed, each with its reason. Anything else a face needs goes through
 * a use case in src/app.
 */
const ALLOWED_FACE_IMPORTS: Record<string, string> = {
  // Starting the TUI's process: the first read of a long log runs on worker threads while the main thread draws.
  'cli/commands/tui.ts -> runtime/trainerlogfile.ts': 'process start',
};

/** Packages and node modules that read or change the world: never in core. */
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|dgram|dns|os|worker_threads|cluster|readline|tty|process|v8|vm)$|^(execa|chokidar|ink|react)(\/|$)/;

interface Import {
  /** The importing file, relative to src/ (`cli/main.ts`). */
  from: string;
  /** The module as written. */
  spec: string;
  /** The file it names, relative to src/, for a relative import. */
  target: string | null;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

function targetOf(file: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(file), spec).replace(/\.js$/, '');
  const found = ['.ts', '.tsx'].map((ext) => base + ext).find((p) => existsSync(p));
  return relative(SRC, found ?? base);
}

function importsOf(file: string): Import[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => out.push({ from: relative(SRC, file), spec, target: targetOf(file, spec), typeOnly });
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      add(n.moduleSpecifier.text, !!c && (c.isTypeOnly || (!c.name && !!named?.length && named.every((e) => e.isTypeOnly))));
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = n.arguments;
      if (arg && ts.isStringLiteral(arg)) add(arg.text, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const imports = sourceFiles(SRC).flatMap(importsOf);
const layerOf = (path: string) => path.split('/')[0]!;
const show = (i: Import) => `${i.from} -> ${i.target ?? i.spec}`;

/** Every import circle among src/ files (strongly connected components of more than one file, or a self-import). */
function circles(): string[][] {
  const graph = new Map<string, string[]>();
  for (const i of imports) if (i.target) graph.set(i.from, [...(graph.get(i.from) ?? []), i.target]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return found;
}

describe('the layers of src/', () => {
  it('reads the imports of every layer', () => {
    for (const layer of ['core', 'runtime', 'app', 'cli', 'ui']) expect(imports.some((i) => layerOf(i.from) === layer)).toBe(true);
    expect(imports.filter((i) => i.typeOnly).length).toBeGreaterThan(0);
  });

  it('core imports no other layer and nothing that does I/O', () => {
    const bad = imports.filter(
      (i) => layerOf(i.from) === 'core' && ((i.target && layerOf(i.target) !== 'core') || (!i.target && IO_MODULES.test(i.spec))),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it('runtime imports no use case and no face; app imports no face', () => {
    const bad = imports.filter((i) => {
      const to = i.target && layerOf(i.target);
      if (layerOf(i.from) === 'runtime') return to === 'app' || to === 'cli' || to === 'ui';
      if (layerOf(i.from) === 'app') return to === 'cli' || to === 'ui';
      return false;
    });
    expect(bad.map(show)).toEqual([]);
  });

  it('the faces import runtime values only to start their process', () => {
    const faceToRuntime = imports.filter(
      (i) => ['cli', 'ui'].includes(layerOf(i.from)) && i.target && layerOf(i.target) === 'runtime' && !i.typeOnly,
    );
    expect(faceToRuntime.map(show).filter((e) => !(e in ALLOWED_FACE_IMPORTS))).toEqual([]);
    // An entry nobody needs any more goes too.
    const used = new Set(faceToRuntime.map(show));
    expect(Object.keys(ALLOWED_FACE_IMPORTS).filter((e) => !used.has(e))).toEqual([]);
  });

  it('has no import circle', () => {
    expect(circles()).toEqual([]);
  });
});
