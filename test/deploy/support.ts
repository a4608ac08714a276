/**
 * Reading the files under deploy/ for the deploy tests: YAML documents, Kubernetes objects and
 * their schemas (kubernetes-models), the jwt-ext-authz configs embedded in them, Envoy configs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { parseAllDocuments } from 'yaml';
import ts from 'typescript';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { IstioOperator } from '@kubernetes-models/istio/install.istio.io/v1alpha1';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

/** The repository root (this file runs from dist/test/deploy/). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const DEPLOY = join(REPO, 'deploy');

export const rel = (path: string): string => relative(REPO, path);

/** Every file under `dir`, recursively, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out.sort();
}

export const read = (path: string): string => readFileSync(path, 'utf8');

// ---------------------------------------------------------------- plain data access

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a path of keys and indexes, or undefined. */
export function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = v;
  for (const key of path) {
    if (typeof key === 'number') cur = Array.isArray(cur) ? (cur as unknown[])[key] : undefined;
    else cur = isObject(cur) ? cur[key] : undefined;
  }
  return cur;
}

export const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
};
export const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number') throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};
export const obj = (v: unknown, what: string): JsonObject => {
  if (!isObject(v)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v;
};
export const list = (v: unknown, what: string): unknown[] => {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`);
  return v as unknown[];
};
export const objects = (v: unknown, what: string): JsonObject[] => list(v, what).map((x, i) => obj(x, `${what}[${i}]`));

// ---------------------------------------------------------------- YAML

export interface YamlDoc {
  readonly file: string;
  readonly index: number;
  readonly value: unknown;
}

/** Every document of a YAML file; throws on any parse error or warning. */
export function yamlDocs(file: string): YamlDoc[] {
  const docs = parseAllDocuments(read(file));
  if (!Array.isArray(docs)) return [];
  return docs.flatMap((doc, index) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${rel(file)} document ${index}: ${problems.map((p) => p.message).join('; ')}`);
    const value: unknown = doc.toJS({ maxAliasCount: 0 });
    return value === null || value === undefined ? [] : [{ file, index, value }];
  });
}

export const yamlFiles = (): string[] => filesUnder(DEPLOY).filter((f) => /\.ya?ml$/.test(f));

/** The single document of a YAML file. */
export function yamlDoc(file: string): unknown {
  const docs = yamlDocs(file);
  if (docs.length !== 1) throw new Error(`${rel(file)}: expected one document, found ${docs.length}`);
  return docs[0]?.value;
}

// ---------------------------------------------------------------- Kubernetes objects

export interface K8sObject {
  readonly file: string;
  readonly index: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly value: JsonObject;
}

const isKustomization = (v: JsonObject): boolean => typeof v['apiVersion'] === 'string' && v['apiVersion'].startsWith('kustomize.config.k8s.io/');

/** Every Kubernetes object (a document with apiVersion and kind) under deploy/, kustomizations aside. */
export function kubernetesObjects(): K8sObject[] {
  return yamlFiles().flatMap((file) =>
    yamlDocs(file).flatMap((doc) => {
      const v = doc.value;
      if (!isObject(v) || typeof v['apiVersion'] !== 'string' || typeof v['kind'] !== 'string' || isKustomization(v)) return [];
      const namespace = at(v, 'metadata', 'namespace');
      return [{
        file,
        index: doc.index,
        apiVersion: v['apiVersion'],
        kind: v['kind'],
        name: str(at(v, 'metadata', 'name'), `${rel(file)} ${v['kind']} metadata.name`),
        namespace: typeof namespace === 'string' ? namespace : undefined,
        value: v,
      }];
    }));
}

export const ref = (o: K8sObject): string => `${rel(o.file)}#${o.index} ${o.kind}/${o.name}`;

export interface ModelSpec {
  /** Validates against the model's JSON schema (types, enums, required fields); throws. */
  readonly validate: (data: unknown) => void;
  /** The TypeScript interface, for the unknown-field check; absent where the model has no typed spec. */
  readonly type?: { readonly module: string; readonly name: string };
}

type ModelClass = new (data: never) => { validate(): void };
const validator = (model: ModelClass) => (data: unknown): void => new model(data as never).validate();

