import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEPLOY, REPO, filesUnder, read, rel } from './support.js';

const README = read(join(REPO, 'README.md'));
const version = (JSON.parse(read(join(REPO, 'package.json'))) as { version: string }).version;

/** The text of `## Deploy`, up to the next `## ` heading. */
function deploySection(): { text: string; next: string } {
  const start = README.indexOf('\n## Deploy\n');
  assert.ok(start >= 0, 'README has a "## Deploy" section');
  const rest = README.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  return { text: rest.slice(0, end), next: /^## (.*)$/m.exec(rest.slice(end + 1))?.[1] ?? '' };
}

/** Folders under deploy/ that hold files, e.g. deploy/kubernetes/sidecar. */
const modeFolders = (): string[] => [...new Set(filesUnder(DEPLOY).map((f) => rel(f).replace(/\/[^/]+$/, '')))].sort();

describe('Deploy documentation', () => {
  it('has a ## Deploy section right before ## Development', () => {
    assert.equal(deploySection().next, 'Development');
  });

  it('links every deployment folder from ## Deploy, and only to paths that exist', () => {
    const { text } = deploySection();
    const links = [...text.matchAll(/\]\(([^)]+)\)/g)].map((m) => (m[1] ?? '').replace(/\/$/, ''));
    for (const link of links) assert.ok(existsSync(join(REPO, link)), `README links ${link}`);
    for (const folder of modeFolders()) assert.ok(links.includes(folder), `## Deploy links ${folder}`);
    assert.match(text, new RegExp(`docker build -t jwt-ext-authz:${version.replace(/\./g, '\\.')} \\.`), 'the image tag the manifests use');
  });

  it('gives every deployment folder a README whose relative links resolve', () => {
    for (const folder of modeFolders()) {
      const readme = join(REPO, folder, 'README.md');
      assert.ok(existsSync(readme), `${folder}/README.md`);
      for (const m of read(readme).matchAll(/\]\(([^)#]+)\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        assert.ok(existsSync(join(REPO, folder, target)), `${folder}/README.md links ${target}`);
      }
    }
    assert.deepEqual(readdirSync(DEPLOY).sort(), ['caddy', 'envoy', 'istio', 'kubernetes', 'nginx', 'observability', 'traefik', 'trino']);
  });

  it('quotes shipped files exactly: every line of a README excerpt is in the file it names, in order', () => {
    const excerpts = [...README.matchAll(/<!-- excerpt: (\S+) -->\n```[a-z]*\n([\s\S]*?)\n```/g)];
    assert.ok(excerpts.length >= 5, `README has ${excerpts.length} excerpts of deploy/ files`);
    for (const m of excerpts) {
      const file = m[1] ?? '';
      assert.ok(existsSync(join(REPO, file)), `${file} exists`);
      const lines = read(join(REPO, file)).split('\n').map((l) => l.trim());
      let from = 0;
      for (const line of (m[2] ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
        const found = lines.indexOf(line, from);
        assert.ok(found >= 0, `README excerpt of ${file}: "${line}" is not in the file (after line ${from})`);
        from = found + 1;
      }
    }
  });

  it('shows an excerpt of every HTTP-mode proxy config', () => {
    const named = new Set([...README.matchAll(/<!-- excerpt: (\S+) -->/g)].map((m) => m[1]));
    for (const file of ['deploy/nginx/jwt-ext-authz.conf', 'deploy/caddy/Caddyfile', 'deploy/traefik/dynamic.yaml', 'deploy/envoy/envoy-http.yaml', 'deploy/istio/mesh-config.yaml']) {
      assert.ok(named.has(file), `an excerpt of ${file}`);
    }
  });
});
