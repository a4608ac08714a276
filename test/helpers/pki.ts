import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const run = (dir: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  /** Issues a certificate signed by the CA; returns the cert and key file paths. */
  issue(name: string, usage: 'server' | 'client'): { certFile: string; keyFile: string };
}

/** A throwaway CA made with the openssl CLI at test time; nothing is committed. */
export function makeTestPki(dir: string): TestPki {
  run(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=jwt-ext-authz test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    issue(name, usage) {
      run(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${usage === 'server' ? 'localhost' : name}`]);
      writeFileSync(join(dir, `${name}.ext`), [
        usage === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost' : `subjectAltName=DNS:${name}`,
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
        '',
      ].join('\n'));
      run(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`,
        '-days', '2', '-extfile', `${name}.ext`]);
      return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    },
  };
}
