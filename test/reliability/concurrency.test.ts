import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { allPointsInOrder, findSeries } from '../../src/core/store/metricPoints';
import { openStore } from '../../src/core/store/store';
import { FULL, NODE, percentile, postJson, recordFigure, scale, startServerChild, tempDir, type ServerChild } from './support';

// Eight processes write into one store at once, each an `mloop server` (what every `mloop train` and
// the editor host) with its own client, while a ninth process does what the Runs tree and a metrics
// chart do. Every writer logs its own run AND appends to one shared series of one shared run, the
// case where two processes extend the same packed block: a lost update there would drop points.

const WRITERS = 8;
const valueOf = (step: number): number => step * 0.5 + 1;

interface ReaderReport {
  listingMs: number[];
  chartMs: number[];
  errors: string[];
  points: number;
}

function startReader(storePath: string): { stop: () => Promise<ReaderReport> } {
  const child = spawn(NODE, [join(__dirname, 'workers', 'treeReader.js'), storePath, 'm'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    async stop() {
      child.stdin.end();
      const code = await exited;
      assert.equal(code, 0, `tree reader exited ${code}: ${err.slice(-1000)}`);
      return JSON.parse(out.trim().split('\n').pop()!) as ReaderReport;
    },
  };
}

describe('reliability: concurrency (8 writer processes, one store, readers alongside)', function () {
  this.timeout(FULL ? 1_200_000 : 180_000);
  const perWriter = scale(4_000, 100_000); // points into the writer's own run
  const sharedPerWriter = scale(1_000, 25_000); // points into the one series every writer extends
  const batch = FULL ? 1000 : 500;

  it(`${WRITERS} processes × ${perWriter + sharedPerWriter} points into one store while the trees and a chart read: 0 lost, 0 duplicated, 0 SQLITE_BUSY surfaced`, async () => {
    const { dir, cleanup } = tempDir();
    const servers: ServerChild[] = [];
    try {
      for (let w = 0; w < WRITERS; w++) servers.push(await startServerChild(dir, ['--quiet']));
      const storePath = join(dir, '.mloop', 'mloop.db');
      const runIdOf = async (server: ServerChild, name: string): Promise<string> => {
        const reply = await postJson(server, 'runs/create', { experiment_id: '0', run_name: name });
        assert.equal(reply.status, 200, reply.text);
        return (reply.json!.run as { info: { run_id: string } }).info.run_id;
      };
      const sharedRun = await runIdOf(servers[0]!, 'shared');
      const ownRuns = await Promise.all(servers.map((s, w) => runIdOf(s, `writer-${w}`)));
      const reader = startReader(storePath);

      const refusals: string[] = [];
      const requestMs: number[] = [];
      const writer = async (w: number): Promise<void> => {
        const server = servers[w]!;
        // own run: steps 0…perWriter-1; shared run: writer w owns the steps ≡ w (mod WRITERS)
        const ownBatches = Math.ceil(perWriter / batch);
        const sharedBatches = Math.ceil(sharedPerWriter / batch);
        for (let i = 0; i < Math.max(ownBatches, sharedBatches); i++) {
          const jobs: [string, number[]][] = [];
          if (i < ownBatches) jobs.push([ownRuns[w]!, range(i * batch, Math.min(perWriter, (i + 1) * batch))]);
          if (i < sharedBatches) jobs.push([sharedRun, range(i * batch, Math.min(sharedPerWriter, (i + 1) * batch)).map((k) => k * WRITERS + w)]);
          for (const [runId, steps] of jobs) {
            const metrics = steps.map((step) => ({ key: 'm', value: valueOf(step), step, timestamp: 1_700_000_000_000 + step }));
            const t0 = performance.now();
            const reply = await postJson(server, 'runs/log-batch', { run_id: runId, metrics });
            requestMs.push(performance.now() - t0);
            if (reply.status !== 200) refusals.push(`writer ${w}: ${reply.status} ${reply.text.slice(0, 300)}`);
          }
        }
      };
      const t0 = Date.now();
      await Promise.all(servers.map((_, w) => writer(w)));
      const seconds = (Date.now() - t0) / 1000;
      const reads = await reader.stop();

      assert.deepEqual(refusals.slice(0, 5), [], `${refusals.length} batches refused`);
      assert.deepEqual(reads.errors.slice(0, 5), [], `${reads.errors.length} reads failed`);
      for (const server of servers) assert.doesNotMatch(server.stderr(), /SQLITE_BUSY|database is locked|-> 500/);
      await Promise.all(servers.map((s) => s.stop()));

      // every point exactly once, with its value: read back from the file by a fresh connection
      const store = openStore({ path: storePath, readonly: true });
      let stored = 0;
      try {
        const check = (runId: string, expectedSteps: number): void => {
          const series = findSeries(store.db, runId, 'm');
          assert.ok(series, `run ${runId} has its series`);
          assert.equal(series.count, expectedSteps, `run ${runId}: series count`);
          const points = allPointsInOrder(store.db, series);
          assert.equal(points.length / 3, expectedSteps, `run ${runId}: points stored`);
          for (let i = 0; i < expectedSteps; i++) {
            const step = points[i * 3]!;
            if (step !== i || points[i * 3 + 2] !== valueOf(i)) assert.fail(`run ${runId}: position ${i} holds step ${step} value ${points[i * 3 + 2]}`);
          }
          stored += expectedSteps;
        };
        ownRuns.forEach((runId) => check(runId, perWriter));
        check(sharedRun, sharedPerWriter * WRITERS);
        assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        store.close();
      }

      const listing = [...reads.listingMs].sort((a, b) => a - b);
      const chart = [...reads.chartMs].sort((a, b) => a - b);
      const requests = [...requestMs].sort((a, b) => a - b);
      assert.ok(listing.length >= 5 && chart.length >= 5, `the reader kept reading (${listing.length} listings, ${chart.length} charts)`);
      // responsive: a tree refresh or a chart query never waits for the writers (WAL readers do not block)
      assert.ok(percentile(listing, 95) < 1000 && percentile(chart, 95) < 1000, `p95 listing ${percentile(listing, 95)} ms, chart ${percentile(chart, 95)} ms`);
      const expected = WRITERS * (perWriter + sharedPerWriter);
      assert.equal(stored, expected);
      recordFigure(
        'concurrency: 8 writer processes',
        `${WRITERS} × ${perWriter + sharedPerWriter} = ${expected} points (${Math.round(expected / seconds)} points/s), 0 lost, 0 duplicated, 0 refused, 0 SQLITE_BUSY; ` +
          `reader: ${listing.length} tree listings p50/p95 ${fmt(percentile(listing, 50))}/${fmt(percentile(listing, 95))} ms, ${chart.length} chart queries p50/p95 ${fmt(percentile(chart, 50))}/${fmt(percentile(chart, 95))} ms; ` +
          `log-batch p95 ${fmt(percentile(requests, 95))} ms`,
        {
          writers: WRITERS,
          points: expected,
          seconds,
          listingP95: percentile(listing, 95),
          chartP95: percentile(chart, 95),
          requestP95: percentile(requests, 95),
          lost: 0,
        },
      );
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      cleanup();
    }
  });
});

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
const fmt = (ms: number): string => ms.toFixed(1);
