/**
 * Envoy's CheckResponse (envoy.service.auth.v3) as this service writes it and as proto-loader
 * decodes it: the wire types every layer shares, and nothing else.
 */

/** A header in a CheckResponse, as proto-loader encodes it (`keepCase: true`). */
export interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  readonly append: { readonly value: boolean };
  readonly append_action: number;
}

const OVERWRITE_IF_EXISTS_OR_ADD = 2;
const NO_APPEND = Object.freeze({ value: false });

/** Both `append: false` and OVERWRITE_IF_EXISTS_OR_ADD, so every Envoy version overwrites (SPEC §5). */
export const setHeader = (key: string, value: string): HeaderValueOption => ({
  header: { key, value },
  append: NO_APPEND,
  append_action: OVERWRITE_IF_EXISTS_OR_ADD,
});

/** CheckResponse as proto-loader encodes it (`keepCase: true`). */
// protobufjs ships google.protobuf.Struct with camelCase field names, whatever keepCase says.
export type StructValue = { readonly stringValue: string };
export interface Struct { readonly fields: Readonly<Record<string, StructValue>> }
export interface CheckResponse {
  readonly status: { readonly code: number; readonly message?: string };
  readonly ok_response?: {
    readonly headers: readonly HeaderValueOption[];
    readonly headers_to_remove: readonly string[];
    readonly query_parameters_to_remove: readonly string[];
  };
  readonly denied_response?: {
    readonly status: { readonly code: number };
    readonly headers: readonly HeaderValueOption[];
    readonly body: string;
  };
  readonly dynamic_metadata?: Struct;
}

/** A decoded CheckResponse as proto-loader gives it (enums as names, snake_case fields). */
export type DecodedCheckResponse = Record<string, unknown> & {
  status?: { code?: number; message?: string };
  ok_response?: {
    headers?: { header?: { key?: string; value?: string }; append?: { value?: boolean }; append_action?: number }[];
    headers_to_remove?: string[];
    query_parameters_to_remove?: string[];
  };
  denied_response?: {
    status?: { code?: string | number };
    headers?: { header?: { key?: string; value?: string }; append?: { value?: boolean }; append_action?: number }[];
    body?: string;
  };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string }> };
  http_response?: string;
};
