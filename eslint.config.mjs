// Lint rules that keep the architecture honest: the core, the protocol, the shared vocabulary and the webviews never see `vscode`.
import tseslint from 'typescript-eslint';

const noVscode = {
  'no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'vscode', message: 'src/core, src/protocol, src/shared and webview/ run without VS Code: go through an adapter in src/vscode.' }],
      patterns: [{ group: ['**/vscode/*', '../vscode', '../../vscode'], message: 'the core must not depend on the VS Code adapters in src/vscode.' }],
    },
  ],
};

// the shared vocabulary is imported by the pages as values: zod there would land in every page bundle
const sharedRules = {
  'no-restricted-imports': [
    'error',
    {
      paths: [...noVscode['no-restricted-imports'][1].paths, { name: 'zod', message: 'src/shared is zod-free: schemas live in src/protocol.' }],
      patterns: [
        {
          group: ['**/vscode/*', '../vscode', '../../vscode', '**/protocol/*', '../protocol'],
          message: 'src/shared depends on nothing of mloop: the protocol and the editor import it, not the other way.',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', '.tools/**', 'test-results/**', 'examples/**/.mloop/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports (house rule).' }],
    },
  },
  { files: ['src/core/**/*.ts', 'src/protocol/**/*.ts', 'src/cli/**/*.ts', 'webview/**/*.ts'], rules: noVscode },
  { files: ['src/shared/**/*.ts'], rules: sharedRules },
);
