import { addView, type ExtensionServices } from '../base/services';
import { auditTreeModel } from './tree';

/** The Audit view: who changed which alias, deployment or gate, newest first. */
export function registerAudit(services: ExtensionServices): void {
  addView(services, 'mloop.audit', auditTreeModel);
}