/** Every apiVersion/kind the manifests may use, with its schema. Anything else is a test failure. */
export const MODELS: ReadonlyMap<string, ModelSpec> = new Map<string, ModelSpec>([
  ['v1/Namespace', { validate: validator(Namespace), type: { module: 'kubernetes-models/v1', name: 'INamespace' } }],
  ['v1/ConfigMap', { validate: validator(ConfigMap), type: { module: 'kubernetes-models/v1', name: 'IConfigMap' } }],
  ['v1/Service', { validate: validator(Service), type: { module: 'kubernetes-models/v1', name: 'IService' } }],
  ['apps/v1/Deployment', { validate: validator(Deployment), type: { module: 'kubernetes-models/apps/v1', name: 'IDeployment' } }],
  ['autoscaling/v2/HorizontalPodAutoscaler', {
    validate: validator(HorizontalPodAutoscaler),
    type: { module: 'kubernetes-models/autoscaling/v2', name: 'IHorizontalPodAutoscaler' },
  }],
  ['policy/v1/PodDisruptionBudget', { validate: validator(PodDisruptionBudget), type: { module: 'kubernetes-models/policy/v1', name: 'IPodDisruptionBudget' } }],
  ['networking.k8s.io/v1/NetworkPolicy', {
    validate: validator(NetworkPolicy),
    type: { module: 'kubernetes-models/networking.k8s.io/v1', name: 'INetworkPolicy' },
  }],
  ['security.istio.io/v1/AuthorizationPolicy', {
    validate: validator(AuthorizationPolicy),
    type: { module: '@kubernetes-models/istio/security.istio.io/v1', name: 'IAuthorizationPolicy' },
  }],
  ['security.istio.io/v1beta1/PeerAuthentication', {
    validate: validator(PeerAuthentication),
    type: { module: '@kubernetes-models/istio/security.istio.io/v1beta1', name: 'IPeerAuthentication' },
  }],
  // The model types no spec for IstioOperator; mesh-config.yaml is checked field by field instead.
  ['install.istio.io/v1alpha1/IstioOperator', { validate: validator(IstioOperator) }],
]);

export const modelKey = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

/**
 * Fields that the object's API does not define. The models' JSON schemas allow unknown
 * properties, but `kubectl apply` (strict field validation) rejects them, so each object is
 * type-checked as a TypeScript object literal of the model's interface: excess-property
 * checks report every unknown field, at any depth. One program for all objects.
 */
export function unknownFieldErrors(items: readonly K8sObject[]): string[] {
  const typed = items.flatMap((o) => {
    const type = MODELS.get(modelKey(o))?.type;
    return type === undefined ? [] : [{ o, type }];
  });
  const imports = typed.map(({ type }, i) => `import type { ${type.name} as T${i} } from '${type.module}';`);
  const decls = typed.map(({ o }, i) => `export const v${i}: T${i} = ${JSON.stringify(o.value)};`);
  const text = [...imports, ...decls, ''].join('\n');
  const firstDeclLine = imports.length;
  // A virtual file inside the repository, so that node_modules resolves as for real sources.
  const fileName = join(REPO, 'test', 'deploy', '__manifests__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === fileName ? ts.createSourceFile(name, text, languageVersion) : getSourceFile(name, languageVersion, onError, shouldCreate);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== fileName || d.start === undefined) return message;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const item = typed[line - firstDeclLine];
    return item === undefined ? message : `${ref(item.o)}: ${message}`;
  });
}

// ---------------------------------------------------------------- pods and containers

export interface PodTemplate {
  readonly owner: K8sObject;
  readonly labels: JsonObject;
  readonly annotations: JsonObject;
  readonly spec: JsonObject;
  readonly containers: JsonObject[];
  readonly volumes: JsonObject[];
}

export function podTemplate(o: K8sObject): PodTemplate {
  const template = obj(at(o.value, 'spec', 'template'), `${ref(o)} spec.template`);
  const spec = obj(at(template, 'spec'), `${ref(o)} pod spec`);
  return {
    owner: o,
    labels: obj(at(template, 'metadata', 'labels'), `${ref(o)} pod labels`),
    annotations: isObject(at(template, 'metadata', 'annotations')) ? obj(at(template, 'metadata', 'annotations'), '') : {},
    spec,
    containers: objects(spec['containers'], `${ref(o)} containers`),
    volumes: Array.isArray(spec['volumes']) ? objects(spec['volumes'], `${ref(o)} volumes`) : [],
  };
}

