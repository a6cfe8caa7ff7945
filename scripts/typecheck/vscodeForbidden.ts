// src/core, src/protocol and webview/ resolve `vscode` to this file instead of @types/vscode.
// It joins a program only when one of them imports 'vscode', and then this deliberate type error fails tsc.
export const vscodeImport: 'forbidden in src/core, src/protocol and webview/: move the code to src/vscode' = 'imported';
