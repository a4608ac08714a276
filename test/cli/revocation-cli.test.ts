import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nowSeconds, sign, testKeys, writeKey } from '../helpers/keys.js';
import { runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/service.js';

const ISS = 'https://idp.test/';
const keys = testKeys();

/** A config with one provider and `revocations.file: revoked.json` holding `rules`. */
function configWith(rules: unknown, provider = ''): { dir: string; file: string; revoked: string } {
  const dir = tempDir();
  writeKey(dir, 'k.pem', keys.ec.publicKey);
  const revoked = join(dir, 'revoked.json');
  writeFileSync(revoked, typeof rules === 'string' ? rules : JSON.stringify({ rules }));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `providers:\n  - name: corp\n    key-file: k.pem\n    required-issuer: "${ISS}"\n${provider}revocations:\n  file: revoked.json\n`);
  return { dir, file, revoked };
}

describe('verify with revocation rules', () => {
  it('names the rule that revoked the token, by index and shape', async () => {
    const { file } = configWith([
      { jti: 'other' },
      { iss: ISS, sub: 'bob' },
      { iss: 'https://elsewhere.test/', 'issued-before': '2026-01-01T00:00:00Z' },
      { iss: ISS, sub: 'alice', 'issued-before': new Date((nowSeconds() + 60) * 1000).toISOString() },
    ]);
    const tk = await sign({ iss: ISS, sub: 'alice', jti: 'j-1', iat: nowSeconds(), exp: nowSeconds() + 600 }, keys.ec.privateKey);
    const res = await runCli(['verify', '--config', file, '--token', tk]);
    assert.equal(res.code, 1, res.stderr);
    const out = JSON.parse(res.stdout) as Record<string, unknown>;
    assert.equal(out['reason'], 'revoked');
    assert.equal(out['provider'], 'corp');
    assert.equal(out['revokedBy'], 'rules[3] {iss, sub, issued-before}');
    assert.equal((out['claims'] as Record<string, unknown>)['jti'], 'j-1');
    const fine = await sign({ iss: ISS, sub: 'carol', exp: nowSeconds() + 600 }, keys.ec.privateKey);
    const ok = await runCli(['verify', '--config', file, '--token', fine]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as Record<string, unknown>)['revokedBy'], undefined);
  });
});

describe('validate-config with revocation rules', () => {
  it('refuses malformed rules, naming the file and each rule, and exits 2', async () => {
    const { file, revoked } = configWith([{ jti: 'a' }, {}, { sub: 'alice' }, { iss: ISS }, { iss: ISS, 'issued-before': 'tomorrow' }, { jti: 7 }, { jti: 'b', why: 'leak' }]);
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2, res.stdout);
    const lines = res.stderr.split('\n');
    const about = (key: string) => lines.find((l) => l.includes(`${revoked}: ${key}: `)) ?? '';
    assert.match(about('rules[1]'), /\{\} is none of the rule shapes/);
    assert.match(about('rules[2]'), /\{sub\} is none of the rule shapes/);
    assert.match(about('rules[3]'), /\{iss\} is none of the rule shapes/);
    assert.match(about('rules[4].issued-before'), /"tomorrow" is not an RFC 3339 date-time/);
    assert.match(about('rules[5].jti'), /must be a string/);
    assert.match(about('rules[6].why'), /unknown key "why"/);
    assert.equal(about('rules[0]'), '');
  });

  it('refuses invalid JSON and a missing file', async () => {
    const { file, revoked } = configWith('{"rules": [');
    const res = await runCli(['validate-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, new RegExp(`${revoked.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid JSON`));
    writeFileSync(file, `providers:\n  - name: corp\n    key-file: k.pem\nrevocations:\n  file: gone.json\n`);
    const missing = await runCli(['validate-config', '--config', file]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /c\.yaml: revocations\.file: cannot read revocation file .*gone\.json: file not found/);
  });

  it('accepts an empty list and prints rules that can never match as warnings', async () => {
    const empty = configWith([]);
    const res = await runCli(['validate-config', '--config', empty.file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /revocations:\n {2}file: .*revoked\.json/);
    const { file } = configWith(
      [{ iss: ISS, 'issued-before': '2020-01-01T00:00:00Z' }, { iss: 'https://typo.test/', sub: 'a' }, { jti: 'kept' }],
      '    max-lifetime: 1h\n',
    );
    const warned = await runCli(['validate-config', '--config', file]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, new RegExp(`warning: .*revoked\\.json: rules\\[0\\] \\{iss, issued-before\\}: can never match \\(every token it revokes expired by 2020-01-01T01:01:01.000Z`));
    assert.match(warned.stderr, /rules\[1\] \{iss, sub\}: can never match \(no provider accepts issuer "https:\/\/typo\.test\/", so it revokes nothing .*\); check its iss\n/);
    assert.doesNotMatch(warned.stderr, /rules\[2\]/);
  });
});