export const isOurImage = (c: JsonObject): boolean => typeof c['image'] === 'string' && /^(.*\/)?jwt-ext-authz:/.test(c['image']);

/** The containerPort named `name`. */
export function containerPort(c: JsonObject, name: string): number {
  const port = objects(c['ports'] ?? [], `container ${String(c['name'])} ports`).find((p) => p['name'] === name);
  return num(port?.['containerPort'], `container ${String(c['name'])} port ${name}`);
}

/** `{ key: value }` label selector match. */
export const selects = (selector: unknown, labels: JsonObject): boolean =>
  isObject(selector) && Object.entries(selector).every(([k, v]) => labels[k] === v);

// ---------------------------------------------------------------- jwt-ext-authz configs

export interface OurConfig {
  /** Where it lives, for messages. */
  readonly where: string;
  /** File name that decides the syntax (`config.yaml`, `x.properties`). */
  readonly fileName: string;
  readonly text: string;
  /** The ConfigMap that holds it, if any. */
  readonly configMap?: K8sObject;
}

/** ConfigMap keys that hold a jwt-ext-authz config. */
export const CONFIG_KEYS = ['config.yaml', 'config.properties'];

/**
 * Every jwt-ext-authz config shipped under deploy/: the `config.yaml` (or `.properties`) key of
 * each ConfigMap, and each standalone `jwt-ext-authz.yaml` / `jwt-ext-authz-http.yaml` /
 * `jwt-ext-authz.properties`.
 */
export function ourConfigs(): OurConfig[] {
  const embedded = kubernetesObjects()
    .filter((o) => o.kind === 'ConfigMap')
    .flatMap((o) => {
      const data = isObject(o.value['data']) ? o.value['data'] : {};
      return CONFIG_KEYS.filter((k) => typeof data[k] === 'string').map((k) => ({
        where: `${ref(o)} data.${k}`,
        fileName: k,
        text: str(data[k], k),
        configMap: o,
      }));
    });
  const standalone = filesUnder(DEPLOY)
    .filter((f) => /\/jwt-ext-authz(-http)?\.(ya?ml|properties)$/.test(f))
    .map((f) => ({ where: rel(f), fileName: f, text: read(f) }));
  return [...embedded, ...standalone];
}

