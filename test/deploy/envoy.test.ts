import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { getProperties } from 'properties-file';
import {
  DEPLOY, EXT_AUTHZ_FILTER, EXT_AUTHZ_PER_ROUTE_TYPE, EXT_AUTHZ_TYPE, HTTP_PAIRINGS, ISTIO_CONFIG, PAIRINGS, type EnvoyConfig, type JsonObject, at,
  cluster, clusters, configNamed, connectionManagers, containerPort, contextExtensions, endpoints, envoyConfigs, envoyNamed, envoyProtoErrors,
  exactPatterns, extAuthz, hostOf, identityHeaders, isObject, kubernetesObjects, list, listeners, num, obj, objects, parseOurConfig, podConfig,
  podTemplate, portOf, read, ref, routes, selects, str,
} from './support.js';

/** ExtAuthz fields (envoy.extensions.filters.http.ext_authz.v3, as of Envoy 1.37): anything else is a typo Envoy rejects. */
const EXT_AUTHZ_FIELDS = new Set([
  '@type', 'grpc_service', 'http_service', 'failure_mode_allow', 'with_request_body', 'clear_route_cache', 'status_on_error',
  'metadata_context_namespaces', 'filter_enabled', 'include_peer_certificate', 'deny_at_disable', 'transport_api_version', 'stat_prefix',
  'filter_enabled_metadata', 'bootstrap_metadata_labels_key', 'typed_metadata_context_namespaces', 'allowed_headers', 'include_tls_session',
  'failure_mode_allow_header_add', 'charge_cluster_response_stats', 'route_metadata_context_namespaces', 'route_typed_metadata_context_namespaces',
  'encode_raw_headers', 'validate_mutations', 'disallowed_headers', 'decoder_header_mutation_rules', 'enable_dynamic_metadata_ingestion',
  'filter_metadata', 'emit_filter_state_stats', 'max_denied_response_body_bytes', 'enforce_response_header_limits',
]);
const CHECK_SETTINGS_FIELDS = new Set(['context_extensions', 'disable_request_body_buffering', 'with_request_body', 'grpc_service', 'http_service']);
/** The per-route keys jwt-ext-authz reads (README "The check"). */
const CONTEXT_KEYS = new Set(['jwt.allow-missing', 'jwt.providers']);
/** Istio's EnvoyExternalAuthorizationGrpcProvider fields (istio/api mesh/v1alpha1/config.proto). */
const ISTIO_GRPC_PROVIDER_FIELDS = new Set(['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck', 'clearRouteCache']);
/** Istio's EnvoyExternalAuthorizationHttpProvider fields (same file). */
const ISTIO_HTTP_PROVIDER_FIELDS = new Set([
  'service', 'port', 'timeout', 'pathPrefix', 'failOpen', 'statusOnError', 'includeHeadersInCheck', 'includeRequestHeadersInCheck',
  'includeAdditionalHeadersInCheck', 'includeRequestBodyInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny',
  'headersToDownstreamOnAllow',
]);

const envoys = envoyConfigs();
/** The Envoys calling the gRPC API; the others (HTTP_PAIRINGS) call the HTTP mode. */
const grpcEnvoys = envoys.filter((e) => !HTTP_PAIRINGS.some((p) => p.envoy === e.where));
const all = kubernetesObjects();

const authzCluster = (envoy: EnvoyConfig): JsonObject => {
  const [hcm] = connectionManagers(envoy);
  assert.ok(hcm, `${envoy.where} has an HTTP connection manager`);
  return cluster(envoy, str(at(extAuthz(hcm), 'grpc_service', 'envoy_grpc', 'cluster_name'), 'cluster_name'));
};
const listenerPorts = (envoy: EnvoyConfig): number[] =>
  listeners(envoy).map((l) => num(at(l, 'address', 'socket_address', 'port_value'), `${envoy.where} listener port`));

