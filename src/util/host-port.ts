/** Splits a `host:port` listen address (IPv6 in brackets) for node:net. */
export function splitHostPort(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(colon + 1)) };
}

/** The host part as written, brackets kept: `[::1]:9191` → `[::1]`. */
export const hostPart = (listen: string): string => listen.slice(0, listen.lastIndexOf(':'));
