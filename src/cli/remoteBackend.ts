import { BackendRequestError, BackendUnreachableError, type BackendRun } from '../core/backends/backend';
import { MlflowBackend } from '../core/backends/mlflowBackend';
import { LedgerError } from '../core/backends/teamLedger';
import { type RunsListOptions, parseListOptions, printRuns } from './runsListCommand';
import { CliFailure } from './cliIo';
import { formatTable, formatTime } from './format';

/** JSON has no literal for NaN and infinities: they print as strings, as in the store's JSON. */
const readable = (_key: string, value: unknown): unknown => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value);

/** `--backend` / `--tracking-uri`, as given on the command line (before the environment fills them in). */
export interface BackendOptions {
  readonly backend?: string;
  readonly trackingUri?: string;
}

/**
 * The MLflow tracking server the read commands should ask instead of the store, or undefined for the
 * embedded store. `--backend mlflow` (or MLOOP_BACKEND=mlflow) with `--tracking-uri` (or
 * MLFLOW_TRACKING_URI); the token comes from MLFLOW_TRACKING_TOKEN only, never from an argument
 * (arguments show in `ps` and shell history).
 */
export function remoteBackendFor(options: BackendOptions, env: NodeJS.ProcessEnv = process.env): MlflowBackend | undefined {
  const kind = (options.backend ?? env.MLOOP_BACKEND ?? 'embedded').trim() || 'embedded';
  if (kind !== 'embedded' && kind !== 'mlflow')
    throw new CliFailure(`--backend must be "embedded" or "mlflow" (got "${kind}"${options.backend ? '' : ' from MLOOP_BACKEND'})`);
  if (kind === 'embedded') return undefined;
  const uri = (options.trackingUri ?? env.MLFLOW_TRACKING_URI ?? '').trim();
  if (!uri) throw new CliFailure('--backend mlflow needs the server: pass --tracking-uri http://host:port or set MLFLOW_TRACKING_URI');
  try {
    return new MlflowBackend({
      trackingUri: uri,
      ...(env.MLFLOW_TRACKING_TOKEN ? { token: env.MLFLOW_TRACKING_TOKEN } : {}),
      ...(env.MLFLOW_TRACKING_USERNAME ? { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD ?? '' } : {}),
    });
  } catch (error) {
    throw new CliFailure((error as Error).message);
  }
}

/** Server errors become CliFailure: one line naming the server, exit 1, no stack trace. */
export async function asking<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof BackendUnreachableError || error instanceof BackendRequestError || error instanceof LedgerError) throw new CliFailure(error.message);
    throw error;
  }
}

/** `mloop runs list --backend mlflow`: runs of every active experiment (or one), newest first, read a page at a time. */
export async function listRemoteRuns(backend: MlflowBackend, options: RunsListOptions, out: (text: string) => void): Promise<void> {
  const { columns, orderBy } = parseListOptions(options);
  const max = options.max ?? options.limit;
  await asking(async () => {
    const experiments = await backend.listExperiments();
    const names = new Map(experiments.map((e) => [e.experimentId, e.name]));
    let ids = experiments.map((e) => e.experimentId);
    if (options.experiment !== undefined) {
      const only = experiments.find((e) => e.name === options.experiment);
      if (!only)
        throw new CliFailure(
          `no experiment "${options.experiment}" on ${backend.location} (experiments: ${experiments.map((e) => e.name).join(', ') || 'none'})`,
        );
      ids = [only.experimentId];
    }
    const runs: BackendRun[] = [];
    let pageToken: string | undefined;
    // the server filters and orders (runs/search), a page at a time
    while (ids.length && (max === undefined || runs.length < max)) {
      const want = max === undefined ? 1000 : Math.min(1000, max - runs.length);
      const page = await backend.searchRuns(ids, {
        maxResults: want,
        ...(pageToken ? { pageToken } : {}),
        ...(options.filter ? { filter: options.filter } : {}),
        ...(orderBy.length ? { orderBy } : {}),
      });
      runs.push(...page.items);
      pageToken = page.nextPageToken;
      if (!pageToken) break;
    }
    const listed = runs.map((r) => ({ ...r, experiment: names.get(r.experimentId) ?? r.experimentId }));
    if (options.json && options.columns === undefined)
      return out(
        JSON.stringify(
          listed.map((r) => ({ ...r, experiment: names.get(r.experimentId) ?? null })),
          readable,
          2,
        ),
      );
    printRuns(listed, columns, options, out, `no runs on ${backend.location}`);
  });
}

/** `mloop models list --backend mlflow`: registered models with their versions and aliases. */
export async function listRemoteModels(backend: MlflowBackend, options: { json?: boolean }, out: (text: string) => void): Promise<void> {
  await asking(async () => {
    const models = await backend.listModels();
    const list = [];
    for (const m of models) list.push({ ...m, versions: await backend.modelVersions(m.name) });
    if (options.json) return out(JSON.stringify(list, null, 2));
    if (list.length === 0) return out(`no models on ${backend.location}`);
    out(
      formatTable(
        ['model', 'versions', 'aliases'],
        list.map((m) => [
          m.name,
          String(m.versions.length),
          Object.entries(m.aliases)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([a, v]) => `${a}→v${v}`)
            .join(' '),
        ]),
      ),
    );
  });
}

/** `mloop runs show <run> --backend mlflow`: one run's params, tags and latest metrics from the server. */
export async function showRemoteRun(backend: MlflowBackend, runId: string, options: { json?: boolean }, out: (text: string) => void): Promise<void> {
  await asking(async () => {
    const run = await backend.getRun(runId);
    if (!run) throw new CliFailure(`no run ${runId} on ${backend.location}`);
    if (options.json) return out(JSON.stringify(run, readable, 2));
    out(`run       ${run.runId} (${run.name})\nstatus    ${run.status}\nstarted   ${formatTime(run.startTime)}\nserver    ${backend.location}`);
    const rows = [...Object.entries(run.params).map(([k, v]) => ['param', k, v]), ...Object.entries(run.metrics).map(([k, v]) => ['metric', k, String(v)])];
    if (rows.length) out(formatTable(['kind', 'key', 'value'], rows));
  });
}
