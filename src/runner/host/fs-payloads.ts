/**
 * The host-call payloads of the fs capability, as the in-isolate `fs` global (fs-prelude.ts)
 * sends them. They come from hostile code: each op has one strict shape, anything else is
 * refused before a path is looked at.
 *
 * Binary data crosses as base64 inside the JSON payload, text as a JSON string (the host encodes
 * it as UTF-8). A host call carries at most 1 MiB of characters, so larger data is sent ahead in
 * `fs.stage` chunks and the write names the staged id.
 */
import { z } from 'zod';
import { MAX_PATH_CHARS } from './fs-paths.ts';
import { SandboxFacingError } from './host-capability.ts';

// Bounded here too (the sandbox caps a whole payload): a path is checked in detail later.
const PathSchema = z.string().max(MAX_PATH_CHARS + 1);
const Base64Schema = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
  .refine((s) => s.length % 4 === 0, 'must be padded base64');

/** One chunk of data: text (written as UTF-8) or base64 bytes. */
export const ChunkSchema = z.union([
  z.object({ text: z.string() }).strict(),
  z.object({ base64: Base64Schema }).strict(),
]);
export type Chunk = z.infer<typeof ChunkSchema>;

/** What a write writes: one chunk inline, or the id of data staged before. */
const DataSchema = z.union([ChunkSchema, z.object({ staged: z.number().int().min(1) }).strict()]);
export type WriteData = z.infer<typeof DataSchema>;

const Target = z.object({ path: PathSchema }).strict();
const FromTo = z.object({ from: PathSchema, to: PathSchema }).strict();

/** Every op of the capability with the shape of its payload. */
export const FS_PAYLOADS = {
  'fs.readFile': z.object({ path: PathSchema, encoding: z.enum(['utf8', 'buffer']) }).strict(),
  'fs.writeFile': z.object({ path: PathSchema, data: DataSchema }).strict(),
  'fs.appendFile': z.object({ path: PathSchema, data: DataSchema }).strict(),
  'fs.readdir': Target,
  'fs.stat': Target,
  'fs.exists': Target,
  'fs.mkdir': z.object({ path: PathSchema, recursive: z.boolean() }).strict(),
  'fs.rm': z.object({ path: PathSchema, recursive: z.boolean(), force: z.boolean() }).strict(),
  'fs.rename': FromTo,
  'fs.copyFile': FromTo,
  'fs.stage': z.object({ id: z.number().int().min(1).optional(), chunk: ChunkSchema }).strict(),
} as const;

export type FsOp = keyof typeof FS_PAYLOADS;
export type FsPayload<O extends FsOp> = z.infer<(typeof FS_PAYLOADS)[O]>;

/** The host-call ops of the capability. */
export const FS_OPS = Object.keys(FS_PAYLOADS) as readonly FsOp[];

export function isFsOp(op: string): op is FsOp {
  return Object.hasOwn(FS_PAYLOADS, op);
}

/**
 * The payload of `op`, validated.
 * @throws SandboxFacingError TypeError ERR_INVALID_ARG_TYPE naming the first offending field.
 */
export function parseFsPayload<O extends FsOp>(op: O, payload: string): FsPayload<O> {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    throw invalid(op, 'the payload is not JSON');
  }
  const parsed = FS_PAYLOADS[op].safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
    throw invalid(op, `${where}${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as FsPayload<O>;
}

function invalid(op: string, why: string): SandboxFacingError {
  return new SandboxFacingError('TypeError', `${op}: invalid arguments (${why})`, 'ERR_INVALID_ARG_TYPE');
}
