/** The errno code of a failed fs/net call (`ENOENT`), or a fixed text when there is none. */
export const errnoCode = (e: unknown): string => (e as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';

const IO_MESSAGES: Readonly<Record<string, string>> = {
  ENOENT: 'file not found', ENOTDIR: 'a part of the path is not a folder', ENAMETOOLONG: 'file name too long',
  EACCES: 'permission denied', EPERM: 'permission denied',
};

/** Why a file could not be read, for a config error or a log line: never the file's content. */
export const readError = (e: unknown): string => {
  const code = errnoCode(e);
  return IO_MESSAGES[code] ?? `cannot read the file (${code})`;
};
