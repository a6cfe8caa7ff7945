import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { parseDocument } from 'yaml';
import type { VersionComparison } from '../../src/core/datasets/compare';
import type { DatasetProfile } from '../../src/core/datasets/profile';
import { AuditRepository } from '../../src/core/store/audit';
import type { SyncReport } from '../../src/core/cache/remoteSync';
import { DatasetCacheRepository } from '../../src/core/store/datasetCache';
import { DatasetRepository } from '../../src/core/store/datasets';
import { RunRepository } from '../../src/core/store/runs';
import type { TreeRowSnapshot } from '../../src/vscode/api';
import type { DatasetValidationResult } from '../../src/vscode/datasets/commands';
import type { RestoredVersion } from '../../src/vscode/datasets/restore';
import type { PreviewPanel } from '../../src/vscode/datasets/previewPanel';
import type { LineageHostMessage } from '../../src/protocol/lineageMessages';
import type { PreviewHostMessage } from '../../src/protocol/previewMessages';
import { mloopApi, workspaceRoot } from './support';
import { pythonJsonSync } from '../support/python';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'weather');
const DATA = 'data/seattle-weather.csv';

async function poll<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function weatherRow(depth = 3): Promise<TreeRowSnapshot & { children?: readonly TreeRowSnapshot[] }> {
  const roots = await (await mloopApi()).treeSnapshot('mloop.datasets', depth);
  const weather = roots.find((r) => r.label === 'weather');
  assert.ok(weather, `no "weather" row in the Datasets tree: ${JSON.stringify(roots.map((r) => r.label))}`);
  return weather;
}

const mloopDiagnostics = (file: string): vscode.Diagnostic[] =>
  vscode.languages.getDiagnostics(vscode.Uri.file(join(workspaceRoot(), file))).filter((d) => d.source === 'mloop');

