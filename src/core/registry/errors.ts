import type { GateResult } from './gate';

/** A registry change refused with a reason the user can act on; nothing was written. */
export class RegistryError extends Error {
  override readonly name: string = 'RegistryError';
}

/** Promotion to champion refused because the version failed its gate (override with a reason to proceed). */
export class GateRefusedError extends RegistryError {
  override readonly name = 'GateRefusedError';
  constructor(
    message: string,
    readonly gate: GateResult,
  ) {
    super(message);
  }
}