/** Parses a shipped config without touching the file system (files it names need not exist). */
export const parseOurConfig = (c: OurConfig): Config => parseConfig(c.text, c.fileName.replace(/^.*\//, '/deploy-test/'));

/** The config a pod's jwt-ext-authz container reads: --config FILE → volume mount → ConfigMap key. */
export function podConfig(pod: PodTemplate, all: readonly K8sObject[]): { config: Config; source: OurConfig; path: string } {
  const container = pod.containers.find(isOurImage);
  if (container === undefined) throw new Error(`${ref(pod.owner)} has no jwt-ext-authz container`);
  const args = list(container['args'], 'args').map((a) => str(a, 'arg'));
  const path = args[args.indexOf('--config') + 1];
  if (path === undefined || !args.includes('--config')) throw new Error(`${ref(pod.owner)}: no --config in ${JSON.stringify(args)}`);
  const mount = objects(container['volumeMounts'] ?? [], 'volumeMounts').find((m) => path.startsWith(`${str(m['mountPath'], 'mountPath')}/`));
  if (mount === undefined) throw new Error(`${ref(pod.owner)}: nothing mounted where ${path} is`);
  const key = path.slice(str(mount['mountPath'], 'mountPath').length + 1);
  const volume = pod.volumes.find((v) => v['name'] === mount['name']);
  const cmName = at(volume, 'configMap', 'name');
  const cm = all.find((o) => o.kind === 'ConfigMap' && o.name === cmName && o.namespace === pod.owner.namespace && dirname(o.file) === dirname(pod.owner.file));
  if (cm === undefined) throw new Error(`${ref(pod.owner)}: volume ${String(mount['name'])} is no ConfigMap shipped beside it`);
  const text = str(at(cm.value, 'data', key), `${ref(cm)} data.${key}`);
  const source: OurConfig = { where: `${ref(cm)} data.${key}`, fileName: key, text, configMap: cm };
  return { config: parseOurConfig(source), source, path };
}

/** `host:port` → port. */
export const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
export const hostOf = (address: string): string => address.slice(0, address.lastIndexOf(':'));

// ---------------------------------------------------------------- Envoy

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const EXT_AUTHZ_PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';

export interface EnvoyConfig {
  readonly where: string;
  readonly value: JsonObject;
}

/** Every Envoy bootstrap shipped: standalone files and the `envoy.yaml` key of ConfigMaps. */
export function envoyConfigs(): EnvoyConfig[] {
  const files = filesUnder(DEPLOY)
    .filter((f) => /\/envoy[^/]*\.yaml$/.test(f))
    .map((f) => ({ where: rel(f), value: obj(yamlDoc(f), rel(f)) }));
  const embedded = kubernetesObjects()
    .filter((o) => o.kind === 'ConfigMap' && typeof at(o.value, 'data', 'envoy.yaml') === 'string')
    .map((o) => {
      const docs = parseAllDocuments(str(at(o.value, 'data', 'envoy.yaml'), 'envoy.yaml'));
      const doc = Array.isArray(docs) ? docs[0] : undefined;
      if (doc === undefined || doc.errors.length > 0) throw new Error(`${ref(o)} envoy.yaml does not parse`);
      return { where: `${ref(o)} data.envoy.yaml`, value: obj(doc.toJS(), 'envoy.yaml') };
    });
  return [...files, ...embedded];
}

export const envoyNamed = (where: string): EnvoyConfig => {
  const found = envoyConfigs().find((e) => e.where === where);
  if (found === undefined) throw new Error(`no Envoy config ${where}`);
  return found;
};

export const clusters = (envoy: EnvoyConfig): JsonObject[] => objects(at(envoy.value, 'static_resources', 'clusters'), `${envoy.where} clusters`);
export const listeners = (envoy: EnvoyConfig): JsonObject[] => objects(at(envoy.value, 'static_resources', 'listeners'), `${envoy.where} listeners`);

export function cluster(envoy: EnvoyConfig, name: string): JsonObject {
  const found = clusters(envoy).find((c) => c['name'] === name);
  if (found === undefined) throw new Error(`${envoy.where}: no cluster ${name}`);
  return found;
}

/** socket addresses of a cluster's endpoints. */
export function endpoints(c: JsonObject): { address: string; port: number }[] {
  return objects(at(c, 'load_assignment', 'endpoints'), 'endpoints').flatMap((e) =>
    objects(e['lb_endpoints'], 'lb_endpoints').map((lb) => {
      const sa = obj(at(lb, 'endpoint', 'address', 'socket_address'), 'socket_address');
      return { address: str(sa['address'], 'address'), port: num(sa['port_value'], 'port_value') };
    }));
}

/** The HttpConnectionManager configs of every listener. */
export function connectionManagers(envoy: EnvoyConfig): JsonObject[] {
  return listeners(envoy).flatMap((l) =>
    objects(l['filter_chains'], 'filter_chains').flatMap((fc) =>
      objects(fc['filters'], 'filters').flatMap((f) => {
        const tc = f['typed_config'];
        return isObject(tc) && tc['@type'] === HCM_TYPE ? [tc] : [];
      })));
}

/** The ext_authz filter config of an HttpConnectionManager. */
export function extAuthz(hcm: JsonObject): JsonObject {
  const filter = objects(hcm['http_filters'], 'http_filters').find((f) => f['name'] === EXT_AUTHZ_FILTER);
  return obj(filter?.['typed_config'], 'ext_authz typed_config');
}

export function routes(hcm: JsonObject): JsonObject[] {
  return objects(at(hcm, 'route_config', 'virtual_hosts'), 'virtual_hosts').flatMap((vh) => objects(vh['routes'], 'routes'));
}

/** context_extensions set by a route for ext_authz, or undefined. */
export function contextExtensions(route: JsonObject): JsonObject | undefined {
  const v = at(route, 'typed_per_filter_config', EXT_AUTHZ_FILTER, 'check_settings', 'context_extensions');
  return isObject(v) ? v : undefined;
}

// ---------------------------------------------------------------- which Envoy calls which config

export interface Pairing {
  /** `where` of the Envoy config. */
  readonly envoy: string;
  /** `where` of the jwt-ext-authz config it calls. */
  readonly config: string;
  /** Same host or pod: Envoy dials 127.0.0.1 and shares the port space with jwt-ext-authz. */
  readonly colocated: boolean;
}

export const PAIRINGS: readonly Pairing[] = [
  {
    envoy: 'deploy/kubernetes/sidecar/configmap-envoy.yaml#0 ConfigMap/example-app-envoy data.envoy.yaml',
    config: 'deploy/kubernetes/sidecar/configmap-jwt-ext-authz.yaml#0 ConfigMap/example-app-jwt-ext-authz data.config.yaml',
    colocated: true,
  },
  { envoy: 'deploy/envoy/envoy.yaml', config: 'deploy/envoy/jwt-ext-authz.yaml', colocated: true },
  {
    envoy: 'deploy/envoy/envoy-central.yaml',
    config: 'deploy/kubernetes/central/configmap.yaml#0 ConfigMap/jwt-ext-authz data.config.yaml',
    colocated: false,
  },
  { envoy: 'deploy/trino/envoy.yaml', config: 'deploy/trino/jwt-ext-authz.properties', colocated: true },
];

/** Envoy front proxies calling the HTTP mode (ext_authz http_service), with the config they call. */
export const HTTP_PAIRINGS: readonly Pairing[] = [
  { envoy: 'deploy/envoy/envoy-http.yaml', config: 'deploy/envoy/jwt-ext-authz-http.yaml', colocated: true },
];

/** The other proxies of the HTTP mode: the proxy config file and the jwt-ext-authz config beside it. */
export const PROXY_CONFIGS = {
  nginx: { proxy: 'deploy/nginx/jwt-ext-authz.conf', config: 'deploy/nginx/jwt-ext-authz.yaml' },
  caddy: { proxy: 'deploy/caddy/Caddyfile', config: 'deploy/caddy/jwt-ext-authz.yaml' },
  traefik: { proxy: 'deploy/traefik/dynamic.yaml', config: 'deploy/traefik/jwt-ext-authz.yaml' },
} as const;

/** The Istio mode's config: called by Istio's sidecars (mesh-config.yaml), not by an Envoy file. */
export const ISTIO_CONFIG = 'deploy/istio/jwt-ext-authz-service.yaml#0 ConfigMap/jwt-ext-authz data.config.yaml';

export function configNamed(where: string): OurConfig {
  const found = ourConfigs().find((c) => c.where === where);
  if (found === undefined) throw new Error(`no jwt-ext-authz config ${where}`);
  return found;
}

/** Every identity header an allow answers (SPEC §12): principal, pass-through, claim headers; lower case. */
export const identityHeaders = (c: Config): string[] =>
  [c.response.principalHeader, c.response.passThroughHeader, ...Object.keys(c.response.claimHeaders)].filter((h) => h !== '').map((h) => h.toLowerCase());

/** The exact names of a ListStringMatcher (`patterns: [{ exact }]`), lower case; throws on any other kind of pattern. */
export function exactPatterns(matcher: unknown, what: string): string[] {
  return objects(at(matcher, 'patterns'), `${what}.patterns`).map((p, i) => {
    const keys = Object.keys(p).filter((k) => k !== 'ignore_case');
    if (keys.length !== 1 || keys[0] !== 'exact') throw new Error(`${what}.patterns[${i}]: only exact patterns are checked, got ${JSON.stringify(p)}`);
    return str(p['exact'], `${what}.patterns[${i}].exact`).toLowerCase();
  });
}

// ---------------------------------------------------------------- Envoy's own protos

const requireFromHere = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(requireFromHere.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const PROTO_ROOTS = ['envoy-api', 'xds', 'protoc-gen-validate', 'googleapis'].map((d) => join(XDS_DEPS, d));
const PROTOBUFJS = dirname(requireFromHere.resolve('protobufjs/package.json'));

/** The files whose messages a shipped Envoy config may use (a typed_config of another type is reported). */
const ENVOY_PROTO_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];

let envoyRoot: protobuf.Root | undefined;
function envoyProtos(): protobuf.Root {
  if (envoyRoot !== undefined) return envoyRoot;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('google/protobuf/')) {
      const file = join(PROTOBUFJS, target);
      return existsSync(file) ? file : target;
    }
    for (const dir of PROTO_ROOTS) {
      const file = join(dir, target);
      if (existsSync(file)) return file;
    }
    throw new Error(`${target} is under none of ${PROTO_ROOTS.join(', ')}`);
  };
  root.loadSync(ENVOY_PROTO_FILES, { keepCase: true });
  root.resolveAll();
  envoyRoot = root;
  return root;
}

