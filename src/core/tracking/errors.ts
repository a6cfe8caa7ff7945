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
