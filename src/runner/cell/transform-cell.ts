/**
 * Turns a user cell (JavaScript or TypeScript) into a classic script with REPL semantics: the
 * cell's top-level names persist as globals for later cells, top-level `await` works, and the
 * value of the last expression statement is the cell's result.
 *
 * Output shape (every user line keeps its line number, so stack traces point into the user's
 * source; only columns on line 1 shift, and TypeScript that needs transform mode — enum,
 * namespace, parameter properties — may shift lines too):
 *
 * ```js
 * var a, f, C; (async () => { globalThis.f = f; <user line 1, edited in place>
 * <user line 2 …>
 * })()
 * ```
 *
 * (With `deferred`, the final `()` is left out: the script evaluates to the async function.)
 *
 * Evaluating the script yields a Promise of the cell's result. Semantics that differ from an ES
 * module, on purpose or by necessity:
 * - `let`/`const`/`class` become plain global variables: a later cell may redeclare them, and
 *   `const` does not guard against reassignment (as in Node's REPL).
 * - `var` inside top-level blocks and loops (`for (var i …)`) is hoisted to a global too, as it
 *   would be in a script; `let`/`const`/`using` inside blocks, and `using` at top level, stay local.
 * - Imports run in place, not hoisted, and imported bindings are snapshots of the exports at
 *   import time, not live bindings. A missing named export reads as `undefined`.
 * - Import attributes (`with { type: 'json' }`) are rejected: the host imports by specifier only.
 * - `export` before a declaration is stripped (the name becomes a global); every other form of
 *   `export` is rejected.
 * - The code is parsed as a module (strict syntax) but runs sloppy, like Node's REPL; top-level
 *   `this` is `globalThis`.
 */
import { stripTypeScriptTypes } from 'node:module';
import { EditList } from './edit-list.ts';
import {
  parse,
  type AnyNode,
  type ClassDeclaration,
  type ImportDeclaration,
  type Pattern,
  type Program,
  type Statement,
  type VariableDeclaration,
} from 'acorn';

/** Source language of a cell. */
export type CellLanguage = 'javascript' | 'typescript';

/** A cell rewritten for the isolate. */
export interface TransformedCell {
  /** Classic-script source; evaluating it yields a Promise of the cell's result. */
  code: string;
  /** Top-level names the cell declares; they persist as globals for later cells of the session. */
  declarations: string[];
  /** Specifiers of static `import` declarations and string-literal dynamic `import()`s, in source order, deduplicated (the host pre-fetches them). */
  imports: string[];
}

/** A syntax error in the user's own coordinates (1-based line, 1-based column). */
export class CellSyntaxError extends SyntaxError {
  override readonly name = 'SyntaxError';
  readonly line: number;
  readonly column: number;

  constructor(reason: string, line: number, column: number) {
    super(`${reason} (${line}:${column})`);
    this.line = line;
    this.column = column;
  }
}

/** Prefix of the names the runtime reserves in the isolate (`__mcpv8.import`, …). */
const RESERVED_PREFIX = '__mcpv8';

/**
 * Rewrites `source` into a classic script for the isolate; see the module comment for the
 * output shape and semantics.
 *
 * @throws {CellSyntaxError} when the cell does not parse or uses syntax a cell cannot support.
 */
export function transformCell(
  source: string,
  language: CellLanguage,
  options: TransformCellOptions = {},
): TransformedCell {
  const js = language === 'typescript' ? stripTypes(source) : source;
  try {
    return new CellRewriter(js, parseModule(js)).rewrite(options.deferred ?? false);
  } catch (err) {
    // Acorn reports its own stack overflow as a syntax error; the rewrite's walks may still
    // overflow on what acorn just managed to parse.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new CellSyntaxError('the cell is nested too deeply to transform', 1, 1);
    }
    throw err;
  }
}

