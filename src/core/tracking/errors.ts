import { describeStorageFailure } from '../store/errors';

/** MLflow's error codes that this endpoint answers with, and the HTTP status each maps to. */
export const ERROR_STATUS = {
  INVALID_PARAMETER_VALUE: 400,
  BAD_REQUEST: 400,
  INVALID_STATE: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  RESOURCE_ALREADY_EXISTS: 400,
  ENDPOINT_NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  INTERNAL_ERROR: 500,
  TEMPORARILY_UNAVAILABLE: 503,
} as const;

export type MlflowErrorCode = keyof typeof ERROR_STATUS;

/** An error the client caused; sent as MLflow's `{error_code, message}` with the matching status. */
export class MlflowApiError extends Error {
  readonly code: MlflowErrorCode;
  constructor(code: MlflowErrorCode, message: string) {
    super(message);
    this.name = 'MlflowApiError';
    this.code = code;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const invalidParameter = (message: string): MlflowApiError => new MlflowApiError('INVALID_PARAMETER_VALUE', message);
export const notFound = (message: string): MlflowApiError => new MlflowApiError('RESOURCE_DOES_NOT_EXIST', message);
export const alreadyExists = (message: string): MlflowApiError => new MlflowApiError('RESOURCE_ALREADY_EXISTS', message);

/**
 * A failure of the disk under the store or the artifact folder (full, read-only, I/O error, a write
 * lock held past the busy timeout, a damaged file). Every write of a request is one transaction, so a
 * refused request stored nothing; the temporary ones answer 503 TEMPORARILY_UNAVAILABLE, which the
 * MLflow client retries with backoff. undefined: not a disk failure.
 */
export function storageFailure(error: unknown, storePath: string): MlflowApiError | undefined {
  const failure = describeStorageFailure(error, storePath);
  if (!failure) return undefined;
  const message = `${capitalise(failure.problem)}. Nothing of this request was stored; ${failure.remedy}${failure.temporary ? ', then retry' : ''}.`;
  return new MlflowApiError(failure.temporary ? 'TEMPORARILY_UNAVAILABLE' : 'INTERNAL_ERROR', message);
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
