/**
 * Builds the console's bundle (src/console/app → src/console/public/app.js) with esbuild.
 * The bundle is committed, so `npm start` serves the console with no build step; the console
 * test rebuilds it in memory and fails when the committed file is stale (docs/console.md).
 *
 *   npm run build:console
 */
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CONSOLE_ENTRY = fileURLToPath(new URL('./app/main.ts', import.meta.url));
export const CONSOLE_BUNDLE = fileURLToPath(new URL('./public/app.js', import.meta.url));

/** The bundle's bytes, as `npm run build:console` writes them. */
export async function buildConsole(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [CONSOLE_ENTRY],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    charset: 'utf8',
    legalComments: 'eof',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].contents;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await buildConsole();
  writeFileSync(CONSOLE_BUNDLE, bytes);
  process.stdout.write(`wrote ${CONSOLE_BUNDLE} (${(bytes.length / 1024).toFixed(1)} KiB)\n`);
}
