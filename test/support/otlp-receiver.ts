// A minimal OTLP/HTTP trace receiver: a plain node http server taking POST /v1/traces. JSON bodies are
// parsed into spans; protobuf ones are only counted (with their content type), which is all a test needs.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it, its attributes flattened and its resource's service name beside it. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: { code?: number; message?: string };
  attributes: Record<string, string | number | boolean>;
}

/** One POST /v1/traces as it arrived. */
export interface ReceivedRequest {
  contentType: string;
  bytes: number;
}

export interface OtlpReceiver {
  /** The base URL, to be OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type KeyValue = { key: string; value: AnyValue };

const plain = (v: AnyValue) =>
  v.stringValue ??
  (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
  v.boolValue ??
  v.doubleValue ??
  '';

const flatten = (list: KeyValue[] = []) => Object.fromEntries(list.map((kv) => [kv.key, plain(kv.value)]));

/** The spans of one OTLP/JSON ExportTraceServiceRequest. */
export function spansOf(body: unknown): ReceivedSpan[] {
  const request = body as {
    resourceSpans?: Array<{
      resource?: { attributes?: KeyValue[] };
      scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }>;
    }>;
  };
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const service = String(flatten(rs.resource?.attributes)['service.name'] ?? '');
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        service,
        traceId: String(span.traceId),
        spanId: String(span.spanId),
        parentSpanId: String(span.parentSpanId ?? ''),
        name: String(span.name),
        kind: Number(span.kind),
        status: (span.status ?? {}) as ReceivedSpan['status'],
        attributes: flatten(span.attributes as KeyValue[]),
      })),
    );
  });
}

/**
 * Starts a receiver on loopback, on `port` (default: a free one). `parse: false` only counts requests
 * (a cheap sink for benchmarks); `answer: false` reads requests and never answers: a collector that hangs.
 */
export async function startOtlpReceiver({
  parse = true,
  answer = true,
  port = 0,
} = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: ReceivedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const contentType = String(req.headers['content-type'] ?? '');
      const body = Buffer.concat(chunks);
      requests.push({ contentType, bytes: body.length });
      if (parse && contentType.startsWith('application/json'))
        spans.push(...spansOf(JSON.parse(String(body))));
      if (!answer) return;
      // An empty ExportTraceServiceResponse in the request's encoding.
      const json = contentType.startsWith('application/json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    spans,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
