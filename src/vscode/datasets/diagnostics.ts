import { readFileSync, statSync } from 'node:fs';
import * as vscode from 'vscode';
import { locateYamlKey } from '../../core/config/locate';
import type { PathSegment } from '../../core/config/loadConfig';
import type { DatasetDeclaration } from '../../core/config/schema';
import { isGlob } from '../../core/datasets/files';
import { detectFormat, type DatasetReadError } from '../../core/datasets/readers';
import type { RuleFailure, ValidationReport } from '../../core/datasets/validate';
import { datasetPath } from '../../core/datasets/versions';
import { DatasetRepository } from '../../core/store/datasets';
import type { ProjectConfig } from '../base/projectConfig';
import type { WorkspaceStore } from '../base/workspaceStore';

type Entry = readonly [vscode.Uri, vscode.Diagnostic];

/**
 * Dataset problems in the Problems panel: each failed rule of a dataset's latest validation at its
 * rule in mloop.yaml and at the first offending row of the data file; a file that cannot be read at
 * the line the reader stopped. Validations are read from the store, so a blocked training start,
 * Validate Dataset and `mloop validate` all show up the same way.
 */
export class DatasetDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('mloop-datasets');
  private readonly readErrors = new Map<string, Entry>();
  private validations = new Map<string, Entry[]>();
  private readonly disposables: vscode.Disposable[];

  constructor(
    private readonly workspaceStore: WorkspaceStore,
    private readonly projectConfig: ProjectConfig,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables = [this.collection, workspaceStore.onDidChange(() => void this.refresh()), projectConfig.onDidChange(() => void this.refresh())];
    if (projectConfig.isLoaded) void this.refresh(); // else the first load's event does it, after activation
  }

  /** A dataset could not be read: a problem at the file's line (or start), until it reads again. */
  readError(name: string, error: DatasetReadError): void {
    const line = Math.max(0, (error.line ?? 1) - 1);
    const diagnostic = new vscode.Diagnostic(
      new vscode.Range(line, 0, line, Number.MAX_SAFE_INTEGER),
      `dataset "${name}": ${error.message}`,
      vscode.DiagnosticSeverity.Error,
    );
    diagnostic.source = 'mloop';
    diagnostic.code = error.code;
    this.readErrors.set(name, [vscode.Uri.file(error.file), diagnostic]);
    this.publish();
  }

  readSucceeded(name: string): void {
    if (this.readErrors.delete(name)) this.publish();
  }

  /** Re-derives the validation problems from the store's latest check of each declared dataset. */
  async refresh(): Promise<void> {
    const config = this.projectConfig.current;
    const root = this.projectConfig.projectRoot;
    const configUri = this.projectConfig.uri;
    const next = new Map<string, Entry[]>();
    try {
      const store = config && root && configUri ? await this.workspaceStore.get() : undefined;
      if (store && config && root && configUri) {
        const repo = new DatasetRepository(store);
        const configText = readFileSync(configUri.fsPath, 'utf8');
        for (const [name, declaration] of Object.entries(config.datasets)) {
          if (!declaration.rules) continue;
          const dataset = repo.byName(name);
          if (!dataset) continue;
          let latest: { at: number; detailsJson: string | null; passed: boolean } | undefined;
          for (const v of repo.versions(dataset.datasetId)) {
            const check = repo.latestValidation(v.datasetVersionId);
            if (check && (!latest || check.at > latest.at)) latest = check;
          }
          if (!latest || latest.passed || !latest.detailsJson) continue;
          const report = (JSON.parse(latest.detailsJson) as { report?: ValidationReport }).report;
          if (report) next.set(name, this.reportEntries(name, declaration, root, configUri, configText, report));
        }
      }
    } catch (error) {
      this.log.warn(`dataset problems not refreshed: ${(error as Error).message}`);
      return;
    }
    this.validations = next;
    this.publish();
  }

  private reportEntries(
    name: string,
    declaration: DatasetDeclaration,
    root: string,
    configUri: vscode.Uri,
    configText: string,
    report: ValidationReport,
  ): Entry[] {
    const entries: Entry[] = [];
    const dataFile = singleTextFile(datasetPath(root, declaration), declaration);
    for (const failure of report.failures) {
      const first = failure.examples[0];
      const dataLine = dataFile && first ? first.row - 1 + dataFile.headerLines : undefined;
      const rowNote = first
        ? ` (first: row ${first.row} = ${JSON.stringify(first.value)}${dataLine !== undefined ? ` at ${declaration.path}:${dataLine + 1}` : ''})`
        : '';
      const span = locateYamlKey(configText, rulePath(name, failure)) ?? locateYamlKey(configText, ['datasets', name]);
      const range = span ? new vscode.Range(span.line - 1, span.column - 1, span.endLine - 1, span.endColumn - 1) : new vscode.Range(0, 0, 0, 0);
      entries.push([
        configUri,
        diagnostic(range, `dataset "${name}" fails ${failure.column ? `${failure.column}.` : ''}${failure.rule}: ${failure.message}${rowNote}`, failure.rule),
      ]);
      if (dataFile && dataLine !== undefined) {
        const more =
          failure.offendingRows > 1
            ? ` (${failure.offendingRows.toLocaleString('en-US')} rows in all; first ${failure.examples.length}: ${failure.examples.map((e) => e.row).join(', ')})`
            : '';
        entries.push([
          dataFile.uri,
          diagnostic(
            new vscode.Range(dataLine, 0, dataLine, Number.MAX_SAFE_INTEGER),
            `column "${failure.column}", rule ${failure.rule}: ${JSON.stringify(first!.value)} — ${failure.message}${more}`,
            failure.rule,
          ),
        ]);
      }
    }
    return entries;
  }

  private publish(): void {
    const byUri = new Map<string, { uri: vscode.Uri; list: vscode.Diagnostic[] }>();
    for (const [uri, d] of [...[...this.validations.values()].flat(), ...this.readErrors.values()]) {
      const slot = byUri.get(uri.toString()) ?? { uri, list: [] };
      slot.list.push(d);
      byUri.set(uri.toString(), slot);
    }
    this.collection.clear();
    for (const { uri, list } of byUri.values()) this.collection.set(uri, list);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function diagnostic(range: vscode.Range, message: string, code: string): vscode.Diagnostic {
  const d = new vscode.Diagnostic(range, message, vscode.DiagnosticSeverity.Error);
  d.source = 'mloop';
  d.code = code;
  return d;
}

/** Where a rule is written under datasets.<name>.rules. */
function rulePath(name: string, failure: RuleFailure): PathSegment[] {
  const base = ['datasets', name, 'rules'];
  if (failure.rule === 'rows.min') return [...base, 'rows', 'min'];
  if (failure.rule === 'rows.max') return [...base, 'rows', 'max'];
  if (failure.rule === 'schema') return [...base, 'schema'];
  if (failure.rule === 'column') return [...base, 'columns', failure.column ?? ''];
  return [...base, 'columns', failure.column ?? '', failure.rule];
}

/** A dataset that is one CSV/TSV/JSONL file, whose data rows map to lines (after `headerLines`). */
function singleTextFile(path: string, declaration: DatasetDeclaration): { uri: vscode.Uri; headerLines: number } | undefined {
  if (isGlob(declaration.path)) return undefined;
  try {
    if (!statSync(path).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const format = declaration.format ?? detectFormat(path);
  if (format === 'csv' || format === 'tsv') return { uri: vscode.Uri.file(path), headerLines: 1 };
  if (format === 'jsonl') return { uri: vscode.Uri.file(path), headerLines: 0 };
  return undefined;
}