/** Well-known types written as JSON scalars or free-form values in proto3 JSON/YAML. */
const SCALAR_MESSAGES = new Set([
  'google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.BoolValue', 'google.protobuf.UInt32Value',
  'google.protobuf.UInt64Value', 'google.protobuf.Int32Value', 'google.protobuf.Int64Value', 'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue', 'google.protobuf.StringValue', 'google.protobuf.BytesValue', 'google.protobuf.Struct',
  'google.protobuf.Value', 'google.protobuf.ListValue',
]);

/**
 * Every field of a YAML Envoy config (a Bootstrap, or a message of `typeName`) that Envoy's own
 * protos (as @grpc/grpc-js-xds ships them) do not define, every enum value they do not know, and
 * every `typed_config` whose `@type` is not among the loaded files: Envoy rejects them all at start.
 * Field names are snake_case, as every shipped config writes them.
 */
export function envoyProtoErrors(value: unknown, typeName = 'envoy.config.bootstrap.v3.Bootstrap'): string[] {
  const root = envoyProtos();
  const errors: string[] = [];
  const visit = (v: unknown, type: protobuf.Type, path: string): void => {
    if (type.fullName === '.google.protobuf.Any') {
      const name = isObject(v) ? v['@type'] : undefined;
      if (typeof name !== 'string') return void errors.push(`${path}: an Any without @type`);
      let inner: protobuf.Type;
      try {
        inner = root.lookupType(name.slice(name.lastIndexOf('/') + 1));
      } catch {
        return void errors.push(`${path}: @type ${name} is not in the checked protos`);
      }
      const { ['@type']: _type, ...rest } = v as JsonObject;
      return visit(rest, inner, `${path}<${inner.name}>`);
    }
    if (SCALAR_MESSAGES.has(type.fullName.slice(1))) return;
    if (!isObject(v)) return void errors.push(`${path}: ${type.name} must be a mapping, got ${JSON.stringify(v)}`);
    for (const [key, fieldValue] of Object.entries(v)) {
      const field = type.fields[key];
      if (field === undefined) {
        errors.push(`${path}.${key}: ${type.name} has no field ${key}`);
        continue;
      }
      field.resolve();
      const element = (x: unknown, p: string): void => {
        const t = field.resolvedType;
        if (t instanceof protobuf.Type) visit(x, t, p);
        else if (t instanceof protobuf.Enum && !(typeof x === 'string' && x in t.values) && typeof x !== 'number') errors.push(`${p}: ${t.name} has no value ${JSON.stringify(x)}`);
      };
      if (field instanceof protobuf.MapField) {
        if (!isObject(fieldValue)) errors.push(`${path}.${key}: a map must be a mapping`);
        else for (const [k, x] of Object.entries(fieldValue)) element(x, `${path}.${key}[${k}]`);
      } else if (field.repeated) {
        if (!Array.isArray(fieldValue)) errors.push(`${path}.${key}: must be a list`);
        else fieldValue.forEach((x, i) => element(x, `${path}.${key}[${i}]`));
      } else element(fieldValue, `${path}.${key}`);
    }
  };
  visit(value, root.lookupType(typeName), typeName.slice(typeName.lastIndexOf('.') + 1));
  return errors;
}
