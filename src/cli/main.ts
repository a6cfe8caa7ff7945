import { ExitCode } from './cliIo';
import { runCli } from './program';

// A thin process wrapper: parsing and behaviour live in program.ts so they stay testable.
runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mloop: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = ExitCode.Failure;
  },
);
