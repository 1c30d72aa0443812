// Which `npm start` owns a local cluster: a pid file in the cluster's dir, so a killed launcher's cluster is found again.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ownerFile = (clusterDir: string) => path.join(clusterDir, 'launcher.pid');

/**
 * The state of the launcher recorded as the cluster's owner:
 * - `none`: no launcher started it (`npm run cluster -- up` did, or nothing runs);
 * - `alive`: another launcher that still runs owns it;
 * - `dead`: its launcher is gone (SIGKILLed): the cluster is a leftover for the next one to adopt.
 */
export type OwnerState = { state: 'none' } | { state: 'alive' | 'dead'; pid: number };

export async function readOwner(clusterDir: string): Promise<OwnerState> {
  const text = await readFile(ownerFile(clusterDir), 'utf8').catch(() => null);
  const pid = text === null ? Number.NaN : Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return { state: 'none' };
  return { state: pid !== process.pid && (await isLauncher(pid)) ? 'alive' : 'dead', pid };
}

export async function claimOwnership(clusterDir: string): Promise<void> {
  await writeFile(ownerFile(clusterDir), `${process.pid}\n`);
}

/** Whether pid runs the launcher; a pid the OS reused for another program since is not one. */
async function isLauncher(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline === null) return process.platform !== 'linux';
  return cmdline.includes('scripts/start');
}