describe('Envoy configs', () => {
  it('are found: the standalone front proxies (gRPC and HTTP mode), the Trino proxy and the sidecar ConfigMap', () => {
    assert.deepEqual(envoys.map((e) => e.where).sort(), [...PAIRINGS, ...HTTP_PAIRINGS].map((p) => p.envoy).sort());
  });

  it('use only fields and enum values that Envoy\'s own protos define, in every typed_config too', () => {
    for (const envoy of envoys) assert.deepEqual(envoyProtoErrors(envoy.value), [], envoy.where);
  });

  it('have their field check notice a misspelt field and an unknown enum value', () => {
    const broken = structuredClone(envoyNamed(HTTP_PAIRINGS[0]?.envoy ?? '').value);
    const ea = extAuthz(connectionManagers({ where: 'copy', value: broken })[0] ?? {});
    obj(ea['http_service'], 'http_service')['path_prefx'] = '/authz';
    ea['transport_api_version'] = 'V4';
    const errors = envoyProtoErrors(broken);
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.ok(errors.some((e) => /http_service\.path_prefx: HttpService has no field path_prefx$/.test(e)), errors.join('\n'));
    assert.ok(errors.some((e) => /ApiVersion has no value "V4"$/.test(e)), errors.join('\n'));
  });

  it('run ext_authz before the router, gRPC V3 to an HTTP/2 cluster, failing closed with a 250 ms timeout', () => {
    for (const envoy of grpcEnvoys) {
      const hcms = connectionManagers(envoy);
      assert.ok(hcms.length > 0, envoy.where);
      for (const hcm of hcms) {
        const names = objects(hcm['http_filters'], 'http_filters').map((f) => f['name']);
        assert.deepEqual(names, [EXT_AUTHZ_FILTER, 'envoy.filters.http.router'], `${envoy.where} filter order`);
        const ea = extAuthz(hcm);
        assert.equal(ea['@type'], EXT_AUTHZ_TYPE, envoy.where);
        for (const key of Object.keys(ea)) assert.ok(EXT_AUTHZ_FIELDS.has(key), `${envoy.where}: ExtAuthz has no field ${key}`);
        assert.equal(ea['transport_api_version'], 'V3', envoy.where);
        assert.equal(ea['failure_mode_allow'], false, envoy.where);
        assert.equal(at(ea, 'grpc_service', 'timeout'), '0.25s', envoy.where);
        assert.equal(at(ea, 'status_on_error', 'code'), 'ServiceUnavailable', envoy.where);
      }
      const c = authzCluster(envoy);
      assert.deepEqual(at(c, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'explicit_http_config'),
        { http2_protocol_options: {} }, `${envoy.where}: gRPC needs HTTP/2`);
    }
  });

  it('harden path and header handling on every listener', () => {
    assert.ok(envoys.length > grpcEnvoys.length, 'the HTTP-mode Envoy is among them');
    for (const envoy of envoys) {
      for (const hcm of connectionManagers(envoy)) {
        assert.equal(hcm['normalize_path'], true, envoy.where);
        assert.equal(hcm['merge_slashes'], true, envoy.where);
        assert.equal(at(hcm, 'common_http_protocol_options', 'headers_with_underscores_action'), 'REJECT_REQUEST', envoy.where);
        assert.equal(hcm['use_remote_address'], true, envoy.where);
      }
    }
  });

  it('route only to clusters they define, with per-route settings jwt-ext-authz understands', () => {
    for (const envoy of envoys) {
      const names = new Set<unknown>(clusters(envoy).map((c) => c['name']));
      for (const hcm of connectionManagers(envoy)) {
        for (const route of routes(hcm)) {
          assert.ok(names.has(at(route, 'route', 'cluster')), `${envoy.where}: route to ${String(at(route, 'route', 'cluster'))}`);
          const perFilter = at(route, 'typed_per_filter_config');
          if (!isObject(perFilter)) continue;
          assert.deepEqual(Object.keys(perFilter), [EXT_AUTHZ_FILTER], envoy.where);
          const perRoute = obj(perFilter[EXT_AUTHZ_FILTER], 'ExtAuthzPerRoute');
          assert.equal(perRoute['@type'], EXT_AUTHZ_PER_ROUTE_TYPE, envoy.where);
          for (const key of Object.keys(obj(perRoute['check_settings'], 'check_settings'))) assert.ok(CHECK_SETTINGS_FIELDS.has(key), `${envoy.where}: ${key}`);
          for (const [key, value] of Object.entries(contextExtensions(route) ?? {})) {
            assert.ok(CONTEXT_KEYS.has(key), `${envoy.where}: context extension ${key} is not read by jwt-ext-authz`);
            assert.equal(typeof value, 'string', `${envoy.where}: context_extensions is a map<string, string>`);
          }
        }
      }
    }
  });

  it('let a /public route through without a token, on exactly the /public path segment', () => {
    for (const where of ['deploy/envoy/envoy.yaml', 'deploy/envoy/envoy-central.yaml', PAIRINGS[0]?.envoy ?? '']) {
      const publicRoute = connectionManagers(envoyNamed(where)).flatMap(routes).find((r) => at(r, 'match', 'path_separated_prefix') === '/public');
      assert.ok(publicRoute, `${where} has a /public route`);
      assert.deepEqual(contextExtensions(publicRoute), { 'jwt.allow-missing': 'true' }, where);
    }
  });

  it('run ext_authz before the router in the HTTP mode too, V3, failing closed with a 250 ms timeout', () => {
    for (const p of HTTP_PAIRINGS) {
      const envoy = envoyNamed(p.envoy);
      for (const hcm of connectionManagers(envoy)) {
        assert.deepEqual(objects(hcm['http_filters'], 'http_filters').map((f) => f['name']), [EXT_AUTHZ_FILTER, 'envoy.filters.http.router'], p.envoy);
        const ea = extAuthz(hcm);
        assert.equal(ea['@type'], EXT_AUTHZ_TYPE, p.envoy);
        assert.equal(ea['grpc_service'], undefined, p.envoy);
        assert.equal(ea['transport_api_version'], 'V3', p.envoy);
        // A 5xx answer (503 keys_unavailable) is an error to Envoy: true would let it through.
        assert.equal(ea['failure_mode_allow'], false, p.envoy);
        assert.equal(at(ea, 'status_on_error', 'code'), 'ServiceUnavailable', p.envoy);
        assert.equal(at(ea, 'http_service', 'server_uri', 'timeout'), '0.25s', p.envoy);
      }
    }
  });

  it('send the HTTP mode what the config they are paired with reads, and copy every identity header it answers', () => {
    for (const p of HTTP_PAIRINGS) {
      const envoy = envoyNamed(p.envoy);
      const config = parseOurConfig(configNamed(p.config));
      assert.notEqual(config.httpListen, 'off', `${p.config} turns on the HTTP mode`);
      assert.equal(config.http.originalRequest, 'path', `${p.config}: http_service sends the client's path`);
      for (const hcm of connectionManagers(envoy)) {
        const ea = extAuthz(hcm);
        const service = obj(ea['http_service'], `${p.envoy} http_service`);
        assert.equal(service['path_prefix'], config.http.pathPrefix, `${p.envoy} path_prefix = ${p.config} http.path-prefix`);
        const c = cluster(envoy, str(at(service, 'server_uri', 'cluster'), 'server_uri.cluster'));
        const eps = endpoints(c);
        assert.deepEqual(eps, [{ address: hostOf(config.httpListen), port: portOf(config.httpListen) }], `${p.envoy} → ${p.config} http-listen`);
        assert.equal(at(service, 'server_uri', 'uri'), `http://${config.httpListen}`, p.envoy);
        // Token sources other than Authorization reach the check only if listed.
        const sent = exactPatterns(ea['allowed_headers'], 'allowed_headers');
        assert.ok(sent.includes('authorization'), p.envoy);
        for (const source of config.token.sources) {
          if (source.kind === 'cookie') assert.ok(sent.includes('cookie'), `${p.envoy}: the cookie source ${source.name} needs cookie in allowed_headers`);
          if (source.kind === 'header') assert.ok(sent.includes(source.name) || source.name === 'authorization', `${p.envoy}: ${source.name} in allowed_headers`);
        }
        if (!config.token.sources.some((s) => s.kind === 'cookie')) assert.ok(!sent.includes('cookie'), `${p.envoy}: no cookie source, no cookies to the check`);
        const upstream = exactPatterns(at(service, 'authorization_response', 'allowed_upstream_headers'), 'allowed_upstream_headers');
        assert.deepEqual([...upstream].sort(), identityHeaders(config).sort(), `${p.envoy} copies exactly the identity headers of ${p.config}`);
        assert.equal(at(service, 'authorization_response', 'allowed_upstream_headers_to_append'), undefined, 'appending would keep a client\'s copy');
        const client = exactPatterns(at(service, 'authorization_response', 'allowed_client_headers'), 'allowed_client_headers');
        for (const h of ['www-authenticate', 'content-type']) assert.ok(client.includes(h), `${p.envoy}: ${h} to the client on deny`);
        for (const route of routes(hcm)) assert.equal(contextExtensions(route), undefined, `${p.envoy}: http_service sends no context_extensions; use routes:`);
      }
      assert.ok(config.routes.some((r) => r.allowMissing === true), `${p.config}: the /public rule lives in routes:`);
      if (p.colocated) {
        const ours = [portOf(config.listen), portOf(config.adminListen), portOf(config.httpListen)];
        for (const port of listenerPorts(envoy)) assert.ok(!ours.includes(port), `${p.envoy} port ${port} collides with jwt-ext-authz`);
      }
    }
  });

  it('call the jwt-ext-authz they are paired with on its listen port, and keep clear of its ports', () => {
    for (const p of PAIRINGS) {
      const envoy = envoyNamed(p.envoy);
      const config = parseOurConfig(configNamed(p.config));
      const eps = endpoints(authzCluster(envoy));
      assert.equal(eps.length, 1, p.envoy);
      assert.equal(eps[0]?.port, portOf(config.listen), `${p.envoy} → ${p.config}`);
      const providers = new Set(config.providers.map((x) => x.name));
      for (const route of connectionManagers(envoy).flatMap(routes)) {
        const names = contextExtensions(route)?.['jwt.providers'];
        for (const n of typeof names === 'string' ? names.split(',') : []) assert.ok(providers.has(n.trim()), `${p.envoy}: provider ${n}`);
      }
      if (!p.colocated) continue;
      assert.equal(eps[0]?.address, '127.0.0.1', p.envoy);
      assert.ok(['127.0.0.1', '0.0.0.0'].includes(hostOf(config.listen)), `${p.config} listens on loopback`);
      const ours = [portOf(config.listen), portOf(config.adminListen)];
      const envoyAdmin = num(at(envoy.value, 'admin', 'address', 'socket_address', 'port_value'), 'admin port');
      for (const port of [...listenerPorts(envoy), envoyAdmin]) assert.ok(!ours.includes(port), `${p.envoy} port ${port} collides with jwt-ext-authz`);
      assert.equal(at(envoy.value, 'admin', 'address', 'socket_address', 'address'), '127.0.0.1', `${p.envoy}: admin on loopback`);
    }
  });
});

