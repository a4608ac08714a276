import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { RouteTable } from '../../src/authz/routes.js';
import { unmetRequirement } from '../../src/authz/requirements.js';

const table = (yaml: string, reportOnly = false): RouteTable =>
  new RouteTable(parseConfig(`providers:\n  - { name: corp, key-file: /k.pem }\n${yaml}`, '/c.yaml').routes, reportOnly);
const http = (path: string) => ({ method: 'GET', path, host: 'app.test', headers: {} });

describe('requirements on the route table (SPEC §11, §14)', () => {
  const routes = table(`routes:
  - name: public
    match: { path-prefix: /public/ }
    allow-missing: true
    require: { claims: { groups: [users] } }
  - name: admin
    match: { path-prefix: /admin }
    require: { scopes: [admin], claims: { groups: [ops] } }
    report-only: true
`);

  it('applies the requirements of both routes when the two readings of a path pick different ones', () => {
    const both = routes.select(http('/public/..;/admin/x'));
    assert.equal(both.label, 'public+admin');
    assert.equal(both.reportOnly, false, 'enforced unless both routes are report-only');
    assert.equal(unmetRequirement({ scope: 'admin', groups: ['ops'] }, 'corp', both.require, undefined)?.reason, 'claim_mismatch');
    assert.equal(unmetRequirement({ scope: 'admin', groups: ['ops', 'users'] }, 'corp', both.require, undefined), undefined);
    assert.equal(unmetRequirement({ groups: ['ops', 'users'] }, 'corp', both.require, undefined)?.scope, 'admin');
  });

  it('takes report-only from the route, else from the global setting', () => {
    assert.equal(routes.select(http('/admin/x')).reportOnly, true);
    assert.equal(routes.select(http('/other')).reportOnly, false);
    assert.equal(table('', true).select(http('/other')).reportOnly, true);
    assert.equal(table('routes:\n  - { match: { path: /x }, report-only: false }\n', true).select(http('/y')).reportOnly, true);
  });

  it('never reads a claim through the prototype chain', () => {
    const req = table('routes:\n  - { match: { path: /x }, require: { claims: { constructor.name: [Object] } } }\n').select(http('/x')).require;
    assert.equal(unmetRequirement({}, 'corp', req, undefined)?.reason, 'claim_mismatch');
    assert.equal(unmetRequirement({ scp: 'a' }, 'corp', req, { 'jwt.require-claims': '{"__proto__": ["x"]}' })?.reason, 'claim_mismatch');
  });
});
