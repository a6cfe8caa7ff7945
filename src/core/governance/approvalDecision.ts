import { applyPromotion, preparePromotion, type PromotionPlan } from '../registry/aliases';
import type { GateSpec, RegistryContext } from '../registry/register';
import { ApprovalError, ApprovalRaceError, decide, decisionProblem, getRequest, type DecisionOutcome } from './approvals';

/**
 * A reviewer (ctx.actor) approves or rejects a request. When this approval is the one that reaches `required`, a
 * promotion is checked first (artifact digest, the gate as mloop.yaml states it now, the requester's override) and
 * made in the deciding transaction, recorded as the requester's change with the approvers in its reason. A deploy
 * request is only marked approved: the caller deploys afterwards (a deployment is a long process, not a transaction).
 */
export async function decideRequest(
  ctx: RegistryContext,
  input: { requestId: number; decision: 'approve' | 'reject'; comment: string; gate?: GateSpec; now?: number },
): Promise<DecisionOutcome> {
  try {
    return await decideOnce(ctx, input);
  } catch (error) {
    // another reviewer approved between our read and our transaction: ours is now the deciding approval
    if (error instanceof ApprovalRaceError) return decideOnce(ctx, input);
    throw error;
  }
}

async function decideOnce(
  ctx: RegistryContext,
  input: { requestId: number; decision: 'approve' | 'reject'; comment: string; gate?: GateSpec; now?: number },
): Promise<DecisionOutcome> {
  const now = input.now ?? Date.now();
  const request = getRequest(ctx.store, input.requestId, now);
  if (!request) throw new ApprovalError(`no approval request #${input.requestId} (see "mloop requests")`);
  // refuse early (before the checks below); decide() checks again inside its transaction, where races are settled
  const problem = decisionProblem(request, ctx.actor, now);
  if (problem) throw new ApprovalError(problem);
  const approvals = request.decisions.filter((d) => d.decision === 'approve').length;
  let plan: PromotionPlan | undefined;
  let approvers = '';
  if (input.decision === 'approve' && request.kind === 'promote' && approvals + 1 >= request.required) {
    approvers = [...request.decisions.filter((d) => d.decision === 'approve').map((d) => d.reviewer), ctx.actor].join(', ');
    const reason = typeof request.action.reason === 'string' ? request.action.reason : undefined;
    const overrideReason = typeof request.action.overrideReason === 'string' ? request.action.overrideReason : undefined;
    const note = `request #${request.requestId} approved by ${approvers}`;
    plan = await preparePromotion(
      { ...ctx, actor: request.requestedBy },
      {
        modelName: request.modelName,
        version: request.version,
        alias: request.subject,
        reason: reason ? `${reason} · ${note}` : note,
        ...(overrideReason ? { overrideReason: `${overrideReason} · ${note}` } : {}),
        ...(input.gate ? { gate: { rules: input.gate.rules, ...(input.gate.evaluationFile ? { evaluationFile: input.gate.evaluationFile } : {}) } } : {}),
        now,
      },
    );
  }
  const promotion = plan;
  return decide(ctx.store, {
    requestId: input.requestId,
    reviewer: ctx.actor,
    decision: input.decision,
    comment: input.comment,
    now,
    ...(promotion ? { execute: () => applyPromotion({ ...ctx, actor: request.requestedBy }, promotion) } : {}),
  });
}