describe('Envoy access log of the standalone front proxy', () => {
  const envoy = envoyNamed('deploy/envoy/envoy.yaml');

  it('logs ext_authz dynamic metadata fields that jwt-ext-authz emits, under the filter\'s namespace', async () => {
    const [hcm] = connectionManagers(envoy);
    const [log] = objects(hcm?.['access_log'], 'access_log');
    assert.equal(at(log, 'typed_config', '@type'), 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog');
    const format = obj(at(log, 'typed_config', 'log_format', 'json_format'), 'json_format');
    const used = Object.values(format).flatMap((v) => [...String(v).matchAll(/%DYNAMIC_METADATA\(([^:)]+):([^):]+)\)%/g)].map((m) => [m[1], m[2]]));
    assert.ok(used.some(([, key]) => key === 'reason'), 'the deny reason is logged');
    // Every field named is one some answer carries (read from real answers, not a list kept by hand).
    const { createResponder } = await import('../../src/authz/response.js');
    const { reject } = await import('../../src/reasons.js');
    const config = parseOurConfig(configNamed('deploy/envoy/jwt-ext-authz.yaml'));
    const responder = createResponder(config);
    const route = { label: 'admin', allowMissing: false, providers: undefined, require: { scopes: undefined, claims: undefined }, reportOnly: true };
    const emitted = new Set<string>([
      ...Object.keys(responder.deny(reject('expired', 'x', 'corp'), true, route).dynamic_metadata?.fields ?? {}),
      ...Object.keys(responder.reportOnly(reject('expired', 'x', 'corp'), route).dynamic_metadata?.fields ?? {}),
      'principal', 'user', 'provider', 'iss', 'sub', 'route',
    ]);
    for (const [namespace, key] of used) {
      assert.equal(namespace, EXT_AUTHZ_FILTER);
      assert.ok(emitted.has(key ?? ''), `jwt-ext-authz emits no ${key ?? ''}`);
    }
  });
});

