import { addView, type ExtensionServices } from '../base/services';
import { registerAuditCommands } from './commands';
import { TeamPublishing } from './teamPublishing';
import { auditTreeModel, teamAuditTreeModel } from './tree';

/** The Audit view: the hash chain's verdict, open approval requests, then who changed which alias, deployment or gate. */
export function registerAudit(services: ExtensionServices): { teamPublishing: TeamPublishing } {
  const teamPublishing = new TeamPublishing(services);
  services.context.subscriptions.push(teamPublishing);
  addView(services, 'mloop.audit', auditTreeModel, { remote: { service: services.backends, model: teamAuditTreeModel } });
  services.context.subscriptions.push(...registerAuditCommands({ commands: services.commands, refresh: services.refresh, backends: services.backends }));
  return { teamPublishing };
}