export interface TransformCellOptions {
  /**
   * The script evaluates to the cell's async function instead of calling it, so whoever runs the
   * script decides when the cell starts (the sandbox follows its promise from the first tick).
   */
  deferred?: boolean;
}

function stripTypes(source: string): string {
  try {
    // 'strip' turns types into whitespace, so every position stays where the user wrote it.
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } catch (err) {
    if (errorCode(err) !== 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') throw toCellSyntaxError(err, source);
  }
  try {
    // enum, namespace and parameter properties need code generation; positions may shift.
    return stripTypeScriptTypes(source, { mode: 'transform' });
  } catch (err) {
    throw toCellSyntaxError(err, source);
  }
}

function errorCode(err: unknown): unknown {
  return err instanceof Error ? (err as { code?: unknown }).code : undefined;
}

/**
 * Node reports TypeScript syntax errors without a position property; the position is only in
 * the decorated stack: `:<line>\n<snippet lines>\n<spaces>^…\n\n<Name>: <message>`.
 */
function toCellSyntaxError(err: unknown, source: string): unknown {
  if (errorCode(err) !== 'ERR_INVALID_TYPESCRIPT_SYNTAX' || !(err instanceof Error)) return err;
  const header = /^[^\n]*:(\d+)\n([\s\S]*?)\n\n/.exec(err.stack ?? '');
  if (!header) return new CellSyntaxError(err.message, 1, 1);
  const line = Number(header[1]);
  const sourceLine = source.split(/\r\n?|\n|\u2028|\u2029/)[line - 1] ?? '';
  const caretLine = header[2]!.split('\n').at(-1) ?? '';
  const caret = /^ *\^/.test(caretLine) ? caretLine.indexOf('^') : -1;
  return new CellSyntaxError(err.message, line, columnAtVisualOffset(sourceLine, caret));
}

/** Maps the caret's offset in Node's snippet (tabs shown as 4 spaces) to a 1-based column. */
function columnAtVisualOffset(line: string, visual: number): number {
  // No caret: the error is at the end of the input.
  if (visual < 0) return line.length + 1;
  let seen = 0;
  for (let i = 0; i < line.length; i++) {
    seen += line[i] === '\t' ? 4 : 1;
    if (seen > visual) return i + 1;
  }
  return line.length + 1;
}

function parseModule(js: string): Program {
  try {
    return parse(js, {
      ecmaVersion: 'latest',
      sourceType: 'module',
      allowAwaitOutsideFunction: true,
      onToken: (token) => {
        // `a <!--b` is a comparison in a module but starts a comment in a classic script, where
        // it could hide the rest of the line (and our wrapper's balance) from the parser.
        if (js.startsWith('<!--', token.start) && token.end === token.start + 1) {
          const at = lineColumnAt(js, token.start);
          throw new CellSyntaxError("'<!--' is not allowed in a cell; add a space", at.line, at.column);
        }
      },
    });
  } catch (err) {
    if (err instanceof CellSyntaxError) throw err;
    const loc = (err as { loc?: { line: number; column: number } }).loc;
    if (!(err instanceof SyntaxError) || !loc) throw err;
    // Acorn appends "(line:column)" with a 0-based column; restate it 1-based.
    throw new CellSyntaxError(err.message.replace(/ \(\d+:\d+\)$/, ''), loc.line, loc.column + 1);
  }
}

function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lines = before.split(/\r\n?|\n|\u2028|\u2029/);
  return { line: lines.length, column: (lines.at(-1) ?? '').length + 1 };
}

/**
 * Where a `var` declaration sits, which decides how it is rewritten: a statement in a list
 * (may need a leading `;` against ASI), the sole body of `if`/loops, a `for (…;…;…)` head, or the
 * left side of `for…in/of`.
 */
type DeclarationSite = 'list' | 'body' | 'for-init' | 'for-left';

