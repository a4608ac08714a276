import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfigFile } from '../../src/config/load.js';
import { createCheckClient, type CheckClient } from '../../src/grpc/client.js';
import { createLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/start.js';

export const tempDir = (prefix = 'jwt-ext-authz-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** Every log line written by services started in this process, to assert no token leaks. */
export const capturedLogs: string[] = [];

export interface TestService {
  readonly service: RunningService;
  readonly client: CheckClient;
  readonly dir: string;
  /** The config file, for tests that edit it. */
  readonly file: string;
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Writes `yaml` (with listen/admin-listen on free loopback ports unless given) to a temp dir
 * and starts the real service in this process. `watch: false` turns off reloading on file
 * changes, for tests that reload only when they say so.
 */
export async function startTestService(yaml: string, options: { dir?: string; fileName?: string; watch?: boolean } = {}): Promise<TestService> {
  const dir = options.dir ?? tempDir();
  const file = join(dir, options.fileName ?? 'config.yaml');
  const isProps = file.endsWith('.properties');
  const head = isProps
    ? `${/^listen\s*=/m.test(yaml) ? '' : 'listen=127.0.0.1:0\n'}${/^admin-listen\s*=/m.test(yaml) ? '' : 'admin-listen=127.0.0.1:0\n'}`
    : `${/^listen:/m.test(yaml) ? '' : 'listen: 127.0.0.1:0\n'}${/^admin-listen:/m.test(yaml) ? '' : 'admin-listen: 127.0.0.1:0\n'}`;
  writeFileSync(file, head + yaml);
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    logs.push(text);
    capturedLogs.push(text);
  });
  const logger = createLogger('debug', sink);
  const load = () => loadConfigFile(file);
  const service = await startService(load(), { logger, load, ...(options.watch === undefined ? {} : { watch: options.watch }) });
  const client = createCheckClient(service.grpcAddress);
  return {
    service,
    client,
    dir,
    file,
    logs,
    async close() {
      client.close();
      await service.stop(1000);
    },
  };
}
