import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/** The hand-written, wire-compatible protos shipped beside `dist/`. */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const CHECK_PATH = `/${AUTHORIZATION_SERVICE}/Check`;

/** keepCase: our code reads Envoy's snake_case names as they are on the wire. */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let cached: GrpcObject | undefined;

export function loadAuthProtos(): GrpcObject {
  cached ??= loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', LOADER_OPTIONS));
  return cached;
}

/** Walks `a.b.c` in the loaded package tree. */
function lookup(root: GrpcObject, dotted: string): unknown {
  let node: unknown = root;
  for (const part of dotted.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

export function authorizationServiceDefinition(): ServiceDefinition {
  const ctor = lookup(loadAuthProtos(), AUTHORIZATION_SERVICE) as { service: ServiceDefinition } | undefined;
  if (ctor === undefined) throw new Error(`proto ${AUTHORIZATION_SERVICE} not found under ${PROTO_DIR}`);
  return ctor.service;
}
