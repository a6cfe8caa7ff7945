import { addView, type ExtensionServices } from '../base/services';
import { registerAuditCommands } from './commands';
import { TeamPublishing } from './teamPublishing';
import { SIGNING_NAMESPACE, projectPath } from '../../core/governance/auditSigning';
import { createAuditTreeModel, createTeamAuditTreeModel, type AuditViewSigning } from './tree';

/** The Audit view: the hash chain's verdict, open approval requests, then who changed which alias, deployment or gate. */
export function registerAudit(services: ExtensionServices): { teamPublishing: TeamPublishing } {
  const teamPublishing = new TeamPublishing(services);
  services.context.subscriptions.push(teamPublishing);
  // audit.sign_with (or signing.allowed_signers) in mloop.yaml: every row says whether its entry is signed, by which key, or invalid (the team's
  // entries on the server too, checked against the same allowed signers)
  const signing = (): AuditViewSigning | undefined => {
    const { current, projectRoot } = services.projectConfig;
    const allowed = current?.audit?.signing?.allowed_signers;
    // a reviewer who checks signatures (allowed_signers) without signing sees the states too
    if (!current?.audit || !(current.audit.sign_with || allowed) || !projectRoot) return undefined;
    return { namespace: current.audit.signing?.namespace ?? SIGNING_NAMESPACE, ...(allowed ? { allowedSigners: projectPath(allowed, projectRoot) } : {}) };
  };
  const tree = addView(services, 'mloop.audit', createAuditTreeModel({ signing }), {
    remote: { service: services.backends, model: createTeamAuditTreeModel({ signing }) },
  });
  services.context.subscriptions.push(services.projectConfig.onDidChange(() => tree.refresh()));
  services.context.subscriptions.push(...registerAuditCommands({ commands: services.commands, refresh: services.refresh, backends: services.backends }));
  return { teamPublishing };
}
