import type { Migration } from './migration';
import { migration001 } from './001_tracking';
import { migration002 } from './002_datasets';
import { migration003 } from './003_registry';
import { migration004 } from './004_operations';
import { migration005 } from './005_logged_models';
import { migration006 } from './006_metric_blocks';
import { migration007 } from './007_reproducibility';
import { migration008 } from './008_monitoring';
import { migration009 } from './009_gateway';
import { migration010 } from './010_audit_chain';
import { migration011 } from './011_approvals';
import { migration012 } from './012_stages';
import { migration013 } from './013_estimated_performance';
import { migration014 } from './014_reproductions';
import { migration015 } from './015_model_evaluations';
import { migration016 } from './016_service_checks';
import { migration017 } from './017_stage_files';
import { migration018 } from './018_audit_signatures';
import { migration019 } from './019_deployment_replicas';
import { migration020 } from './020_window_importance';
import { migration021 } from './021_run_table_indexes';
import { migration022 } from './022_metric_tail';
import { migration023 } from './023_table_aggregate_indexes';
import { migration024 } from './024_run_scope_index';
import { migration025 } from './025_run_commit_index';

/** Every schema step in order. Append only: a released migration is never edited. */
export const migrations: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration009,
  migration010,
  migration011,
  migration012,
  migration013,
  migration014,
  migration015,
  migration016,
  migration017,
  migration018,
  migration019,
  migration020,
  migration021,
  migration022,
  migration023,
  migration024,
  migration025,
];

export const latestSchemaVersion: number = migrations[migrations.length - 1]!.version;
