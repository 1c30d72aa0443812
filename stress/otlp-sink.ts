// `node --import tsx stress/otlp-sink.ts [--port 4318]`: a local OTLP/HTTP trace sink for measuring what
// tracing costs (docs/BENCHMARKS.md#tracing-cost). It answers every POST /v1/traces at once and only
// counts them, so the sink itself costs the shared machine as little as possible. Stops on SIGTERM/SIGINT,
// printing what it received.
import { parseArgs } from 'node:util';
import { startOtlpReceiver } from '../test/support/otlp-receiver.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '4318' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${values.port}?`);

const sink = await startOtlpReceiver({ parse: false, port });
process.stderr.write(`otlp sink: OTEL_EXPORTER_OTLP_ENDPOINT=${sink.url}\n`);

const stop = async () => {
  const bytes = sink.requests.reduce((sum, r) => sum + r.bytes, 0);
  process.stderr.write(`otlp sink: ${sink.requests.length} requests, ${bytes} bytes\n`);
  await sink.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
