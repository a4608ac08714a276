import { lstatSync, unlinkSync } from 'node:fs';

/** `unix:/path` (or `unix:///path`) → `/path`. */
export const unixSocketPath = (listen: string): string | undefined =>
  listen.startsWith('unix:') ? listen.slice('unix:'.length).replace(/^\/\/(?=\/)/, '') : undefined;

/** A socket file left by a killed process would make bind fail; anything else is left alone. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to do
  }
}
