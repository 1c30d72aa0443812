// BullMQ's own move of a job to completed, as the one place that relies on its internals: the
// script's text and the layout of its keys and arguments. A step's completion is folded into that
// move (shared/order-scripts.ts, docs/adr/0023), so both commit in one script, one round trip.
// bullmq is pinned exactly in package.json; `checkMoveLayout` fails a node at start-up, and the
// tests in test/integration/completion-fold.test.ts fail, if a bump moved anything relied on here.
import { type Job, raw2NextJobData } from 'bullmq';
import { moveToFinished } from 'bullmq/dist/esm/scripts/moveToFinished-14.js';

/** The keys and arguments of BullMQ's moveToFinished; ours follow them. */
export const MOVE_KEYS = 14;
export const MOVE_ARGS = 9;

/** The text of BullMQ's moveToFinished script, run unchanged inside the fold. */
export const MOVE_TO_FINISHED_LUA: string = moveToFinished.content;

/** What the fold uses of BullMQ's script: a changed one must be read again before it is trusted. */
const RELIED_ON = [
  'local jobIdKey = KEYS[12]',
  'local opts = cmsgpack.unpack(ARGV[8])',
  "local token = opts['token']",
  'local errorCode = removeLock(jobIdKey, KEYS[5], token, ARGV[1])',
  'if (ARGV[6] == "1") then',
];

/** BullMQ's keys and arguments of moving `job` to completed (private in its typings). */
interface MoveScripts {
  moveToCompletedArgs(
    job: Job,
    returnValue: string,
    removeOnComplete: unknown,
    token: string,
    fetchNext: boolean,
  ): (string | number | Buffer | undefined)[];
}

/** The store's keys and arguments for moving `job` to completed, as BullMQ builds them itself. */
export function moveArgsOf(job: Job, returnValue: string, token: string, fetchNext: boolean) {
  const scripts = (job as unknown as { scripts: MoveScripts }).scripts;
  return scripts.moveToCompletedArgs(job, returnValue, job.opts.removeOnComplete, token, fetchNext);
}

/** BullMQ's reply to a move that fetched the next job, decoded as its Worker expects it. */
export const nextJobOf = (raw: unknown): unknown[] => raw2NextJobData(raw as unknown[]);

/**
 * Throws unless the installed BullMQ still has the layout the fold relies on: 14 keys with the job's
 * key at KEYS[12], 9 arguments with the job id first, the lock taken from the token in ARGV[8].
 * `job` is any job of a Worker's queue (its `scripts` build the arguments); nothing is sent.
 */
export function checkMoveLayout(job: Job, jobKey: string): void {
  const problems: string[] = [];
  if (moveToFinished.keys !== MOVE_KEYS) problems.push(`${moveToFinished.keys} keys, not ${MOVE_KEYS}`);
  for (const line of RELIED_ON) {
    if (!MOVE_TO_FINISHED_LUA.includes(line)) problems.push(`no \`${line}\``);
  }
  const args = moveArgsOf(job, '0', 'layout-check', false);
  if (args.length !== MOVE_KEYS + MOVE_ARGS) problems.push(`${args.length} keys and arguments`);
  if (args[11] !== jobKey) problems.push(`KEYS[12] is ${String(args[11])}, not the job's key`);
  if (args[MOVE_KEYS] !== job.id) problems.push('ARGV[1] is not the job id');
  if (args[MOVE_KEYS + 4] !== 'completed') problems.push('ARGV[5] is not the target');
  if (problems.length > 0) {
    throw new Error(
      `bullmq's moveToFinished changed (${problems.join('; ')}): the completion fold cannot run; see shared/bullmq-move.ts`,
    );
  }
}