describe('Sidecar pod wiring', () => {
  const deployment = all.find((o) => o.kind === 'Deployment' && o.file.includes('/sidecar/'));
  assert.ok(deployment);
  const pod = podTemplate(deployment);
  const envoy = envoyNamed(PAIRINGS[0]?.envoy ?? '');

  it('mounts the Envoy ConfigMap where Envoy reads its config and exposes its listener port', () => {
    const container = pod.containers.find((c) => c['name'] === 'envoy');
    assert.ok(container);
    const args = list(container['args'], 'envoy args').map((a) => str(a, 'arg'));
    const path = args[args.indexOf('--config-path') + 1] ?? '';
    const mount = objects(container['volumeMounts'], 'mounts').find((m) => path.startsWith(`${str(m['mountPath'], 'mountPath')}/`));
    assert.ok(mount, `${path} is mounted`);
    const volume = pod.volumes.find((v) => v['name'] === mount['name']);
    const cm = all.find((o) => o.kind === 'ConfigMap' && o.name === at(volume, 'configMap', 'name'));
    assert.ok(cm && envoy.where.startsWith(ref(cm)), 'the mounted ConfigMap is the paired Envoy config');
    assert.ok(args.includes('--disable-hot-restart'), 'no shared memory with a read-only root filesystem');
    assert.deepEqual(listenerPorts(envoy), [containerPort(container, 'http')]);
  });

  it('sends allowed requests to the port the app listens on', () => {
    const app = pod.containers.find((c) => c['name'] === 'app');
    const listen = list(app?.['args'], 'app args').map((a) => str(a, 'arg')).find((a) => a.startsWith('-listen=')) ?? '';
    assert.deepEqual(endpoints(cluster(envoy, 'app')), [{ address: hostOf(listen.slice('-listen='.length)), port: portOf(listen) }]);
  });
});