class CellRewriter {
  private readonly edits: EditList;
  private readonly declarations = new Set<string>();
  private readonly functionNames: string[] = [];
  /** Import specifiers with their offsets, sorted into source order at the end. */
  private readonly imports: { at: number; specifier: string }[] = [];

  private readonly js: string;
  private readonly program: Program;

  constructor(js: string, program: Program) {
    this.js = js;
    this.program = program;
    this.edits = new EditList(js);
  }

  rewrite(deferred: boolean): TransformedCell {
    // A hashbang is only legal at offset 0, which the wrapper prefix takes.
    if (this.js.startsWith('#!')) this.edits.replace(0, this.js.search(/[\r\n\u2028\u2029]|$/), '');
    for (const statement of this.program.body) this.rewriteTopLevel(statement);
    this.walkExpressions();
    this.captureResult();

    const declarations = [...this.declarations];
    const hoisted = declarations.length > 0 ? `var ${declarations.join(', ')}; ` : '';
    const syncs = this.functionNames.map((name) => `globalThis.${name} = ${name}; `).join('');
    const wrapper = `(async () => { ${syncs}${this.edits.apply()}\n})`;
    const code = `${hoisted}${deferred ? wrapper : `${wrapper}()`}`;
    const imports = [...new Set(this.imports.sort((a, b) => a.at - b.at).map((i) => i.specifier))];
    return { code, declarations, imports };
  }

  private rewriteTopLevel(statement: Program['body'][number]): void {
    let node: AnyNode = statement;
    if (node.type === 'ExportNamedDeclaration' && node.declaration) {
      // `export` is stripped: the declared name becomes a global like any other.
      this.edits.replace(node.start, node.declaration.start, '');
      node = node.declaration;
    } else if (
      node.type === 'ExportNamedDeclaration' ||
      node.type === 'ExportDefaultDeclaration' ||
      node.type === 'ExportAllDeclaration'
    ) {
      throw this.error(node, 'export is not supported in a cell; declare the name instead');
    }
    switch (node.type) {
      case 'ImportDeclaration':
        this.rewriteImport(node);
        return;
      case 'VariableDeclaration':
        // `using` stays local to the cell: it is disposed when the cell's body ends.
        if (node.kind === 'var' || node.kind === 'let' || node.kind === 'const') {
          this.rewriteVariables(node, 'list');
        }
        return;
      case 'FunctionDeclaration':
        // Stays in place (hoisted within the wrapper); the prefix copies it to the global.
        this.addName(node.id);
        this.functionNames.push(node.id.name);
        return;
      case 'ClassDeclaration':
        this.rewriteClass(node);
        return;
      default:
        this.hoistNestedVars(node, 'list');
    }
  }

  /** `class C {}` → `C = class C {};` (the `;` guards against a following `(`). */
  private rewriteClass(node: ClassDeclaration): void {
    this.addName(node.id);
    this.edits.insert(node.start, `${node.id.name} = `);
    this.edits.insert(node.end, ';');
  }

  /**
   * `const x = 1, {a} = o;` → `x = 1, ({a} = o);` with the declarators' text kept verbatim;
   * `var y` (no initializer) keeps the global's old value and so emits nothing, `let z` → `z = undefined`.
   */
  private rewriteVariables(node: VariableDeclaration, site: DeclarationSite): void {
    const declarators = node.declarations;
    for (const d of declarators) this.declarePattern(d.id);
    const first = declarators[0]!;
    if (site === 'for-left') {
      // `for (var [a, b] of xs)` → `for ([a, b] of xs)`: parens would make an invalid target.
      this.edits.replace(node.start, first.start, '');
      return;
    }
    const kept = new Set(declarators.filter((d) => d.init || node.kind !== 'var'));
    const firstKept = kept.values().next().value;
    const parenthesize = (id: Pattern): boolean => id.type !== 'Identifier';
    // A statement starting with `(` would call the previous line's value if it lacks a `;`.
    const guard = site === 'list' && firstKept?.init && parenthesize(firstKept.id) ? ';' : '';
    this.edits.replace(node.start, first.start, guard);
    declarators.forEach((d, i) => {
      // Separating commas are dropped, then re-inserted only between kept declarators.
      if (i > 0) this.edits.replace(declarators[i - 1]!.end, d.start, '');
      if (!kept.has(d)) {
        this.edits.replace(d.start, d.end, '');
        return;
      }
      if (d !== firstKept) this.edits.insert(d.start, ', ');
      if (!d.init) {
        this.edits.insert(d.end, ' = undefined');
      } else if (parenthesize(d.id)) {
        this.edits.insert(d.start, '(');
        this.edits.insert(d.end, ')');
      }
    });
    // Ending the statement explicitly keeps `if (c) var y` a statement and stops ASI surprises.
    if (site !== 'for-init' && node.end === declarators.at(-1)!.end) this.edits.insert(node.end, ';');
  }

