// `npm run build`: compiles the production tree to dist/ (tsconfig.build.json) and copies the files tsc
// does not emit (the dashboard's CSS and JS, package.json's JSON import) beside the compiled code.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
for (const dir of ['shared', 'server', 'workers', 'dashboards']) {
  cpSync(dir, `dist/${dir}`, { recursive: true, filter: (file) => !/\.tsx?$/.test(file) });
}
