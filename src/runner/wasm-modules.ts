/**
 * Pre-loaded WebAssembly modules (`--wasm-module name=path`, `--wasm-config file.json`): read
 * and checked once at start-up, then compiled into every sandbox. A module without imports is
 * also instantiated and its exports exposed as the global `name`; every module's compiled
 * `WebAssembly.Module` is the global `__wasm_<name>` (instantiate it with your own imports).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Mcpv8Error } from '../core/index.ts';

/** Largest pre-loaded module, bytes. */
export const MAX_WASM_MODULE_BYTES = 64 * 1024 * 1024;
const NAME = /^[A-Za-z_$][\w$]*$/;
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

export interface WasmModuleSpec {
  name: string;
  path: string;
}

/**
 * Merges `--wasm-module name=path` flags and the `{ "name": "path" }` entries of a config file
 * (paths relative to the file). Duplicate or invalid names are an error.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID listing every problem.
 */
export function parseWasmModuleSpecs(flags: readonly string[], configFile?: string): WasmModuleSpec[] {
  const problems: string[] = [];
  const specs: WasmModuleSpec[] = [];
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0 || eq === flag.length - 1) problems.push(`--wasm-module must be name=path, got "${flag}"`);
    else specs.push({ name: flag.slice(0, eq), path: resolve(flag.slice(eq + 1)) });
  }
  if (configFile !== undefined) {
    try {
      const parsed = JSON.parse(readFileSync(configFile, 'utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        problems.push(`--wasm-config ${configFile} must hold a JSON object of name → path`);
      } else {
        for (const [name, path] of Object.entries(parsed)) {
          if (typeof path !== 'string')
            problems.push(`--wasm-config ${configFile}: the path of "${name}" must be a string`);
          else specs.push({ name, path: resolve(dirname(configFile), path) });
        }
      }
    } catch (err) {
      problems.push(`--wasm-config ${configFile}: ${(err as Error).message}`);
    }
  }
  const seen = new Set<string>();
  for (const { name } of specs) {
    if (!NAME.test(name)) problems.push(`WebAssembly module name "${name}" is not a JavaScript identifier`);
    else if (name.startsWith('__')) problems.push(`WebAssembly module name "${name}" may not start with __`);
    if (seen.has(name)) problems.push(`WebAssembly module "${name}" is defined more than once`);
    seen.add(name);
  }
  if (problems.length > 0) throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [problems.join('; ')]);
  return specs;
}

/**
 * Reads and checks each module file (size, WebAssembly magic, and that it compiles).
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID naming the file.
 */
export function loadWasmModules(specs: readonly WasmModuleSpec[]): Map<string, Uint8Array> {
  const modules = new Map<string, Uint8Array>();
  for (const { name, path } of specs) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
        `WebAssembly module "${name}": ${(err as Error).message}`,
      ]);
    }
    if (bytes.length > MAX_WASM_MODULE_BYTES) {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
        `WebAssembly module "${name}" is larger than ${MAX_WASM_MODULE_BYTES} bytes`,
      ]);
    }
    if (!WASM_MAGIC.every((b, i) => bytes[i] === b)) {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
        `${path} (module "${name}") is not a WebAssembly binary`,
      ]);
    }
    modules.set(name, bytes);
  }
  return modules;
}

/**
 * Source evaluated in each new sandbox (as a closure with $0 = JSON array of the `count` names,
 * $1..$count = the modules' bytes as ArrayBuffers) that defines the globals. Runs in the isolate.
 */
export function wasmInstallSource(count: number): string {
  const buffers = Array.from({ length: count }, (_, i) => `$${i + 1}`).join(', ');
  return `
const names = JSON.parse($0);
const buffers = [${buffers}];
for (let i = 0; i < names.length; i++) {
  const name = names[i];
  const module = new WebAssembly.Module(buffers[i]);
  Object.defineProperty(globalThis, '__wasm_' + name, { value: module, writable: true, configurable: true });
  if (WebAssembly.Module.imports(module).length === 0) {
    const instance = new WebAssembly.Instance(module, {});
    Object.defineProperty(globalThis, name, { value: instance.exports, writable: true, configurable: true });
  }
}`;
}
