import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as users run it. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The launcher the Dockerfile, `npm start` and the package's bin run (it picks the V8 flags). */
export const LAUNCHER = fileURLToPath(new URL('../../../bin/jwt-ext-authz', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...options.env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jwt-ext-authz ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 15000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

type Started = { child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> };

/** Starts a long-running CLI process and waits until its stdout matches `ready`. */
export function startCli(args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  return startProcess(process.execPath, [CLI, ...args], ready, env);
}

/** The same through bin/jwt-ext-authz, exactly as shipped. */
export function startLauncher(args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  return startProcess(LAUNCHER, args, ready, env);
}

function startProcess(command: string, args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: 'pipe' });
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready in time:\n${out}`));
    }, 15000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out, exited });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${out}`));
    });
  });
}
