import { hostPart } from '../util/host-port.js';
import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { TlsConfig } from '../config/types.js';

/** How often certificate files are re-read (cert-manager rotates them in place). */
export const TLS_REFRESH_MS = 5000;

/**
 * Listener credentials. With TLS, grpc-js's FileWatcherCertificateProvider re-reads the
 * files, so a rotated certificate is served without a restart; `client-ca-file` turns on mTLS.
 */
export interface ListenerCredentials {
  readonly credentials: ServerCredentials;
  /**
   * Resolves once the certificate files have been read. Call after bind: grpc-js reads them
   * asynchronously and refuses TLS handshakes until then.
   */
  loaded(timeoutMs?: number): Promise<void>;
}

export function serverCredentials(tls: TlsConfig | undefined, refreshIntervalMs = TLS_REFRESH_MS): ListenerCredentials {
  if (tls === undefined) return { credentials: ServerCredentials.createInsecure(), loaded: () => Promise.resolve() };
  const files = new experimental.FileWatcherCertificateProvider({
    certificateFile: tls.certFile,
    privateKeyFile: tls.keyFile,
    ...(tls.clientCaFile === undefined ? {} : { caCertificateFile: tls.clientCaFile }),
    refreshIntervalMs,
  });
  // grpc-js names the first parameter "ca" but uses it as the identity (cert + key) provider.
  const mtls = tls.clientCaFile !== undefined;
  return {
    credentials: experimental.createCertificateProviderServerCredentials(files, mtls ? files : null, mtls),
    loaded: (timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          files.removeIdentityCertificateListener(onUpdate);
          reject(new Error(`cannot load TLS certificate ${tls.certFile} and key ${tls.keyFile}`));
        }, timeoutMs);
        // Listeners run in order: the server's own (added at bind) has its update first.
        function onUpdate(update: unknown): void {
          if (update === null) return;
          clearTimeout(timer);
          files.removeIdentityCertificateListener(onUpdate);
          setImmediate(resolve);
        }
        files.addIdentityCertificateListener(onUpdate);
      }),
  };
}

const LOOPBACK = /^(127\.|localhost$|\[::1\]$|::1$)/;

/** True for a TCP listen address that other machines can reach. */
export function isExposed(listen: string): boolean {
  if (listen.startsWith('unix:')) return false;
  return !LOOPBACK.test(hostPart(listen));
}
