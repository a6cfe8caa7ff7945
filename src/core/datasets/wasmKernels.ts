/** What is used of the WebAssembly API (the project's type libraries, ES2023 and Node's, do not declare it). */
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
};

/** The memory every kernel exports. */
export interface KernelMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export const WASM_PAGE = 65536;

/**
 * A kernel's instances from its assembled bytes (base64, as scripts/wasm-kernels.mjs writes them; not built at first
 * use): the module compiled at the first call, an instance of it at each.
 */
export function kernelInstances<Exports>(base64: string): () => Exports {
  let module: object | undefined;
  return () => {
    module ??= new WebAssembly.Module(Buffer.from(base64, 'base64'));
    return new WebAssembly.Instance(module).exports as Exports;
  };
}
