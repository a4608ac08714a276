import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PROTO_DIR } from '../../src/grpc/proto.js';
import { REPO, read } from './support.js';

interface Instruction {
  readonly keyword: string;
  /** Text after the keyword, flags (--from=...) removed. */
  readonly args: string;
  readonly flags: Readonly<Record<string, string>>;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile syntax: comment lines, backslash continuations, KEYWORD [--flag=value]... args. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i += 1;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue;
      line = `${line.replace(/\\\s*$/, '')} ${next.trim()}`;
    }
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start + 1}: ${line}`);
    const flags: Record<string, string> = {};
    let args = (m[2] ?? '').trim();
    for (let f = /^--([\w-]+)=(\S+)\s+/.exec(args); f !== null; f = /^--([\w-]+)=(\S+)\s+/.exec(args)) {
      flags[f[1] ?? ''] = f[2] ?? '';
      args = args.slice(f[0].length);
    }
    out.push({ keyword: (m[1] ?? '').toUpperCase(), args, flags, line: start + 1 });
  }
  return out;
}

function stages(instructions: readonly Instruction[]): Stage[] {
  const out: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(/\s+/);
      out.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const current = out[out.length - 1];
      assert.ok(current, `Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      current.instructions.push(ins);
    }
  }
  return out;
}

const jsonArgs = (ins: Instruction | undefined): string[] => {
  assert.ok(ins, 'instruction present');
  const v: unknown = JSON.parse(ins.args);
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `line ${ins.line}: exec (JSON) form`);
  return v as string[];
};

const dockerfile = parseDockerfile(read(join(REPO, 'Dockerfile')));
const [build, runtime] = stages(dockerfile);
const last = (s: Stage | undefined, keyword: string): Instruction | undefined => s?.instructions.filter((i) => i.keyword === keyword).at(-1);
const runs = (s: Stage | undefined): string[] => (s?.instructions ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
const copies = (s: Stage | undefined): Instruction[] => (s?.instructions ?? []).filter((i) => i.keyword === 'COPY');
/** COPY a b ./dest → sources. */
const sources = (ins: Instruction): string[] => ins.args.split(/\s+/).slice(0, -1);
const dest = (ins: Instruction): string => ins.args.split(/\s+/).at(-1) ?? '';

const NODE_20_SLIM = /^node:20(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/;
const SECRET_FILE = /(^|\/)(\.env(\..*)?|\.npmrc|id_[a-z0-9]+|.*\.(pem|key|crt|p12|pfx|jks))$/;

describe('Dockerfile', () => {
  it('has two stages, build and runtime, both on the official node 20 bookworm-slim image', () => {
    assert.equal(stages(dockerfile).length, 2);
    assert.equal(build?.name, 'build');
    assert.equal(runtime?.name, 'runtime');
    assert.match(build?.image ?? '', NODE_20_SLIM);
    assert.match(runtime?.image ?? '', NODE_20_SLIM);
  });

  it('builds with every dependency installed from the lock file, then compiles the TypeScript', () => {
    const commands = runs(build).join(' && ');
    assert.match(commands, /\bnpm ci\b/);
    assert.doesNotMatch(commands, /--omit=dev|--production/, 'the build needs typescript and @types/node');
    assert.match(commands, /npm run build|\btsc\b/);
    const copied = copies(build).flatMap(sources);
    // scripts/: the build bundles the CLI with scripts/bundle.mjs.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'scripts']) assert.ok(copied.includes(f), `build copies ${f}`);
  });

  it('installs production dependencies only in the runtime stage, without install scripts', () => {
    const npm = runs(runtime).filter((r) => /\bnpm ci\b/.test(r));
    assert.equal(npm.length, 1);
    assert.match(npm[0] ?? '', /npm ci --omit=dev --ignore-scripts/);
  });

  it('copies dist/src from the build stage and proto/ beside it, where the code looks for the protos', () => {
    const workdir = last(runtime, 'WORKDIR')?.args;
    assert.equal(workdir, '/app');
    const fromBuild = copies(runtime).filter((c) => c.flags['from'] === 'build');
    assert.deepEqual(fromBuild.map((c) => [sources(c), dest(c)]), [[['/app/dist/src'], './dist/src']]);
    const fromContext = copies(runtime).filter((c) => c.flags['from'] === undefined);
    assert.ok(fromContext.some((c) => sources(c).includes('proto') && dest(c) === './proto'));
    // package.json's "type": "module" makes dist/ ES modules at run time.
    assert.ok(fromContext.some((c) => sources(c).includes('package.json')));
    // dist/src/grpc/proto.js resolves ../../../proto, i.e. <app>/proto.
    assert.equal(PROTO_DIR, join(REPO, 'proto/'));
  });

  it('runs the CLI as a numeric non-root user and exposes the gRPC and admin ports', () => {
    const user = last(runtime, 'USER')?.args ?? '';
    assert.match(user, /^\d+(:\d+)?$/, 'numeric, so Kubernetes runAsNonRoot can verify it');
    assert.notEqual(Number(user.split(':')[0]), 0);
    const exposed = (runtime?.instructions ?? []).filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.deepEqual(exposed.sort(), ['9191', '9901']);
    assert.deepEqual(jsonArgs(last(runtime, 'ENTRYPOINT')), ['/app/bin/jwt-ext-authz']);
    assert.ok(copies(runtime).some((c) => sources(c).includes('bin/jwt-ext-authz') && dest(c) === './bin/jwt-ext-authz'), 'the launcher is in the image');
    assert.deepEqual(jsonArgs(last(runtime, 'CMD')), ['serve', '--config', '/etc/jwt-ext-authz/config.yaml']);
    assert.ok(existsSync(join(REPO, 'dist', 'src', 'cli', 'main.cjs')), 'the bundle the launcher runs exists after the build, inside dist/src');
    assert.ok((statSync(join(REPO, 'bin', 'jwt-ext-authz')).mode & 0o111) !== 0, 'the launcher is executable');
  });

  it('copies only files that exist, that .dockerignore lets into the context, and no secrets', () => {
    const ignore = read(join(REPO, '.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '**', '.dockerignore starts by excluding everything');
    for (const c of copies(build).concat(copies(runtime)).filter((x) => x.flags['from'] === undefined)) {
      for (const src of sources(c)) {
        assert.ok(existsSync(join(REPO, src)), `COPY ${src} (line ${c.line}) exists`);
        assert.ok(ignore.includes(`!${src}`), `.dockerignore lets ${src} in`);
        assert.doesNotMatch(src, SECRET_FILE, `COPY ${src}`);
      }
    }
    for (const pattern of ['**/*.pem', '**/*.key', '**/.env', '**/.npmrc']) assert.ok(ignore.includes(pattern), `.dockerignore excludes ${pattern}`);
    assert.ok(!dockerfile.some((i) => i.keyword === 'ADD'), 'no ADD (remote URLs, archives)');
    for (const i of dockerfile.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) {
      assert.doesNotMatch(i.args, /secret|password|token|credential/i, `line ${i.line}`);
    }
  });
});
