// Reads a lab file (YAML or JSON: YAML is a superset) into a validated Lab.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { withPreset } from './presets.js';
import { LabModelError, validateLab, type Lab } from './topology.js';

/** The lab of a file, of a preset, or of a preset with a file's fields over it; neither: the reference lab. */
export async function loadLab(file?: string, preset?: string): Promise<Lab> {
  if (!file) return preset ? withPreset(preset, {}, 'lab') : validateLab({}, 'reference lab');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LabModelError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseLab(text, file, preset);
}

export function parseLab(text: string, source: string, preset?: string): Lab {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new LabModelError(source, [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data)))
    throw new LabModelError(source, ['(lab): the file must hold a mapping of fields (name, subnet, vip, ...)']);
  return preset ? withPreset(preset, data, source) : validateLab(data, source);
}
