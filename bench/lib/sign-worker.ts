/** Worker thread: signs tokens [from, to) and posts them back joined by newlines. */
import { createPrivateKey, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { payloadB64, type SignJob } from './tokens.js';

const job = workerData as SignJob;
const key = createPrivateKey(job.privateKeyPem);
const out: string[] = [];
for (let i = job.from; i < job.to; i++) {
  const input = `${job.headerB64}.${payloadB64(i, job.iat, job.exp)}`;
  out.push(`${input}.${sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`);
}
parentPort?.postMessage(out.join('\n'));
