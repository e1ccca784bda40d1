// JSON files the kit writes and reads back (lab state, the engine VM's and libvirtd's records): written whole or not
// at all, read with a size bound, and a file that is not what the kit wrote is refused with where and why.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { UserError } from '../model/errors.js';

/** A state or lock file larger than this is not one (and is not read whole). */
const MAX_JSON_BYTES = 1024 * 1024;

/** A JSON file, or undefined when there is none; a file that is not JSON is a CorruptStateError. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  const { size } = await stat(file);
  if (size > MAX_JSON_BYTES) throw new CorruptStateError(file, `${size} bytes, too large`);
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CorruptStateError(file, text.trim() === '' ? 'empty' : `not JSON (${(err as Error).message})`);
  }
}

/** Writes an exclusive file of its own beside and renames: a reader (or a kill) never sees half a file, and no
 * other file is written through. The directory is private. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(JSON.stringify(value, null, 2));
  } finally {
    await fh.close();
  }
  await rename(tmp, file).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

/** A state file that cannot be what the kit wrote: refused, with where it is and why. */
export class CorruptStateError extends UserError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: not a lab state the kit wrote (${reason}); \`down --name <lab>\` removes what it can find by name`);
  }
}

/** `raw` as `schema` takes it, or an Error naming the first field that is wrong and why: "pid: Too small". */
export function parsedWith<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`${issue.path.join('.') || '(record)'}: ${issue.message}`);
}
