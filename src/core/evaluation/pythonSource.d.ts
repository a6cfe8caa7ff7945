// Python files bundled as text by esbuild (scripts/build.mjs: loader '.py' → 'text').
declare module '*.py' {
  const source: string;
  export default source;
}
