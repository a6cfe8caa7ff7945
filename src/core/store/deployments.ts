import type { CanaryAnalysis } from '../gateway/canaryAnalysis';
import type { Store } from './store';

export const DEPLOYMENT_STRATEGIES = ['direct', 'canary', 'blue_green', 'shadow', 'rolling'] as const;
export type DeploymentStrategy = (typeof DEPLOYMENT_STRATEGIES)[number];
export const DEPLOYMENT_STATUSES = ['pending', 'in_progress', 'healthy', 'unhealthy', 'failed', 'rolled_back', 'superseded'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export interface Deployment {
  readonly deploymentId: number;
  readonly modelName: string;
  readonly version: number;
  readonly modelVersionId: number;
  readonly target: string;
  readonly strategy: DeploymentStrategy;
  readonly trafficPercent: number;
  readonly status: DeploymentStatus;
  readonly previousDeploymentId: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Health results and the serving process (parsed health_json). */
  readonly health: DeploymentHealth | null;
}

/** What mloop knows about a deployment's process and its checks (the health_json column). */
export interface DeploymentHealth {
  readonly process?: { readonly pid: number; readonly port: number | null; readonly url: string | null; readonly logPath: string };
  readonly checks?: readonly { readonly at: number; readonly step: string; readonly ok: boolean; readonly detail: string }[];
  readonly reason?: string;
  /** The target's traffic gateway (gateway: true): where clients send requests; process.port is the private one. */
  readonly gateway?: { readonly port: number; readonly url: string };
  readonly lastCheck?: { readonly at: number; readonly ok: boolean; readonly detail: string };
  /** A canary's comparison with the stable version at each step (targets.<name>.analysis). */
  readonly analysis?: readonly CanaryAnalysis[];
  /** A shadow deployment's agreement with the serving version (the latest report). */
  readonly shadow?: {
    readonly at: number;
    readonly logPath: string;
    readonly requests: number;
    readonly compared: number;
    readonly agreed: number;
    readonly disagreed: number;
    readonly errors: number;
    readonly disagreementRate: number | null;
    readonly summary: string;
  };
}

interface DeploymentRow {
  deployment_id: number;
  model_name: string;
  version: number;
  model_version_id: number;
  target: string;
  strategy: DeploymentStrategy;
  traffic_percent: number;
  status: DeploymentStatus;
  previous_deployment_id: number | null;
  created_at: number;
  updated_at: number;
  health_json: string | null;
}

const SELECT = `SELECT d.*, m.name AS model_name, v.version FROM deployment d
  JOIN model_version v USING (model_version_id) JOIN model m ON m.model_id = v.model_id`;

export class DeploymentRepository {
  constructor(private readonly store: Store) {}

  create(input: {
    modelVersionId: number;
    target: string;
    strategy: DeploymentStrategy;
    trafficPercent?: number;
    status?: DeploymentStatus;
    now?: number;
  }): Deployment {
    const now = input.now ?? Date.now();
    const previous = this.store.db
      .prepare("SELECT deployment_id FROM deployment WHERE target = ? AND status IN ('healthy', 'in_progress') ORDER BY created_at DESC LIMIT 1")
      .pluck()
      .get(input.target) as number | undefined;
    const info = this.store.db
      .prepare(
        `INSERT INTO deployment (model_version_id, target, strategy, traffic_percent, status, previous_deployment_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(input.modelVersionId, input.target, input.strategy, input.trafficPercent ?? 0, input.status ?? 'pending', previous ?? null, now, now);
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(deploymentId: number): Deployment | undefined {
    const row = this.store.db.prepare(`${SELECT} WHERE d.deployment_id = ?`).get(deploymentId) as DeploymentRow | undefined;
    return row && toDeployment(row);
  }

  /** Changes status, traffic and/or health of a deployment (call inside the transaction of its audit row). */
  update(deploymentId: number, change: { status?: DeploymentStatus; trafficPercent?: number; health?: DeploymentHealth; now?: number }): Deployment {
    const before = this.get(deploymentId);
    if (!before) throw new Error(`no deployment ${deploymentId}`);
    this.store.db
      .prepare('UPDATE deployment SET status = ?, traffic_percent = ?, health_json = ?, updated_at = ? WHERE deployment_id = ?')
      .run(
        change.status ?? before.status,
        change.trafficPercent ?? before.trafficPercent,
        change.health !== undefined ? JSON.stringify(change.health) : before.health === null ? null : JSON.stringify(before.health),
        change.now ?? Date.now(),
        deploymentId,
      );
    return this.get(deploymentId)!;
  }

  /** What serves on a target now: its newest healthy (or unhealthy, still running) deployment. */
  current(target: string): Deployment | undefined {
    const row = this.store.db
      .prepare(`${SELECT} WHERE d.target = ? AND d.status IN ('healthy', 'unhealthy') ORDER BY d.created_at DESC, d.deployment_id DESC LIMIT 1`)
      .get(target) as DeploymentRow | undefined;
    return row && toDeployment(row);
  }

  /** Every deployment to a target, newest first. */
  history(target: string): Deployment[] {
    return (this.store.db.prepare(`${SELECT} WHERE d.target = ? ORDER BY d.created_at DESC, d.deployment_id DESC`).all(target) as DeploymentRow[]).map(
      toDeployment,
    );
  }

  /** Newest first. */
  list(): Deployment[] {
    return (this.store.db.prepare(`${SELECT} ORDER BY d.created_at DESC, d.deployment_id DESC`).all() as DeploymentRow[]).map(toDeployment);
  }
}

const toDeployment = (r: DeploymentRow): Deployment => ({
  deploymentId: r.deployment_id,
  modelName: r.model_name,
  version: r.version,
  modelVersionId: r.model_version_id,
  target: r.target,
  strategy: r.strategy,
  trafficPercent: r.traffic_percent,
  status: r.status,
  previousDeploymentId: r.previous_deployment_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  health: r.health_json ? (JSON.parse(r.health_json) as DeploymentHealth) : null,
});

export const REPLICA_STATUSES = ['starting', 'serving', 'stopped', 'failed'] as const;
export type ReplicaStatus = (typeof REPLICA_STATUSES)[number];

/** One serving process of a deployment behind the gateway (migration 019). */
export interface DeploymentReplica {
  readonly replicaId: number;
  readonly deploymentId: number;
  /** 0 … replicas-1: which replica of the version this process is (a restored replica takes its slot again). */
  readonly slot: number;
  readonly pid: number;
  readonly port: number;
  readonly logPath: string;
  readonly status: ReplicaStatus;
  readonly detail: string | null;
  readonly startedAt: number;
  readonly stoppedAt: number | null;
}

interface ReplicaRow {
  replica_id: number;
  deployment_id: number;
  slot: number;
  pid: number;
  port: number;
  log_path: string;
  status: ReplicaStatus;
  detail: string | null;
  started_at: number;
  stopped_at: number | null;
}

const toReplica = (r: ReplicaRow): DeploymentReplica => ({
  replicaId: r.replica_id,
  deploymentId: r.deployment_id,
  slot: r.slot,
  pid: r.pid,
  port: r.port,
  logPath: r.log_path,
  status: r.status,
  detail: r.detail,
  startedAt: r.started_at,
  stoppedAt: r.stopped_at,
});

/** The processes of each deployment (deployment ↔ processes). Writes belong in the transaction of their audit row when there is one. */
export class DeploymentReplicaRepository {
  constructor(private readonly store: Store) {}

  add(input: { deploymentId: number; slot: number; pid: number; port: number; logPath: string; now?: number }): DeploymentReplica {
    const info = this.store.db
      .prepare("INSERT INTO deployment_replica (deployment_id, slot, pid, port, log_path, status, started_at) VALUES (?, ?, ?, ?, ?, 'starting', ?)")
      .run(input.deploymentId, input.slot, input.pid, input.port, input.logPath, input.now ?? Date.now());
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(replicaId: number): DeploymentReplica | undefined {
    const row = this.store.db.prepare('SELECT * FROM deployment_replica WHERE replica_id = ?').get(replicaId) as ReplicaRow | undefined;
    return row && toReplica(row);
  }

  setStatus(replicaId: number, status: ReplicaStatus, detail?: string, now = Date.now()): void {
    this.store.db
      .prepare(
        'UPDATE deployment_replica SET status = ?, detail = coalesce(?, detail), stopped_at = CASE WHEN ? THEN ? ELSE stopped_at END WHERE replica_id = ?',
      )
      .run(status, detail ?? null, status === 'stopped' || status === 'failed' ? 1 : 0, now, replicaId);
  }

  /** Every process a deployment started, by slot then start. */
  ofDeployment(deploymentId: number): DeploymentReplica[] {
    return (
      this.store.db.prepare('SELECT * FROM deployment_replica WHERE deployment_id = ? ORDER BY slot, started_at, replica_id').all(deploymentId) as ReplicaRow[]
    ).map(toReplica);
  }

  /** The processes of a deployment that should be running (starting or serving). */
  live(deploymentId: number): DeploymentReplica[] {
    return this.ofDeployment(deploymentId).filter((r) => r.status === 'starting' || r.status === 'serving');
  }

  /** Every process of a target that should be running, whatever deployment started it (what a stop must end). */
  liveOfTarget(target: string): DeploymentReplica[] {
    return (
      this.store.db
        .prepare(
          "SELECT r.* FROM deployment_replica r JOIN deployment d USING (deployment_id) WHERE d.target = ? AND r.status IN ('starting', 'serving') ORDER BY r.deployment_id, r.slot",
        )
        .all(target) as ReplicaRow[]
    ).map(toReplica);
  }
}
