// Reads a lab file (YAML or JSON: YAML is a superset) into a validated Lab.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { LabModelError, referenceLab, validateLab, type Lab } from './topology.js';

export async function loadLab(file?: string): Promise<Lab> {
  if (!file) return referenceLab();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LabModelError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseLab(text, file);
}

export function parseLab(text: string, source: string): Lab {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new LabModelError(source, [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data)))
    throw new LabModelError(source, ['(lab): the file must hold a mapping of fields (name, subnet, vip, ...)']);
  return validateLab(data, source);
}
