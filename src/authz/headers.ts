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
