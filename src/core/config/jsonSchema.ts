import { z } from 'zod';
import { configSchema } from './schema';

/** Where the editor finds the schema (package.json `yamlValidation`). */
export const CONFIG_SCHEMA_FILE = 'schemas/mloop.schema.json';

/**
 * The JSON Schema of mloop.yaml, derived from the zod schema (one source of truth): completion and
 * hover docs in the editor. Draft-07, the dialect YAML language servers support best.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { target: 'draft-07', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'mloop.yaml' };
}

/** The exact text checked in at CONFIG_SCHEMA_FILE. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
