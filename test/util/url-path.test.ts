import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHost, envoyPath, hasOneReading, lenientPath } from '../../src/util/url-path.js';

describe('request path readings for routes', () => {
  it("reads a path as Envoy's normalize_path + merge_slashes leave it", () => {
    const cases: [string, string][] = [
      ['/v1/statement?x=1#frag', '/v1/statement'],
      ['/public/../admin', '/admin'],
      ['/public/%2e%2e/admin', '/admin'],
      ['/public/%2E%2E/admin', '/admin'],
      ['/a/./b/.', '/a/b/'],
      ['/a/b/..', '/a/'],
      ['/..', '/'],
      ['//admin', '/admin'],
      ['/a//../b', '/a/b'],
      ['/a\\..\\b', '/b'],
      ['/%61dmin', '/admin'],
      ['/a%7e%2D%5f', '/a~-_'],
      ['/admin;x', '/admin;x'],
      ['/ADMIN', '/ADMIN'],
      ['/admin%2fx', '/admin%2Fx'],
      ['/admin%5Cx', '/admin%5Cx'],
      ['/a b', '/a%20b'],
      ['/a%20b', '/a%20b'],
      ['/caf\u00e9', '/caf%C3%A9'],
      ['/%zz', '/%25zz'],
      ['/a/.hidden/..x', '/a/.hidden/..x'],
      ['http://evil.test/x/../y', '/y'],
      ['', '/'],
    ];
    for (const [raw, read] of cases) assert.equal(envoyPath(raw), read, raw);
  });

  it('reads a path the most liberal way an upstream might: %2F and %5C as separators, ;params dropped, case folded, no trailing slash', () => {
    const cases: [string, string][] = [
      ['/v1/statement', '/v1/statement'],
      ['/admin;x', '/admin'],
      ['/admin;jsessionid=1/x', '/admin/x'],
      ['/public/..;/admin', '/admin'],
      ['/ADMIN/', '/admin'],
      ['/admin%2Fx', '/admin/x'],
      ['/public%2F..%2Fadmin', '/admin'],
      ['/public%5c..%5cadmin', '/admin'],
      ['/a//../b', '/b'],
      ['//admin', '/admin'],
    ];
    for (const [raw, read] of cases) assert.equal(lenientPath(raw), read, raw);
  });

  it('reads a plain lower-case path once, and every other path twice', () => {
    assert.equal(hasOneReading('/v1/statement/executing/20261129_1?x=Y'), true);
    for (const p of ['/V1', '/v1/', '/a;b', '/a%2Fb', '/a/../b', '//a', '/a b', 'a']) assert.equal(hasOneReading(p), false, p);
  });
});

describe('request host for routes', () => {
  it('drops the port and a trailing dot, and lower-cases', () => {
    assert.equal(canonicalHost('Trino.Example.COM:8443'), 'trino.example.com');
    assert.equal(canonicalHost('trino.example.com.'), 'trino.example.com');
    assert.equal(canonicalHost('[::1]:8080'), '[::1]');
    assert.equal(canonicalHost('trino'), 'trino');
  });
});
