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

/**
 * "Encode once": an answer built once and sent many times (a cached allow, a constant deny).
 * The server codec encodes such an answer on its first use and keeps the bytes as long as the
 * answer lives; any other answer is encoded each time. `carries` names a string inside the
 * answer (the verified token in the pass-through header): the codec then keeps the bytes around
 * it and writes the string itself in at send time, so the token is held once (the string), not
 * twice (string and bytes). That costs a copy per send (well under a microsecond for an 8 kB
 * token) and saves the token's length in every cached answer.
 */
export interface Reuse {
  readonly carries?: string;
}

const REUSED = new WeakMap<CheckResponse, Reuse>();

/** Marks `answer` (frozen here) as reused as it is; see Reuse. */
export function reusedAnswer<T extends CheckResponse>(answer: T, reuse: Reuse = {}): T {
  Object.freeze(answer);
  REUSED.set(answer, reuse);
  return answer;
}

/** How `answer` is reused, or undefined when it is built for one request. */
export const reuseOf = (answer: CheckResponse): Reuse | undefined => REUSED.get(answer);
