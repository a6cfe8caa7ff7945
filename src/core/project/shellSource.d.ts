// Shell scripts bundled as text by esbuild (scripts/build.mjs: loader '.sh' → 'text').
declare module '*.sh' {
  const source: string;
  // esbuild's text loader gives the file as the module's default export
  // eslint-disable-next-line no-restricted-syntax
  export default source;
}
