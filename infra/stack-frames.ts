// Pulumi records where each resource was declared by parsing `new Error().stack`, and takes each frame's file for a
// path. An ES module's frames name a file:// URL at its transpiled position, which became a malformed
// `project:///infra/file:<checkout>/...#1,N`: frames are written here with the path and the TypeScript position.
import { findSourceMap, type SourceMapping } from 'node:module';
import { fileURLToPath } from 'node:url';

/** One frame as V8 writes it, mapped through its module's source map, with a path for its file. */
export function framePosition(frame: NodeJS.CallSite): string {
  let file = frame.getFileName();
  let line = frame.getLineNumber();
  let column = frame.getColumnNumber();
  const found = file && line && column ? findSourceMap(file)?.findEntry(line - 1, column - 1) : undefined;
  const entry = found && 'originalSource' in found ? (found as SourceMapping) : undefined;
  if (entry) {
    file = entry.originalSource;
    line = entry.originalLine + 1;
    column = entry.originalColumn + 1;
  }
  if (file?.startsWith('file://')) file = fileURLToPath(file);
  const where = file ? `${file}:${line}:${column}` : '<anonymous>';
  const name = frame.getFunctionName() ?? frame.getMethodName() ?? '<anonymous>';
  return `    at ${frame.isConstructor() ? 'new ' : ''}${name} (${where})`;
}

/** Makes every stack trace of this process name paths and TypeScript positions (source maps must be on). */
export function installStackFrames(): void {
  Error.prepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) =>
    [String(error), ...frames.map(framePosition)].join('\n');
}
