// The spans of step runs and undos, from the step processor with a fake store and an in-memory exporter:
// each run in the trace its job carries, undos under the failed run, a dead run drawn from the record.
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { STEPS, type StepName } from '../../shared/domain/order.js';
import { LockLostError } from '../../workers/step-processor.js';
import { createWorld, fakeJob, jobIdOf, ORDER_ID } from './fakes/step-world.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register({ propagator: new W3CTraceContextPropagator() });
const tracer = trace.getTracer('test');
afterEach(() => exporter.reset());
afterAll(() => provider.shutdown());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PLACEMENT_SPAN = '00f067aa0ba902b7';
const traceparent = `00-${TRACE_ID}-${PLACEMENT_SPAN}-01`;

/** A node of `world` (traced unless `traced` is false): each call runs `step`, its job carrying `traceparent`. */
function tracedNode(world: ReturnType<typeof createWorld>, nodeId: string, traced = true) {
  const node = world.node(nodeId, traced ? { tracer } : {});
  let runs = 0;
  return (step: StepName) => {
    const token = `${nodeId}-traced-${++runs}`;
    world.store.lock(jobIdOf(step), token);
    const job = fakeJob(step);
    return node.process(Object.assign(job, { data: { ...job.data, traceparent } }), token);
  };
}

const spans = () => exporter.getFinishedSpans();
const named = (name: string) => spans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('with a tracer', () => {
  it('makes each run a consumer span in the trace its job carries, under the placement', async () => {
    const world = createWorld();
    expect(await world.runChain(tracedNode(world, 'node-a'))).toBeUndefined();
    expect(spans().map((s) => s.name)).toEqual(STEPS.map((step) => `step ${step}`));
    for (const [index, span] of spans().entries()) {
      expect(span.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(span)).toBe(PLACEMENT_SPAN);
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.attributes).toMatchObject({
        'orderflow.order_id': ORDER_ID,
        'orderflow.shard': 3,
        'orderflow.step': STEPS[index],
        'orderflow.attempt': 1,
        'orderflow.node_id': 'node-a',
        'orderflow.outcome': 'completed',
      });
    }
  });

  it('puts each undo of a rollback under the run of the step that failed', async () => {
    const world = createWorld({ failAt: 'processing' });
    await world.runChain(tracedNode(world, 'node-a'));
    const [failed] = named('step processing');
    expect(failed?.attributes['orderflow.outcome']).toBe('failed');
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    const undos = spans().filter((s) => s.name.startsWith('compensate '));
    expect(undos.map((s) => s.name)).toEqual(['compensate pre-processing', 'compensate scheduling']);
    for (const undo of undos) {
      expect(undo.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(undo)).toBe(failed?.spanContext().spanId);
      expect(undo.attributes).toMatchObject({
        'orderflow.failed_step': 'processing',
        'orderflow.node_id': 'node-a',
        'orderflow.outcome': 'compensated',
      });
    }
  });

  it('shows a run whose node died, from the record, beside the run that took it over', async () => {
    const world = createWorld();
    await tracedNode(world, 'node-a')('scheduling');
    // node-c starts pre-processing and dies: its lock goes, and its attempt stays `running`.
    world.hooks.run = () => world.store.lock(jobIdOf('pre-processing'), 'expired');
    await expect(tracedNode(world, 'node-c')('pre-processing')).rejects.toThrow(LockLostError);
    world.hooks.run = undefined;
    exporter.reset(); // what node-c's span said is its own; a killed node would have said nothing
    const deadStart = world.order().steps[1]!.attempts[0]!.started_at;
    await tracedNode(world, 'node-e')('pre-processing');

    const runs = named('step pre-processing');
    expect(runs.map((s) => [s.attributes['orderflow.node_id'], s.attributes['orderflow.outcome']])).toEqual([
      ['node-c', 'abandoned'],
      ['node-e', 'completed'],
    ]);
    const [dead, taker] = runs as [ReadableSpan, ReadableSpan];
    expect(dead.attributes).toMatchObject({ 'orderflow.reconstructed': true, 'orderflow.attempt': 1 });
    expect(dead.status.code).toBe(SpanStatusCode.ERROR);
    expect(new Date(dead.startTime[0] * 1000 + dead.startTime[1] / 1e6).toISOString()).toBe(deadStart);
    for (const run of runs) {
      expect(run.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(run)).toBe(PLACEMENT_SPAN);
    }
    expect(taker.attributes['orderflow.reconstructed']).toBeUndefined();
    // Shown once: a later run of the next step finds nothing left running.
    await tracedNode(world, 'node-e')('processing');
    expect(named('step pre-processing')).toHaveLength(2);
  });
});

describe('without a tracer', () => {
  it('starts no span, even for jobs that carry a trace context and a rollback', async () => {
    const world = createWorld({ failAt: 'processing' });
    expect(await world.runChain(tracedNode(world, 'node-a', false))).toBeInstanceOf(Error);
    expect(world.order().status).toBe('failed');
    expect(spans()).toEqual([]);
  });
});
