// Reads a lab file (YAML or JSON: YAML is a superset) into a validated Lab.
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'yaml';
import { withPreset } from './presets.js';
import { LabModelError, validateLab, type Lab } from './topology.js';

/** A lab file larger than this is refused unread: a lab holds at most 64 realservers. */
export const MAX_LAB_FILE_BYTES = 1024 * 1024;

/** The lab of a file, of a preset, or of a preset with a file's fields over it; neither: the reference lab. */
export async function loadLab(file?: string, preset?: string, name?: string): Promise<Lab> {
  // A name given apart (`--name`) is one more field of the file, validated with the rest.
  const named = (data: unknown) => (name === undefined ? data : { ...(data as object | null), name });
  if (!file) return preset ? withPreset(preset, named({}), 'lab') : validateLab(named({}), 'reference lab');
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_LAB_FILE_BYTES)
      throw new Error(`${size} bytes is too large for a lab file (at most ${MAX_LAB_FILE_BYTES})`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LabModelError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseLab(text, file, preset, named);
}

export function parseLab(
  text: string,
  source: string,
  preset?: string,
  adjust: (data: unknown) => unknown = (d) => d,
): Lab {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new LabModelError(source, [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data)))
    throw new LabModelError(source, ['(lab): the file must hold a mapping of fields (name, subnet, vip, ...)']);
  return preset ? withPreset(preset, adjust(data), source) : validateLab(adjust(data), source);
}