describe('Central mode from a remote Envoy', () => {
  const envoy = envoyNamed('deploy/envoy/envoy-central.yaml');
  const c = authzCluster(envoy);
  const config = parseOurConfig(configNamed(PAIRINGS[2]?.config ?? ''));
  const headless = all.find((o) => o.kind === 'Service' && o.name === 'jwt-ext-authz-headless' && o.file.includes('/central/'));
  assert.ok(headless);

  it('resolves every pod through the headless Service (STRICT_DNS) on the Service port', () => {
    assert.equal(c['type'], 'STRICT_DNS');
    const [ep] = endpoints(c);
    assert.equal(ep?.address, `${headless.name}.${headless.namespace ?? ''}.svc.cluster.local`);
    assert.equal(ep?.port, at(headless.value, 'spec', 'ports', 0, 'port'));
  });

  it('speaks TLS because the listener does, with SNI and SAN checks on the Service name', () => {
    assert.ok(config.tls, 'central listens with TLS');
    const tls = obj(at(c, 'transport_socket', 'typed_config'), 'UpstreamTlsContext');
    assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    assert.equal(tls['sni'], `jwt-ext-authz.${headless.namespace ?? ''}.svc`);
    assert.deepEqual(at(tls, 'common_tls_context', 'validation_context', 'match_typed_subject_alt_names'), [{ san_type: 'DNS', matcher: { exact: tls['sni'] } }]);
    assert.deepEqual(at(tls, 'common_tls_context', 'alpn_protocols'), ['h2']);
  });
});

