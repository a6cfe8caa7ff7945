/** The whole check cannot run (bad reference, no rows, a sample the statistics cannot take): the CLI exits 1 with this message. */
export class DriftInputError extends Error {
  override readonly name = 'DriftInputError';
}
