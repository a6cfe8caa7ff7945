// Reads one step's whole output as bench/all.sh kept it and prints that step's rows as JSON lines: each row's mloop
// side and peer side (medians and every run: wall, CPU, load after the run), the ratios (of the medians, and run by
// run), or the figure a goal is set on. The row benches print their own tables and summaries (JSON for some); this
// only reads them back, so a bench's output format is the contract, and a row that cannot be found is an error here.
// usage: node bench/collect.mjs <step> <log> [quick=0|1]
import { readFileSync } from 'node:fs';

const [step, logPath, quickArg] = process.argv.slice(2);
const text = readFileSync(logPath, 'utf8');
const lines = text.split('\n');
const quick = quickArg === '1';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const num = (s) => Number(String(s).replaceAll(',', ''));
const round = (v, d = 2) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

/** A side: its runs ({wallMs, cpuMs, load}) and their medians. */
const side = (name, runs) => ({
  name,
  wallMs: round(median(runs.map((r) => r.wallMs)), 1),
  cpuMs: round(median(runs.map((r) => r.cpuMs)), 1),
  runs: runs.map((r) => ({ wallMs: round(r.wallMs, 1), cpuMs: round(r.cpuMs, 1), load: round(r.load, 1) })),
});

/** A ratio row: peer / mloop, of the medians and run by run (the runs were interleaved, so run i of each is a pair). */
function ratioRow(row, mloopName, mloopRuns, peerName, peerRuns, extra = {}) {
  if (mloopRuns.length === 0 || peerRuns.length === 0) throw new Error(`${step}: no runs for ${row} (${mloopName}: ${mloopRuns.length}, ${peerName}: ${peerRuns.length})`);
  const mloop = side(mloopName, mloopRuns);
  const peer = side(peerName, peerRuns);
  return {
    type: 'row',
    row,
    step,
    quick,
    mloop,
    peer,
    ratio: {
      wall: round(peer.wallMs / mloop.wallMs),
      cpu: round(peer.cpuMs / mloop.cpuMs),
      perRun: mloopRuns.map((m, i) => (peerRuns[i] ? [round(peerRuns[i].wallMs / m.wallMs), round(peerRuns[i].cpuMs / m.cpuMs)] : null)),
    },
    ...extra,
  };
}

/**
 * The bench's own ratios where it prints them ("<peer> / <mloop>: 19.6x wall, 16.0x CPU (medians); per run: 25.0x/17.5x · …"):
 * it computes them from the unrounded times, where the per-run lines it prints are rounded.
 */
function withPrinted(row, label) {
  const line = lines.find((l) => l.startsWith(`${label}: `));
  const m = line && /: ([\d.]+)x wall, ([\d.]+)x CPU \(medians\); per run: (.*)$/.exec(line);
  if (!m) return row;
  const perRun = m[3].split(' · ').map((p) => p.split('/').map((v) => num(v.replace('x', ''))));
  return { ...row, ratio: { wall: num(m[1]), cpu: num(m[2]), perRun } };
}

