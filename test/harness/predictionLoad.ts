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
  readonly onAnswer: (answer: PredictionAnswer) => void;
  /** A request that got no answer (connection refused or reset). */
  readonly onError: (error: Error) => void;
}

/** `clients` loops POSTing to /predict on 127.0.0.1:`port` without pause until stopped; the caller counts the answers. */
export function predictionLoad(options: PredictionLoadOptions): { stop(): Promise<void> } {
  const { port, clients } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
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
            options.onAnswer({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
            done();
          });
        },
      );
      req.on('error', (error) => {
        options.onError(error);
        done();
      });
      req.end(body);
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}