  /**
   * `var` in top-level blocks and loops is function-scoped, i.e. a global in a script: rewrite it
   * like a top-level one. Stops at functions and classes, whose `var`s are their own.
   */
  private hoistNestedVars(node: Statement, site: DeclarationSite): void {
    switch (node.type) {
      case 'VariableDeclaration':
        if (node.kind === 'var') this.rewriteVariables(node, site);
        return;
      case 'BlockStatement':
        for (const s of node.body) this.hoistNestedVars(s, 'list');
        return;
      case 'IfStatement':
        this.hoistNestedVars(node.consequent, 'body');
        if (node.alternate) this.hoistNestedVars(node.alternate, 'body');
        return;
      case 'LabeledStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
      case 'WithStatement':
        this.hoistNestedVars(node.body, 'body');
        return;
      case 'ForStatement':
        if (node.init?.type === 'VariableDeclaration') this.hoistNestedVars(node.init, 'for-init');
        this.hoistNestedVars(node.body, 'body');
        return;
      case 'ForInStatement':
      case 'ForOfStatement':
        if (node.left.type === 'VariableDeclaration') this.hoistNestedVars(node.left, 'for-left');
        this.hoistNestedVars(node.body, 'body');
        return;
      case 'TryStatement':
        this.hoistNestedVars(node.block, 'list');
        if (node.handler) this.hoistNestedVars(node.handler.body, 'list');
        if (node.finalizer) this.hoistNestedVars(node.finalizer, 'list');
        return;
      case 'SwitchStatement':
        for (const c of node.cases) for (const s of c.consequent) this.hoistNestedVars(s, 'list');
        return;
      default:
    }
  }

  /**
   * `import d, { a as b } from 's'` → `;({ default: d, a: b } = await __mcpv8.import("s"));`,
   * `import * as ns from 's'` → `ns = await __mcpv8.import("s");`, `import 's'` → `await __mcpv8.import("s");`.
   */
  private rewriteImport(node: ImportDeclaration): void {
    if (node.attributes.length > 0) {
      throw this.error(node.attributes[0]!, 'import attributes are not supported in a cell');
    }
    const specifier = String(node.source.value);
    this.imports.push({ at: node.start, specifier });
    const load = `await ${RESERVED_PREFIX}.import(${JSON.stringify(specifier)})`;
    let namespace: string | undefined;
    let defaultName: string | undefined;
    const properties: string[] = [];
    for (const s of node.specifiers) {
      this.addName(s.local);
      if (s.type === 'ImportNamespaceSpecifier') namespace = s.local.name;
      else if (s.type === 'ImportDefaultSpecifier') defaultName = s.local.name;
      else {
        const imported =
          s.imported.type === 'Identifier' ? s.imported.name : JSON.stringify(s.imported.value);
        properties.push(`${imported}: ${s.local.name}`);
      }
    }
    if (defaultName !== undefined) properties.unshift(`default: ${defaultName}`);
    let text: string;
    if (namespace !== undefined) {
      // Only `import d, * as ns` combines a namespace with another binding.
      text =
        `${namespace} = ${load};` +
        (defaultName === undefined ? '' : ` ${defaultName} = ${namespace}.default;`);
    } else if (properties.length > 0) {
      // The leading `;` stops a previous line without one from calling `(`.
      text = `;({ ${properties.join(', ')} } = ${load});`;
    } else {
      text = `${load};`;
    }
    this.edits.replace(node.start, node.end, text);
  }