/** Datasets in the editor on the example project: tree, profile, preview, validation, the run-start gate. */
export function registerDatasetsSuite(): void {
  describe('datasets in the editor', function () {
    this.timeout(240_000);
    let original = '';

    before(async () => {
      for (const item of ['mloop.yaml', 'train.py', 'train_protocol.py', 'data']) cpSync(join(EXAMPLE, item), join(workspaceRoot(), item), { recursive: true });
      original = readFileSync(join(workspaceRoot(), DATA), 'utf8');
      // the config watcher picks the example up; reloading now makes the order deterministic
      await (await mloopApi()).refresh();
      await poll('the example mloop.yaml to be loaded', async () =>
        (await (await mloopApi()).treeSnapshot('mloop.datasets')).some((r) => r.label === 'weather'),
      );
    });

    after(() => {
      writeFileSync(join(workspaceRoot(), DATA), original);
    });

    it('Validate Dataset on the example records a version that passes; the tree shows it with rows, ✓ and column profiles', async () => {
      const result = await vscode.commands.executeCommand<DatasetValidationResult | undefined>('mloop.datasets.validate', 'weather');
      assert.ok(result, 'Validate Dataset returned nothing (see the mloop log)');
      assert.equal(result.report.passed, true, JSON.stringify(result.report.failures));
      assert.equal(result.report.rows, 1461);
      assert.match(result.digest, /^[0-9a-f]{64}$/);

      const weather = await weatherRow();
      assert.equal(weather.contextValue, 'dataset.declared');
      assert.match(weather.description ?? '', /data\/seattle-weather\.csv · \d+ versions?/);
      const version = weather.children?.find((c) => c.label === result.digest.slice(0, 12));
      assert.ok(version, `no version row ${result.digest.slice(0, 12)} under weather: ${JSON.stringify(weather.children)}`);
      assert.match(version.description ?? '', /^1,461 rows · .+ · used by \d+ runs? · ✓$/);
      const columns = Object.fromEntries((version.children ?? []).map((c) => [c.label, c.description ?? '']));
      assert.deepEqual(Object.keys(columns), ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather']);
      assert.match(columns.date!, /^datetime · /);
      assert.match(columns.temp_max!, /^number · /);
      assert.match(columns.weather!, /^string · /);
    });

    it('Profile Dataset returns the stored profile, equal to pandas on the same file, and opens it as a table', async () => {
      const profile = await vscode.commands.executeCommand<DatasetProfile | undefined>('mloop.datasets.profile', 'weather');
      assert.ok(profile, 'Profile Dataset returned nothing');
      const script = [
        'import json, sys, pandas as pd',
        'd = pd.read_csv(sys.argv[1])',
        'print(json.dumps({c: {"mean": float(d[c].mean()), "std": float(d[c].std()), "median": float(d[c].median()), "nulls": int(d[c].isna().sum())} for c in ["precipitation", "temp_max", "temp_min", "wind"]} | {"rows": len(d)}))',
      ].join('\n');
      const pandas = pythonJsonSync<Record<string, { mean: number; std: number; median: number; nulls: number }> & { rows: number }>({
        args: ['-c', script, join(workspaceRoot(), DATA)],
      });
      assert.equal(profile.rows, pandas.rows);
      for (const name of ['precipitation', 'temp_max', 'temp_min', 'wind']) {
        const column: DatasetProfile['columns'][number] | undefined = profile.columns.find((c) => c.name === name);
        const expected = pandas[name]!;
        assert.ok(column?.numeric, `${name} has no numeric profile`);
        assert.ok(Math.abs(column.numeric.mean - expected.mean) < 1e-9, `${name} mean ${column.numeric.mean} vs pandas ${expected.mean}`);
        assert.ok(Math.abs((column.numeric.std ?? NaN) - expected.std) < 1e-9, `${name} std ${column.numeric.std} vs pandas ${expected.std}`);
        assert.ok(Math.abs(column.numeric.quantiles.values[50]! - expected.median) < 1e-9, `${name} median`);
        assert.equal(column.nulls, expected.nulls);
      }
      const text = await poll('the profile document to open', () => {
        const t = vscode.window.activeTextEditor?.document.getText() ?? '';
        return t.startsWith('# weather') && t;
      });
      assert.match(text, /1,461 rows · 6 columns/);
      assert.match(text, /\| temp_max \| number \| 0 \|/);
    });

    it('Preview Dataset opens the webview, which asks for and receives the first page of rows', async () => {
      const panel = await vscode.commands.executeCommand<PreviewPanel | undefined>('mloop.datasets.preview', 'weather');
      assert.ok(panel, 'Preview Dataset returned no panel');
      // the host posts only after the real page's zod-validated "ready"
      const page = await poll<PreviewHostMessage>('the first page to reach the webview', () => panel.lastPosted, 30_000);
      assert.equal(page.type, 'page', JSON.stringify(page));
      if (page.type !== 'page') return;
      assert.deepEqual(
        page.columns.map((c) => c.name),
        ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'],
      );
      assert.equal(page.offset, 0);
      assert.equal(page.rows.length, 200);
      assert.deepEqual(page.rows[0], ['2012-01-01', 0, 12.8, 5, 4.7, 'drizzle']);
      assert.equal(page.hasMore, true);
      assert.equal(page.totalRows, 1461);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });

    it('a broken rule reaches the Problems panel at the rule in mloop.yaml and at the offending row of the CSV; the tree shows ✗', async () => {
      const lines = original.split('\n');
      lines[5] = lines[5]!.replace(/,[\d.]+,(\w+)$/, ',-3.5,$1'); // data row 5: wind -3.5
      writeFileSync(join(workspaceRoot(), DATA), lines.join('\n'));
      const result = await vscode.commands.executeCommand<DatasetValidationResult | undefined>('mloop.datasets.validate', 'weather');
      assert.ok(result);
      assert.equal(result.report.passed, false);
      const wind = result.report.failures.find((f) => f.column === 'wind' && f.rule === 'min');
      assert.ok(wind, JSON.stringify(result.report.failures));
      assert.equal(wind.offendingRows, 1);
      assert.deepEqual(wind.examples, [{ row: 5, value: -3.5 }]);

      const config = readFileSync(join(workspaceRoot(), 'mloop.yaml'), 'utf8').split('\n');
      const ruleLine = config.findIndex((l) => /^\s+wind: \{ type: number, min: 0 \}/.test(l));
      const inConfig = await poll('a wind.min problem on mloop.yaml', () => mloopDiagnostics('mloop.yaml').find((d) => /wind\.min/.test(d.message)));
      assert.equal(inConfig.range.start.line, ruleLine);
      assert.equal(inConfig.range.start.character, config[ruleLine]!.indexOf('min:'));
      assert.match(
        inConfig.message,
        /dataset "weather" fails wind\.min: wind: 1 row with values below min 0 \(first: row 5 = -3\.5 at data\/seattle-weather\.csv:6\)/,
      );
      const inData = mloopDiagnostics(DATA).find((d) => d.code === 'min');
      assert.ok(inData, `no problem on the CSV: ${JSON.stringify(mloopDiagnostics(DATA).map((d) => d.message))}`);
      assert.equal(inData.range.start.line, 5, 'the CSV line of data row 5 (after the header), 0-based');
      assert.match(inData.message, /column "wind", rule min: -3\.5/);

      const weather = await weatherRow(2);
      const version = weather.children?.find((c) => c.label === result.digest.slice(0, 12));
      assert.match(version?.description ?? '', /1,461 rows · .+ · ✗$/);
    });

    it('the failing input blocks training (no run); a reason overrides it, is audited, and the run pins the failing version', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const runs = new RunRepository(store);
      const before = runs.list({ limit: 1000 }).length;
      const blocked = await vscode.commands.executeCommand<string | undefined>('mloop.runs.train', 'train', { n_estimators: '10' });
      assert.equal(blocked, undefined, 'a pipeline whose input fails validation must not start');
      assert.equal(runs.list({ limit: 1000 }).length, before, 'no run was recorded');

      const reason = `integration: known bad wind row ${Date.now()}`;
      const { runId, outcome } = await api.train('train', { n_estimators: '10', folds: '2' }, { validationOverride: reason });
      const finished = await outcome;
      assert.equal(finished.status, 'FINISHED');
      const audit = new AuditRepository(store).list({ limit: 20 }).find((a) => a.action === 'dataset.validation_override' && a.reason === reason);
      assert.ok(audit, 'the override is in the audit trail with its reason');
      const repo = new DatasetRepository(store);
      const version = repo.version(Number(audit.entityId));
      assert.ok(version);
      assert.deepEqual(repo.runsUsing(version.datasetVersionId).includes(runId), true, 'the run pins the version it read');
    });

    it('an unreadable file: Record Version names file:line in the Problems panel and writes no version; fixing it clears the problem', async () => {
      const api = await mloopApi();
      const repo = new DatasetRepository(await api.openStore());
      const dataset = repo.byName('weather');
      assert.ok(dataset);
      const versionsBefore = repo.versions(dataset.datasetId).length;
      const lines = original.split('\n');
      lines[3] = `${lines[3]},extra`; // file line 4 has one field too many
      writeFileSync(join(workspaceRoot(), DATA), lines.join('\n'));
      const recorded = await vscode.commands.executeCommand<unknown>('mloop.datasets.recordVersion', 'weather');
      assert.equal(recorded, undefined);
      assert.equal(repo.versions(dataset.datasetId).length, versionsBefore, 'no partial version');
      const problem = mloopDiagnostics(DATA).find((d) => d.code === 'RAGGED_ROW');
      assert.ok(problem, `no RAGGED_ROW problem on the CSV: ${JSON.stringify(mloopDiagnostics(DATA).map((d) => d.message))}`);
      assert.equal(problem.range.start.line, 3);
      assert.match(problem.message, /seattle-weather\.csv:4/);

      writeFileSync(join(workspaceRoot(), DATA), original);
      const again = await vscode.commands.executeCommand<{ created: boolean; digest: string } | undefined>('mloop.datasets.recordVersion', 'weather');
      assert.deepEqual(again && { created: again.created }, { created: false }, 'the original content is an existing version');
      assert.equal(
        mloopDiagnostics(DATA).find((d) => d.code === 'RAGGED_ROW'),
        undefined,
      );
    });

    it('Compare Dataset Versions: the newest two versions, schema unchanged, the edited column shifted and no other', async () => {
      const comparison = await vscode.commands.executeCommand<(VersionComparison & { before: string; after: string }) | undefined>(
        'mloop.datasets.compareVersions',
        'weather',
      );
      assert.ok(comparison, 'Compare Dataset Versions returned nothing');
      assert.notEqual(comparison.before, comparison.after);
      assert.deepEqual(comparison.schemaChanges, []);
      assert.deepEqual(comparison.rows, { before: 1461, after: 1461 });
      const first = comparison.columns[0]!;
      const rest = comparison.columns.slice(1);
      assert.equal(first.column, 'wind');
      assert.ok(first.shift! > 0 && first.shift! < 0.02, `one changed value in 1,461 moves wind a little: ${first.shift}`);
      for (const c of rest) assert.equal(c.shift, c.measure === 'none' ? null : 0, `${c.column} did not change`);
      assert.deepEqual(rest.map((c) => [c.column, c.measure]).sort(), [
        ['date', 'range'],
        ['precipitation', 'ks'],
        ['temp_max', 'ks'],
        ['temp_min', 'ks'],
        ['weather', 'tvd'],
      ]);
      const text = await poll('the comparison document', () => {
        const t = vscode.window.activeTextEditor?.document.getText() ?? '';
        return t.startsWith('# weather:') && t;
      });
      assert.match(text, /## Schema\n\nunchanged/);
      assert.match(text, /\| wind \| number \| 0\.0\d\d \| KS \(from percentiles\)/);
    });

    it('Reveal Lineage on a dataset version row opens the Lineage panel centred on it, with the runs that read it', async () => {
      const api = await mloopApi();
      const repo = new DatasetRepository(await api.openStore());
      const dataset = repo.byName('weather');
      assert.ok(dataset);
      const version = repo.versions(dataset.datasetId).find((v) => repo.runsUsing(v.datasetVersionId).length > 0);
      assert.ok(version, 'the training test left a run pinned to a weather version');
      const readers = repo.runsUsing(version.datasetVersionId);
      // the menu passes the tree row; the row's context value is what the menu's "when" matches
      const row = (await weatherRow(2)).children?.find((c) => c.label === version.digest.slice(0, 12));
      assert.match(row?.contextValue ?? '', /^datasetVersion\./);
      const id = await vscode.commands.executeCommand<string | undefined>('mloop.datasets.revealLineage', {
        kind: 'datasetVersion',
        datasetVersionId: version.datasetVersionId,
        name: 'weather',
      });
      assert.equal(id, `dataset:${version.datasetVersionId}`);
      const graph = (await poll('the lineage panel to load the version', () => {
        const state = api.lineagePanelState();
        return state?.type === 'load' && state.root === id ? state : undefined;
      })) as Extract<LineageHostMessage, { type: 'load' }>;
      const centre = graph.nodes.find((n) => n.id === id);
      assert.equal(centre?.label, `weather @${version.digest.slice(0, 12)}`);
      for (const runId of readers) {
        assert.ok(
          graph.nodes.some((n) => n.id === `run:${runId}`),
          `run ${runId} read the version but is not in the graph`,
        );
        assert.ok(
          graph.edges.some((e) => e.from === id && e.to === `run:${runId}` && e.relation === 'input'),
          `no input edge to ${runId}: ${JSON.stringify(graph.edges)}`,
        );
      }
      const tab = vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && /lineage/.test(t.input.viewType));
      assert.ok(tab, 'a lineage webview tab');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });

    it('the file watcher proposes a new version when a declared file changes, and nothing when it is touched unchanged', async () => {
      const api = await mloopApi();
      const repo = new DatasetRepository(await api.openStore());
      const root = workspaceRoot();
      const configPath = join(root, 'mloop.yaml');
      const configBefore = readFileSync(configPath, 'utf8');
      const copy = join(root, 'data', 'weather-copy.csv');
      writeFileSync(copy, original);
      const doc = parseDocument(configBefore);
      doc.setIn(['datasets', 'weather_copy'], doc.createNode({ path: 'data/weather-copy.csv' }));
      writeFileSync(configPath, doc.toString());
      try {
        await api.refresh();
        await poll('weather_copy in the Datasets tree', async () => (await api.treeSnapshot('mloop.datasets')).some((r) => r.label === 'weather_copy'));
        const first = await vscode.commands.executeCommand<{ created: boolean; digest: string } | undefined>('mloop.datasets.recordVersion', 'weather_copy');
        assert.equal(first?.created, true);
        const versions = (): number => repo.versions(repo.byName('weather_copy')!.datasetId).length;
        assert.equal(versions(), 1);

        const lines = original.split('\n');
        lines[10] = lines[10]!.replace(/,[\d.]+,(\w+)$/, ',9.9,$1');
        const changed = lines.join('\n');
        const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
        assert.notEqual(sha(changed), sha(original));
        writeFileSync(copy, changed);
        const proposal = await poll(
          'a proposal for the new content',
          () => api.datasetWatchEvents().find((e) => e.dataset === 'weather_copy' && e.digest === sha(changed)),
          30_000,
        );
        assert.equal(proposal.outcome, 'proposed');
        assert.equal(versions(), 1, 'nothing is recorded before the user says Record Version');
        // what the notification's Record Version button runs
        const recorded = await vscode.commands.executeCommand<{ created: boolean; digest: string } | undefined>('mloop.datasets.recordVersion', 'weather_copy');
        assert.deepEqual(recorded, { created: true, digest: sha(changed) });
        assert.equal(versions(), 2, 'exactly one new version');

        // a save without a change: the watcher hashes, finds a known version, proposes nothing
        const seen = api.datasetWatchEvents().length;
        writeFileSync(copy, changed);
        const now = new Date();
        utimesSync(copy, now, now);
        const check = await poll(
          'the watcher to check the unchanged file',
          () =>
            api
              .datasetWatchEvents()
              .slice(seen)
              .find((e) => e.dataset === 'weather_copy'),
          30_000,
        );
        assert.deepEqual({ outcome: check.outcome, digest: check.digest }, { outcome: 'known', digest: sha(changed) });
        await new Promise((r) => setTimeout(r, 2500)); // past the watcher's debounce: nothing else arrives
        assert.deepEqual(
          api
            .datasetWatchEvents()
            .slice(seen)
            .filter((e) => e.dataset === 'weather_copy' && e.outcome === 'proposed'),
          [],
        );
        assert.equal(versions(), 2, 'no version for unchanged content');
      } finally {
        writeFileSync(configPath, configBefore);
        rmSync(copy, { force: true });
        await api.refresh();
      }
    });

    it('Restore This Version on an older version row writes its bytes back (hashing to its digest), recording the replaced content first', async () => {
      const api = await mloopApi();
      const repo = new DatasetRepository(await api.openStore());
      const sha = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');
      const dataset = repo.byName('weather');
      assert.ok(dataset);
      const old = repo.versionByDigest(dataset.datasetId, sha(original));
      assert.ok(old, 'the first test recorded the example file as a version');
      const lines = original.split('\n');
      lines[20] = lines[20]!.replace(/,[\d.]+,(\w+)$/, ',7.7,$1');
      const edited = lines.join('\n');
      writeFileSync(join(workspaceRoot(), DATA), edited);
      // the menu passes the tree row; its context value is what the menu's "when" matches
      const row = (await weatherRow(2)).children?.find((c) => c.label === old.digest.slice(0, 12));
      assert.match(row?.contextValue ?? '', /^datasetVersion\./);
      const restored = await vscode.commands.executeCommand<RestoredVersion | undefined>('mloop.datasets.restoreVersion', {
        kind: 'datasetVersion',
        datasetVersionId: old.datasetVersionId,
        name: 'weather',
      });
      assert.ok(restored, 'Restore This Version returned nothing (see the mloop log)');
      assert.equal(sha(readFileSync(join(workspaceRoot(), DATA))), old.digest, 'the file holds the version again');
      assert.equal(restored.replaced, sha(edited), 'the edited content was recorded before it was overwritten');
      const replaced = repo.versionByDigest(dataset.datasetId, sha(edited));
      assert.ok(replaced, 'the replaced content is a version');
      // and it can come back in turn, from the content store alone
      const back = await vscode.commands.executeCommand<RestoredVersion | undefined>('mloop.datasets.restoreVersion', {
        kind: 'datasetVersion',
        datasetVersionId: replaced.datasetVersionId,
        name: 'weather',
      });
      assert.equal(back?.digest, sha(edited));
      assert.equal(readFileSync(join(workspaceRoot(), DATA), 'utf8'), edited);
      writeFileSync(join(workspaceRoot(), DATA), original);
    });

    it('Push to Remote on the dataset row uploads its cached versions to the folder remote of mloop.yaml; Pull from Remote brings back a lost object', async () => {
      const api = await mloopApi();
      const store = await api.openStore();
      const sha = (bytes: string | Buffer): string => createHash('sha256').update(bytes).digest('hex');
      await vscode.commands.executeCommand('mloop.datasets.recordVersion', 'weather');
      const remote = mkdtempSync(join(tmpdir(), 'mloop-it-remote-'));
      const configPath = join(workspaceRoot(), 'mloop.yaml');
      const config = readFileSync(configPath, 'utf8');
      writeFileSync(configPath, `${config.trimEnd()}\nremote:\n  url: ${remote}\n`);
      try {
        const dataset = new DatasetRepository(store).byName('weather')!;
        const cached = new DatasetRepository(store)
          .versions(dataset.datasetId)
          .filter((v) => new DatasetCacheRepository(store).state(v.datasetVersionId)?.status === 'cached');
        const pushed = await vscode.commands.executeCommand<SyncReport | undefined>('mloop.datasets.push', {
          kind: 'dataset',
          name: 'weather',
          datasetId: dataset.datasetId,
        });
        assert.ok(pushed, 'Push to Remote returned nothing (see the mloop log)');
        assert.equal(pushed.versions.length, cached.length);
        const object = join(remote, 'objects', sha(original).slice(0, 2), sha(original).slice(2));
        assert.equal(sha(readFileSync(object)), sha(original), 'the remote holds the version under its digest');
        // the local copy is lost; pull fetches it back, verified
        const local = join(workspaceRoot(), '.mloop', 'cache', 'objects', sha(original).slice(0, 2), sha(original).slice(2));
        rmSync(local, { force: true });
        const pulled = await vscode.commands.executeCommand<SyncReport | undefined>('mloop.datasets.pull', 'weather');
        assert.equal(pulled?.objects, 1);
        assert.equal(sha(readFileSync(local)), sha(original));
      } finally {
        writeFileSync(configPath, config);
        rmSync(remote, { recursive: true, force: true });
      }
    });
  });
}
