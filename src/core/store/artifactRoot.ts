import { dirname, join } from 'node:path';

/** Where a store keeps run and model artifacts: the `artifacts` folder beside its file (one place decides it). */
export const artifactRootOf = (storePath: string): string => join(dirname(storePath), 'artifacts');
