/** A deployment refused or failed with a reason the user can act on. */
export class DeployError extends Error {
  override readonly name: string = 'DeployError';
}

/** Another deployment holds the target; nothing was changed. */
export class TargetBusyError extends DeployError {
  override readonly name = 'TargetBusyError';
}