/** The JSON object a bench prints last (pretty-printed: from the last line that is exactly "{" to the end). */
function lastJson() {
  const start = lines.lastIndexOf('{');
  if (start < 0) throw new Error(`${step}: no JSON summary in ${logPath}`);
  const end = lines.lastIndexOf('}');
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

function matchAll(re) {
  const out = [];
  for (const line of lines) {
    const m = re.exec(line);
    if (m) out.push(m);
  }
  return out;
}

const rows = [];
const emit = (row) => rows.push(row);

switch (step) {
  case 'drift': {
    // run 1 mloop            0.17 s  CPU     0.21 s  peak RSS      180 MB  (load 1.2)
    const by = {};
    for (const m of matchAll(/^run (\d+) (\S+)\s+([\d.]+) s\s+CPU\s+([\d.]+) s\s+peak RSS\s+(\d+) MB\s+\(load ([\d.]+)\)/))
      (by[m[2]] ??= []).push({ wallMs: num(m[3]) * 1000, cpuMs: num(m[4]) * 1000, load: num(m[6]), peakMb: num(m[5]) });
    const verdicts = /verdicts differ/.test(text) ? 'differ' : 'agree';
    emit(withPrinted(ratioRow('drift-script', 'mloop drift', by.mloop ?? [], 'pandas + scipy script', by['pandas+scipy'] ?? [], { verdicts }), 'pandas+scipy / mloop'));
    if (by.evidently) emit(withPrinted(ratioRow('drift-evidently', 'mloop drift', by.mloop, 'Evidently', by.evidently, { verdicts }), 'evidently / mloop'));
    emit(
      withPrinted(
        ratioRow('drift-stored', 'mloop drift --reference <stored profile>', by['mloop-profile'] ?? [], 'pandas + scipy script', by['pandas+scipy'] ?? []),
        'pandas+scipy / mloop-profile',
      ),
    );
    break;
  }
  case 'profile': {
    // | 1 | 207 / 266 ms | 310 / 402 ms | 1.50× / 1.51× | 1.6 / 1.7 |
    const ms = matchAll(/^\| (\d+) \| ([\d.]+) \/ ([\d.]+) ms \| ([\d.]+) \/ ([\d.]+) ms \| [^|]+\| ([\d.]+) \/ ([\d.]+) \|$/);
    emit(
      ratioRow(
        'profile',
        'profileDataset',
        ms.map((m) => ({ wallMs: num(m[2]), cpuMs: num(m[3]), load: num(m[6]) })),
        'pandas + pyarrow',
        ms.map((m) => ({ wallMs: num(m[4]), cpuMs: num(m[5]), load: num(m[7]) })),
      ),
    );
    // the bench's ratios, from its unrounded times: per run in its table, of the medians on its last line
    const printed = /pandas \/ mloop, medians: ([\d.]+)× wall, ([\d.]+)× CPU/.exec(text);
    const perRun = matchAll(/^\| \d+ \| [\d.]+ \/ [\d.]+ ms \| [\d.]+ \/ [\d.]+ ms \| ([\d.]+)× \/ ([\d.]+)× \|/).map((m) => [num(m[1]), num(m[2])]);
    if (printed) rows[0].ratio = { wall: num(printed[1]), cpu: num(printed[2]), perRun };
    // the same pair warm (each side's second profile in its process), interleaved in the same runs
    const warm = matchAll(/^\| warm (\d+) \| ([\d.]+) \/ ([\d.]+) ms \| ([\d.]+) \/ ([\d.]+) ms \| ([\d.]+)× \/ ([\d.]+)× \| ([\d.]+) \/ ([\d.]+) \|$/);
    if (warm.length > 0) {
      const row = ratioRow(
        'profile-warm',
        'profileDataset, the second in its process',
        warm.map((m) => ({ wallMs: num(m[2]), cpuMs: num(m[3]), load: num(m[8]) })),
        'pandas + pyarrow, the second in its process',
        warm.map((m) => ({ wallMs: num(m[4]), cpuMs: num(m[5]), load: num(m[9]) })),
      );
      const warmPrinted = /warm: pandas \/ mloop, medians: ([\d.]+)× wall, ([\d.]+)× CPU/.exec(text);
      if (warmPrinted) row.ratio = { wall: num(warmPrinted[1]), cpu: num(warmPrinted[2]), perRun: warm.map((m) => [num(m[6]), num(m[7])]) };
      emit(row);
    }
    break;
  }
  case 'history': {
    const j = lastJson();
    emit(
      ratioRow(
        'history',
        'metricHistory (M4, 2,000 points asked)',
        j.runs.map((r) => ({ wallMs: r.mloopMs, cpuMs: r.mloopCpuMs, load: r.loadAfterMloop })),
        'get_metric_history_bulk_interval',
        j.runs.map((r) => ({ wallMs: r.mlflowBulkMs, cpuMs: r.mlflowBulkCpuMs, load: r.loadAfterMlflow })),
        { spikeKept: { mloop: j.mloopSpikeKept, mlflow: j.mlflowBulkSpikeKept }, pointsOut: { mloop: j.mloopPointsOut, mlflow: j.mlflowBulkPointsOut }, points: j.points },
      ),
    );
    break;
  }
  case 'ingest': {
    const j = lastJson();
    if (!j.mlflow) throw new Error('ingest: MLflow was skipped');
    const runsOf = (s) => s.runs.map((pps, i) => ({ pointsPerSecond: pps, serverCpuUsPerPoint: s.serverCpuUsPerPoint[i], load: round(s.loadAverage[i], 1) }));
    emit({
      type: 'row',
      row: 'ingest-rate',
      step,
      quick,
      value: { pointsPerSecond: j.mloop.medianPointsPerSecond, points: j.mloop.points, concurrency: j.concurrency, runs: runsOf(j.mloop) },
      peer: { name: 'mlflow server (1 worker)', pointsPerSecond: j.mlflow.medianPointsPerSecond, points: j.mlflow.points, runs: runsOf(j.mlflow) },
      ratio: { wall: j.ratio },
    });
    emit({
      type: 'row',
      row: 'ingest-cpu',
      step,
      quick,
      value: { serverCpuUsPerPoint: j.mloop.medianServerCpuUsPerPoint, runs: runsOf(j.mloop) },
      peer: { name: 'mlflow server (1 worker)', serverCpuUsPerPoint: j.mlflow.medianServerCpuUsPerPoint, runs: runsOf(j.mlflow) },
      ratio: { wall: j.ratio, cpu: j.cpuRatio },
    });
    break;
  }
  case 'cache': {
    // run 1: mloopRecord 1,500/1,970 ms (load 1.2) · dvcAdd … · mloop in-process record/unchanged 900/4.3 ms
    const by = {};
    const inProcess = [];
    for (const line of lines) {
      if (!/^run \d+: /.test(line)) continue;
      for (const m of line.matchAll(/(\w+) ([\d,.]+)\/([\d,.]+) ms \(load ([\d.]+)\)/g)) (by[m[1]] ??= []).push({ wallMs: num(m[2]), cpuMs: num(m[3]), load: num(m[4]) });
      const ip = /in-process record\/unchanged ([\d,.]+)\/([\d,.]+) ms/.exec(line);
      if (ip) inProcess.push(num(ip[2]));
    }
    const bytes = /cache bench: ([\d.]+) GiB file/.exec(text)?.[1];
    const equal = /compared byte for byte with the original: equal/.test(text);
    emit(ratioRow('record', 'mloop datasets add (record into the cache)', by.mloopRecord ?? [], 'dvc add', by.dvcAdd ?? [], { fileGiB: num(bytes), restoredEqual: equal }));
    emit(ratioRow('restore', 'mloop datasets checkout', by.mloopRestore ?? [], 'dvc checkout', by.dvcCheckout ?? [], { fileGiB: num(bytes), restoredEqual: equal }));
    // the bench's ratios of the medians, from its unrounded times
    for (const [row, name] of [[rows[0], 'record'], [rows[1], 'restore']]) {
      const m = new RegExp(`^median ${name}: .* ratio wall ([\\d.]+)× CPU ([\\d.]+)×`, 'm').exec(text);
      if (m) Object.assign(row.ratio, { wall: num(m[1]), cpu: num(m[2]) });
    }
    emit(
      ratioRow('unchanged', 'record an unchanged version', by.mloopUnchanged ?? [], 'dvc add (unchanged)', by.dvcUnchanged ?? [], {
        fileGiB: num(bytes),
        value: { inProcessMs: round(median(inProcess), 1), inProcessRuns: inProcess },
      }),
    );
    break;
  }
  case 'monitor': {
    const j = lastJson();
    if (!j.cli) throw new Error('monitor: no CLI runs');
    emit({
      type: 'row',
      row: 'monitor',
      step,
      quick,
      value: { wallS: j.cli.median.wallS, cpuS: round(j.cli.median.cpuS), peakMb: round(j.cli.median.peakMb, 0), runs: j.cli.runs },
      project: j.project,
    });
    break;
  }
  case 'monitorPeers': {
    const j = lastJson();
    const rowsOf = (k, who) => j[k].runs.map((r) => r[who]);
    const names = { cbpe: ['cbpe-reads', 'NannyML CBPE after pandas reads'], cbpeCompute: ['cbpe', 'NannyML CBPE fit + estimate'], groups: ['groups', 'fairlearn MetricFrame after pandas reads'] };
    for (const [k, [row, peer]] of Object.entries(names)) {
      if (!j[k]) throw new Error(`monitorPeers: no ${k}`);
      emit(ratioRow(row, `mloop ${k}`, rowsOf(k, 'mloop'), peer, rowsOf(k, 'peer'), { project: j.project, check: j[`${k}Check`] }));
    }
    break;
  }
  case 'gateway': {
    const matchedOf = (rounds, nginxRounds) => {
      const name = Object.keys(rounds).find((n) => /^gw\d+proc$/.test(n));
      if (!name) return undefined;
      const perRun = rounds[name].map((g, i) => round(g.rps / nginxRounds[i].rps));
      return { processes: Number(/\d+/.exec(name)[0]), rps: median(rounds[name].map((r) => r.rps)), ratio: round(median(perRun)), perRun };
    };
    // round 1 gateway  26923 req/s (wrk), 43 µs CPU/request · at 1000/s (…): p50 … p99 … · load 0.52
    const by = {};
    for (const m of matchAll(/^round (\d+) (\S+)\s+(\d+) req\/s \(wrk\), (\d+) µs CPU\/request .*· load ([\d.]+)/))
      (by[m[2]] ??= []).push({ rps: num(m[3]), cpuUs: num(m[4]), load: num(m[5]) });
    const gw = by.gateway ?? [];
    const ng = by.nginx ?? [];
    if (gw.length === 0 || ng.length === 0) throw new Error('gateway: no rounds found');
    const perRound = gw.map((g, i) => round(g.rps / ng[i].rps));
    const processes = /gateway workers (\d+)/.exec(text)?.[1] ?? '?';
    emit({
      type: 'row',
      row: 'gateway',
      step,
      quick,
      mloop: { name: `gateway (${processes} process${processes === '1' ? '' : 'es'})`, rps: median(gw.map((r) => r.rps)), cpuUsPerRequest: median(gw.map((r) => r.cpuUs)), runs: gw },
      peer: { name: /nginx\/[\d.]+/.exec(text)?.[0] ?? 'nginx', rps: median(ng.map((r) => r.rps)), cpuUsPerRequest: median(ng.map((r) => r.cpuUs)), runs: ng },
      ratio: { wall: round(median(perRound)), cpu: round(median(gw.map((g, i) => ng[i].cpuUs / g.cpuUs))), perRun: perRound.map((r, i) => [r, round(ng[i].cpuUs / gw[i].cpuUs)]) },
      // the gateway with as many processes as nginx has workers (gwNproc), in the same rounds
      matched: matchedOf(by, ng),
    });
    break;
  }
  case 'addedP99': {
    // added p99 gateway (the decision: pooled from due, look 2 of 4): 0.765 ms, 98.75% interval [0.5, 0.9] ms (cycle bootstrap, 1000)
    // verdict: added p99 <= 1 ms shown
    const pooled = /^added p99 gateway \(the decision[^)]*\): ([-\d.]+) ms, ([\d.]+)% interval \[([-\d.]+), ([-\d.]+)\] ms/m.exec(text);
    const verdictLine = /^verdict: added p99 (.*)$/m.exec(text)?.[1];
    const cycles = /^added p99 gateway, median of the cycles' block p99 differences: ([-\d.]+) ms, [\d.]+% interval \[([-\d.]+), ([-\d.]+)\]/m.exec(text);
    const nginx = /^added p99 nginx: ([-\d.]+) ms, [\d.]+% interval \[([-\d.]+), ([-\d.]+)\]/m.exec(text);
    const loads = /load average \(1 min\) per cycle ([\d. ]+);/.exec(text)?.[1].trim().split(/\s+/).map(Number);
    if (!pooled) throw new Error('addedP99: no "added p99 gateway" line');
    emit({
      type: 'row',
      row: 'addedP99',
      step,
      quick,
      value: {
        addedP99Ms: num(pooled[1]),
        intervalPercent: num(pooled[2]),
        interval: [num(pooled[3]), num(pooled[4])],
        verdict: verdictLine ?? null,
        medianOfCycles: cycles ? { ms: num(cycles[1]), interval: [num(cycles[2]), num(cycles[3])] } : undefined,
        nginx: nginx ? { ms: num(nginx[1]), interval: [num(nginx[2]), num(nginx[3])] } : undefined,
        cycles: loads?.length,
        loads,
      },
    });
    break;
  }
  case 'sweep': {
    const per = /overhead per trial: wall ([-\d.]+) ms, CPU ([-\d.]+) ms/.exec(text);
    const loads = /load average \(1 min\) per run: ([\d. ]+)/.exec(text)?.[1].trim().split(/\s+/).map(Number);
    const sweep = /mloop sweep \((\d+) trials of `true`\): wall (\d+) ms, CPU (\d+) ms/.exec(text);
    if (!per) throw new Error('sweep: no overhead line');
    emit({ type: 'row', row: 'sweep', step, quick, value: { overheadWallMs: num(per[1]), overheadCpuMs: num(per[2]), trials: sweep ? num(sweep[1]) : null, sweepWallMs: sweep ? num(sweep[2]) : null, loads } });
    break;
  }
  case 'repro': {
    const cli = /warm, mloop repro process: median (\d+) ms \(runs ([\d, ]+)\)/.exec(text);
    const inproc = /warm, in-process: median ([\d.]+) ms wall, ([\d.]+) ms CPU/.exec(text);
    const deps = /(\d+) MiB of deps/.exec(text)?.[1];
    const sides = {};
    for (const m of matchAll(/^\s+(mloop repro|dvc status|dvc repro)\s+median (\d+) ms wall, (\d+) ms CPU \(wall runs ([\d, ]+)\)/))
      sides[m[1]] = { name: m[1], wallMs: num(m[2]), cpuMs: num(m[3]), wallRuns: m[4].split(', ').map(Number) };
    const load = /interleaved, whole processes, \d+ runs after one warm-up each, load ([\d.]+)–([\d.]+)/.exec(text);
    if (!cli) throw new Error('repro: no "mloop repro process" line');
    const m = sides['mloop repro'];
    const peerRatio = (p) => (m && sides[p] ? { wall: round(sides[p].wallMs / m.wallMs), cpu: round(sides[p].cpuMs / m.cpuMs) } : undefined);
    emit({
      type: 'row',
      row: 'repro',
      step,
      quick,
      value: { processMs: num(cli[1]), processRuns: cli[2].split(', ').map(Number), inProcessMs: inproc ? num(inproc[1]) : null, inProcessCpuMs: inproc ? num(inproc[2]) : null, depsMiB: num(deps) },
      mloop: m,
      peer: sides['dvc status'],
      peer2: sides['dvc repro'],
      ratio: peerRatio('dvc status'),
      ratio2: peerRatio('dvc repro'),
      load: load ? [num(load[1]), num(load[2])] : undefined,
    });
    break;
  }
  default:
    throw new Error(`unknown step ${step}`);
}
for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