  /** Dynamic `import()` → `__mcpv8.import()`, anywhere; `import.meta` is rejected. */
  private walkExpressions(): void {
    visit(this.program, (node) => {
      if (node.type === 'MetaProperty' && node.meta.name === 'import') {
        throw this.error(node, 'import.meta is not available in a cell');
      }
      if (node.type !== 'ImportExpression') return;
      if (node.options) throw this.error(node.options, 'import attributes are not supported in a cell');
      const source = node.source;
      if (source.type === 'Literal' && typeof source.value === 'string') {
        this.imports.push({ at: node.start, specifier: source.value });
      } else if (source.type === 'TemplateLiteral' && source.expressions.length === 0) {
        this.imports.push({ at: node.start, specifier: source.quasis[0]!.value.cooked ?? '' });
      }
      this.edits.replace(node.start, node.start + 'import'.length, `${RESERVED_PREFIX}.import`);
    });
  }

  /**
   * The last statement, if an expression, becomes the wrapper's return value. Trailing statements
   * that emit nothing are skipped: `;` and `var x` (as in `1;;`, and the `var M;` TypeScript's
   * transform appends after a namespace). The statement's own range is used because it includes
   * the expression's enclosing parentheses, which the expression node's range does not.
   */
  private captureResult(): void {
    const last = this.program.body.findLast(
      (s) =>
        s.type !== 'EmptyStatement' &&
        !(s.type === 'VariableDeclaration' && s.kind === 'var' && s.declarations.every((d) => !d.init)),
    );
    if (last?.type !== 'ExpressionStatement') return;
    const end = this.js[last.end - 1] === ';' ? last.end - 1 : last.end;
    this.edits.insert(last.start, 'return (');
    this.edits.insert(end, ')');
    if (end === last.end) this.edits.insert(end, ';');
  }

  private declarePattern(pattern: Pattern): void {
    switch (pattern.type) {
      case 'Identifier':
        this.addName(pattern);
        return;
      case 'ObjectPattern':
        for (const p of pattern.properties) this.declarePattern(p.type === 'RestElement' ? p : p.value);
        return;
      case 'ArrayPattern':
        for (const e of pattern.elements) if (e) this.declarePattern(e);
        return;
      case 'RestElement':
        this.declarePattern(pattern.argument);
        return;
      case 'AssignmentPattern':
        this.declarePattern(pattern.left);
        return;
      default:
    }
  }

  private addName(id: { name: string; start: number }): void {
    if (id.name.startsWith(RESERVED_PREFIX)) {
      throw this.error(
        id,
        `the name ${id.name} is reserved: names starting with ${RESERVED_PREFIX} belong to the runtime`,
      );
    }
    this.declarations.add(id.name);
  }

  private error(node: { start: number }, reason: string): CellSyntaxError {
    const at = lineColumnAt(this.js, node.start);
    return new CellSyntaxError(reason, at.line, at.column);
  }
}

/**
 * Calls `fn` on every node of the tree, parents first. Iterative: a tree as deep as acorn can
 * parse (`a.b.b.b…`, half a million levels) must not overflow the stack here.
 */
function visit(root: AnyNode, fn: (node: AnyNode) => void): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push(node[i]);
      continue;
    }
    if (typeof node !== 'object' || node === null || typeof (node as { type?: unknown }).type !== 'string') {
      continue;
    }
    fn(node as AnyNode);
    const children = Object.values(node);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
}