describe('Istio', () => {
  const iop = all.find((o) => o.kind === 'IstioOperator');
  const policies = all.filter((o) => o.kind === 'AuthorizationPolicy');
  assert.ok(iop && policies.length === 2);
  const providers = objects(at(iop.value, 'spec', 'meshConfig', 'extensionProviders'), 'extensionProviders');
  const grpcProvider = providers.find((p) => p['envoyExtAuthzGrpc'] !== undefined);
  const httpProvider = providers.find((p) => p['envoyExtAuthzHttp'] !== undefined);
  assert.ok(grpcProvider && httpProvider);
  const grpc = obj(grpcProvider['envoyExtAuthzGrpc'], 'envoyExtAuthzGrpc');
  const http = obj(httpProvider['envoyExtAuthzHttp'], 'envoyExtAuthzHttp');
  const service = all.find((o) => o.kind === 'Service' && o.file.includes('/istio/'));
  const deployment = all.find((o) => o.kind === 'Deployment' && o.file.includes('/istio/'));
  assert.ok(service && deployment);
  const pod = podTemplate(deployment);
  const { config, source } = podConfig(pod, all);
  const container = pod.containers.find((x) => typeof x['image'] === 'string' && x['image'].startsWith('jwt-ext-authz:'));
  assert.ok(container);
  const servicePort = (port: unknown): JsonObject => {
    const found = objects(at(service.value, 'spec', 'ports'), 'ports').find((p) => p['port'] === port);
    assert.ok(found, `the Service has port ${String(port)}`);
    return found;
  };

  it('registers an envoyExtAuthzGrpc and an envoyExtAuthzHttp provider, neither failing open, with only fields Istio defines', () => {
    assert.equal(providers.length, 2);
    for (const key of Object.keys(grpc)) assert.ok(ISTIO_GRPC_PROVIDER_FIELDS.has(key), `envoyExtAuthzGrpc has no field ${key}`);
    for (const key of Object.keys(http)) assert.ok(ISTIO_HTTP_PROVIDER_FIELDS.has(key), `envoyExtAuthzHttp has no field ${key}`);
    for (const p of [grpc, http]) {
      assert.equal(p['failOpen'], false);
      assert.match(str(p['timeout'], 'timeout'), /^\d+(\.\d+)?s$/);
      assert.equal(p['statusOnError'], '503');
    }
  });

  it('points the gRPC provider at the in-mesh Service, whose port leads to the listen port', () => {
    assert.equal(grpc['service'], `${service.name}.${service.namespace ?? ''}.svc.cluster.local`);
    const port = servicePort(grpc['port']);
    assert.equal(port['appProtocol'], 'grpc', 'Istio must treat the port as HTTP/2');
    assert.ok(selects(at(service.value, 'spec', 'selector'), pod.labels));
    assert.equal(source.where, ISTIO_CONFIG);
    assert.equal(containerPort(container, str(port['targetPort'], 'targetPort')), portOf(config.listen));
    // Istio's sidecar forwards inbound traffic to the pod IP, not to loopback.
    assert.equal(hostOf(config.listen), '0.0.0.0');
  });

  it('points the HTTP provider at the same Service\'s HTTP port, which leads to http-listen, with the path prefix the config cuts', () => {
    assert.equal(http['service'], grpc['service']);
    const port = servicePort(http['port']);
    assert.equal(port['appProtocol'], 'http');
    assert.equal(containerPort(container, str(port['targetPort'], 'targetPort')), portOf(config.httpListen));
    assert.equal(hostOf(config.httpListen), '0.0.0.0');
    assert.equal(config.http.originalRequest, 'path', 'Istio sends the client\'s method and path');
    assert.equal(http['pathPrefix'], config.http.pathPrefix);
  });

  it('sends the HTTP mode the token and copies every identity header it answers', () => {
    const sent = list(http['includeRequestHeadersInCheck'], 'includeRequestHeadersInCheck').map((h) => str(h, 'header').toLowerCase());
    assert.ok(sent.includes('authorization'), 'Istio documents only Host, method, path and Content-Length as always sent');
    assert.equal(sent.includes('cookie'), config.token.sources.some((s) => s.kind === 'cookie'), 'cookie exactly when a cookie carries the token');
    const upstream = list(http['headersToUpstreamOnAllow'], 'headersToUpstreamOnAllow').map((h) => str(h, 'header').toLowerCase());
    assert.deepEqual([...upstream].sort(), identityHeaders(config).sort());
    const client = list(http['headersToDownstreamOnDeny'], 'headersToDownstreamOnDeny').map((h) => str(h, 'header').toLowerCase());
    for (const h of ['www-authenticate', 'content-type']) assert.ok(client.includes(h), h);
  });

  it('keeps per-route rules in the config\'s routes:, since CUSTOM cannot send context_extensions', () => {
    assert.ok(config.routes.some((r) => r.allowMissing), 'an allow-missing route');
  });

  it('applies a CUSTOM AuthorizationPolicy with each provider to a workload, for every request', () => {
    assert.deepEqual(policies.map((p) => at(p.value, 'spec', 'provider', 'name')).sort(), [grpcProvider['name'], httpProvider['name']].sort());
    for (const policy of policies) {
      assert.equal(policy.apiVersion, 'security.istio.io/v1');
      assert.equal(at(policy.value, 'spec', 'action'), 'CUSTOM');
      assert.ok(isObject(at(policy.value, 'spec', 'selector', 'matchLabels')), 'scoped to a workload');
      assert.deepEqual(at(policy.value, 'spec', 'rules'), [{}], 'one empty rule matches every request');
    }
    // Istio allows one CUSTOM provider per workload: the two are alternatives for the same one.
    assert.deepEqual(at(policies[0]?.value, 'spec', 'selector'), at(policies[1]?.value, 'spec', 'selector'));
  });

  it('turns on sidecar injection and STRICT mutual TLS for jwt-ext-authz', () => {
    const ns = all.find((o) => o.kind === 'Namespace' && o.file.includes('/istio/'));
    assert.equal(at(ns?.value, 'metadata', 'labels', 'istio-injection'), 'enabled');
    const pa = all.find((o) => o.kind === 'PeerAuthentication');
    assert.equal(at(pa?.value, 'spec', 'mtls', 'mode'), 'STRICT');
  });
});

