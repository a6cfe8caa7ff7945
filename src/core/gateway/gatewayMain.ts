// Entry of dist/gateway.js: the traffic gateway of one target, started detached by src/core/gateway/control.ts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { routeTableSchema } from './routing';
import { startGatewayServer } from './server';

const argsSchema = z.strictObject({
  target: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  token_path: z.string().min(1),
  serving_log: z.string().min(1),
  feedback_log: z.string().min(1),
  table: routeTableSchema,
});

async function main(): Promise<void> {
  const parsed = argsSchema.safeParse(JSON.parse(process.argv[2] ?? '{}'));
  if (!parsed.success) throw new Error(`gateway arguments: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const args = parsed.data;
  const server = await startGatewayServer({
    target: args.target,
    port: args.port,
    token: readFileSync(args.token_path, 'utf8').trim(),
    table: args.table,
    servingLogPath: args.serving_log,
    feedbackLogPath: args.feedback_log,
  });
  console.log(`mloop gateway for target "${args.target}" listening on 127.0.0.1:${server.port} (pid ${process.pid})`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`mloop gateway: ${(error as Error).message}`);
  process.exit(1);
});
