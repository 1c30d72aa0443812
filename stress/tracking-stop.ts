// How a tracker ends: once every order ended, at the deadline, when nothing moved for too long, or
// when the run is interrupted. Shared by the polling and the event-stream trackers.
import type { OrderRecord } from '../shared/domain/order.js';
import type { TrackResult } from './tracker.js';

export interface TrackingEnd {
  /** Epoch ms. */
  deadline: number;
  stallMs: number;
  signal?: AbortSignal;
  /** When an order last moved. */
  lastProgressAt: () => number;
  /** Stops the tracker's loops. */
  stop: () => void;
  loops: Promise<void>[];
  /** The orders not ended once the loops stopped, with their last record read. */
  left: () => Array<{ orderId: string; last: OrderRecord | null }>;
  /** The counts of the result, read after the loops stopped. */
  result: () => Omit<TrackResult, 'stuck' | 'stoppedBy'>;
}

/** Waits for the loops, stopping them (every 100 ms check) for the first reason that holds. */
export async function endTracking(end: TrackingEnd): Promise<TrackResult> {
  let stoppedBy: TrackResult['stoppedBy'] = 'finished';
  const watchdog = setInterval(() => {
    if (end.signal?.aborted) stoppedBy = 'interrupted';
    else if (Date.now() > end.deadline) stoppedBy = 'deadline';
    else if (Date.now() - end.lastProgressAt() > end.stallMs) stoppedBy = 'stalled';
    else return;
    end.stop();
  }, 100);
  await Promise.all(end.loops);
  clearInterval(watchdog);
  const stuck = end.left();
  return { ...end.result(), stuck, stoppedBy: stuck.length === 0 ? 'finished' : stoppedBy };
}