describe('Trino', () => {
  const ours = parseOurConfig(configNamed('deploy/trino/jwt-ext-authz.properties'));
  const trino = getProperties(read(join(DEPLOY, 'trino', 'trino-config.properties')));
  const envoy = envoyNamed('deploy/trino/envoy.yaml');

  it('sends the mapped user to Trino as X-Trino-User and forwards the verified token', () => {
    assert.equal(ours.response.principalHeader, 'x-trino-user');
    assert.equal(ours.response.passThroughHeader, 'x-forwarded-access-token');
    assert.equal(ours.response.forwardOriginal, true);
  });

  it('forwards to the coordinator\'s HTTP port, which trusts Envoy\'s forwarded headers and takes the user from the header', () => {
    assert.deepEqual(endpoints(cluster(envoy, 'trino')), [{ address: '127.0.0.1', port: Number(trino['http-server.http.port']) }]);
    assert.equal(trino['http-server.process-forwarded'], 'true');
    assert.equal(trino['http-server.authentication.type'], 'insecure');
    assert.equal(trino['web-ui.enabled'], 'false', 'the Web UI login would accept any name with insecure authentication');
    assert.deepEqual(Object.keys(trino).filter((k) => k.startsWith('http-server.authentication.jwt.')), [], 'the JWT lines moved to jwt-ext-authz');
    assert.equal(trino['protocol.v1.alternate-header-name'], undefined, 'X-Trino-User must be the header Trino reads');
  });

  it('terminates TLS in Envoy, because Trino clients send tokens only over HTTPS', () => {
    const [listener] = listeners(envoy);
    const tls = at(listener, 'filter_chains', 0, 'transport_socket', 'typed_config', '@type');
    assert.equal(tls, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    const route = connectionManagers(envoy).flatMap(routes)[0];
    assert.equal(at(route, 'route', 'timeout'), '0s', 'query results stream without a route timeout');
    assert.equal(contextExtensions(route ?? {}), undefined, 'every Trino request needs a token');
  });
});
