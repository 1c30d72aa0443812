// A child's output, line by line: its JSON log lines, or a banner it prints.
import type { Readable } from 'node:stream';

/** Calls `onLine` with each complete line `stream` writes, in order, without its newline. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
}

/** The object a JSON log line holds, or undefined for any other line (a stack trace, a banner). */
export function parseLogLine<T extends object = Record<string, unknown>>(line: string): T | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}
