import { Agent, type IncomingHttpHeaders, request } from 'node:http';

/** One answer of the gateway to a POST /predict, read whole. */
export interface PredictionAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

export interface PredictionLoadOptions {
  readonly port: number;
  /** How many loops send at once, each waiting for its answer before the next request (one keep-alive socket each). */
  readonly clients: number;
  /** The JSON body of each request (called per request, so it may vary). */
  readonly body: () => string;
  /** Sees every answer, for the test's own counts; a string it returns is a failure (a 200 with a wrong body). */
  readonly onAnswer?: (answer: PredictionAnswer) => string | undefined | void;
}

/** What every load counts: the 200 answers, and the failures (`<status> <body>`, a failure onAnswer named, or the error of a request with no answer). */
export interface LoadTally {
  readonly ok: number;
  readonly failed: readonly string[];
}

/**
 * `clients` loops POSTing to /predict on 127.0.0.1:`port` without pause until stopped. `failed` fills as it goes;
 * stop() waits for the requests under way and gives the tally.
 */
export function predictionLoad(options: PredictionLoadOptions): { readonly failed: readonly string[]; stop(): Promise<LoadTally> } {
  const { port, clients } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const failed: string[] = [];
  let ok = 0;
  let running = true;
  const one = (): Promise<void> =>
    new Promise((done) => {
      const body = options.body();
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/predict',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const answer = { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
            if (answer.status === 200) ok++;
            else failed.push(`${answer.status} ${answer.text}`);
            const failure = options.onAnswer?.(answer);
            if (failure) failed.push(failure);
            done();
          });
        },
      );
      req.on('error', (error) => {
        failed.push(error.message);
        done();
      });
      req.end(body);
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    failed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { ok, failed };
    },
  };
}
