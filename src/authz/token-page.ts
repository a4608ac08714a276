import { createHash } from 'node:crypto';
import { setHeader, type HeaderValueOption } from '../envoy/check-response.js';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

// Static, so the Content-Security-Policy can pin it by hash and allow no other script.
const SCRIPT = `document.getElementById('copy').addEventListener('click', async () => {
  const box = document.getElementById('token');
  const status = document.getElementById('status');
  try { await navigator.clipboard.writeText(box.value); }
  catch { box.select(); document.execCommand('copy'); }
  status.textContent = 'Copied to the clipboard.';
});`;
const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2430}
textarea{width:100%;height:8rem;font:13px ui-monospace,monospace;word-break:break-all}
pre{background:#f3f5f8;padding:.6rem;overflow-x:auto}button{font-size:15px;padding:.3rem 1rem}`;

/** Headers of the token page: never cached, never framed, only our own script runs. */
export const TOKEN_PAGE_HEADERS: readonly HeaderValueOption[] = Object.freeze([
  setHeader('content-type', 'text/html; charset=utf-8'),
  setHeader('cache-control', 'no-store'),
  setHeader('pragma', 'no-cache'),
  setHeader('x-frame-options', 'DENY'),
  setHeader('referrer-policy', 'no-referrer'),
  setHeader('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${SCRIPT_HASH}'; frame-ancestors 'none'`),
]);

export interface TokenPageInput {
  readonly token: string;
  readonly user: string;
  readonly exp: unknown;
}

/**
 * The client token page (SPEC §9, from Starburst's feature): the caller's own token with a copy
 * button, its expiry, and how to hand it to the Trino CLI and JDBC driver. Every dynamic value
 * is HTML-escaped.
 */
export function renderTokenPage({ token, user, exp }: TokenPageInput): string {
  const t = escapeHtml(token);
  const expiry = typeof exp === 'number' ? new Date(exp * 1000).toISOString() : 'never (the token has no exp claim)';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Your access token</title><style>${STYLE}</style></head>
<body>
<h1>Your access token</h1>
<p>Signed in as <strong id="user">${escapeHtml(user)}</strong>. The token expires at <time id="expiry">${escapeHtml(expiry)}</time>.
Treat it like a password.</p>
<textarea id="token" readonly aria-label="Access token">${t}</textarea>
<p><button id="copy" type="button">Copy token</button> <span id="status" role="status"></span></p>
<h2>Trino CLI</h2>
<pre>trino --server https://&lt;trino-host&gt; --access-token ${t}</pre>
<h2>JDBC</h2>
<pre>jdbc:trino://&lt;trino-host&gt;:443?SSL=true&amp;accessToken=${t}</pre>
<p>Or set the connection property <code>accessToken</code> to the token.</p>
<script>${SCRIPT}</script>
</body></html>
`;
}
