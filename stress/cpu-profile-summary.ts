// `node --import tsx stress/cpu-profile-summary.ts FILE.cpuprofile [--top N]`: where a process's CPU
// went, from a V8 profile (`npm run bench -- <scenario> --cpu-prof DIR`): self time grouped by
// library or kind of work, in % of the samples that were not idle, and the top functions (of one
// group with `--group NAME`).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Groups, first match wins: a function's script URL (or, for a native one, its name) → a group. */
const GROUPS: Array<[string, (url: string, fn: string) => boolean]> = [
  ['(idle)', (_, fn) => fn === '(idle)'],
  ['gc', (_, fn) => fn === '(garbage collector)'],
  ['(program: V8 / native, not attributed)', (_, fn) => fn === '(program)'],
  [
    'socket writes (native)',
    (url, fn) =>
      url === '' &&
      /^(writev|writeBuffer|writeString|writeUtf8String|writeLatin1String|utf8Write|latin1Write)$/.test(fn),
  ],
  ['promises / microtasks', (url, fn) => url === '' && fn === 'runMicrotasks'],
  [
    'AbortController / DOMException / events',
    (url) => /node:internal\/(per_context\/domexception|abort_controller|event_target|webidl)/.test(url),
  ],
  ['hono routing + node-server adapter', (url) => /node_modules\/(hono|@hono\/node-server)\//.test(url)],
  [
    'zod validation + OpenAPI wrapper',
    (url) => /node_modules\/(zod|@hono\/zod-openapi|@asteasolutions)\//.test(url),
  ],
  [
    'ioredis encode / parse',
    (url) => /node_modules\/(ioredis|redis-parser|@ioredis|denque|cluster-key-slot)\//.test(url),
  ],
  ['bullmq (flow, scripts)', (url) => /node_modules\/(bullmq|msgpackr|cron-parser)\//.test(url)],
  [
    'pino logging',
    (url) =>
      /node_modules\/(pino|pino-std-serializers|sonic-boom|fast-redact|thread-stream|quick-format-unescaped|atomic-sleep|on-exit-leak-free)\//.test(
        url,
      ),
  ],
  ['prom-client', (url) => /node_modules\/(prom-client|tdigest|bintrees)\//.test(url)],
  ['opentelemetry api', (url) => /node_modules\/@opentelemetry\//.test(url)],
  ['other node_modules', (url) => url.includes('/node_modules/')],
  [
    'crypto / hash',
    (url, fn) =>
      /node:(internal\/)?crypto|internal\/crypto/.test(url) ||
      /^(digest|update|createHash|randomUUID|Hash)$/.test(fn),
  ],
  ['JSON parse / stringify', (url, fn) => url === '' && /^(parse|stringify)$/.test(fn)],
  ['node http', (url) => /node:_http|node:http|internal\/http/.test(url)],
  [
    'node net / streams / timers',
    (url) =>
      /node:(net|stream|internal\/(streams|stream_base|net|timers|process\/task_queues|async_hooks))|node:timers/.test(
        url,
      ),
  ],
  ['orderflow server/', (url) => url.includes('/server/')],
  ['orderflow shared/', (url) => url.includes('/shared/')],
  ['stress baselines', (url) => url.includes('/stress/')],
  ['other node internals', (url) => url.startsWith('node:')],
  ['other native / builtins', () => true],
];

function groupOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  return GROUPS.find(([, match]) => match(url, functionName))![0];
}

const shortUrl = (url: string) =>
  url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(server|shared|stress)\//, '$1/');

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' }, group: { type: 'string' } },
  });
  if (positionals.length !== 1)
    throw new Error('usage: cpu-profile-summary.ts FILE.cpuprofile [--top N] [--group NAME]');
  const profile = JSON.parse(await readFile(positionals[0]!, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // timeDeltas[i] is the time before sample i: sample i is charged the interval that follows it.
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + us);
  }
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const group = groupOf(node);
    groups.set(group, (groups.get(group) ?? 0) + us);
    if (group === '(idle)') continue;
    busy += us;
    if (values.group !== undefined && group !== values.group) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  console.log(`busy (not idle) CPU in the profile: ${(busy / 1e6).toFixed(2)} s`);
  console.log('\nself time by group, % of busy:');
  for (const [group, us] of [...groups].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]))
    console.log(`  ${pct(us)}  ${group}`);
  console.log(
    `\ntop ${values.top} functions${values.group ? ` of ${values.group}` : ''} by self time, % of busy:`,
  );
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top)))
    console.log(`  ${pct(us)}  ${name}`);
}

await main();
