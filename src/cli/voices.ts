/**
 * `npm run voices -- export <file.tar.gz> [--dir data/voices]`
 * `npm run voices -- import <file.tar.gz> [--dir data/voices]`
 * `npm run voices -- list [--dir data/voices]`
 * Backup and restore of the voice library (docs/voices.md). The folder defaults to
 * `voices.dir` of the configuration (VOICEGATE_CONFIG or config/default.yaml). Restart the
 * gateway after an import: it loads the library at start and registers the voices then.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { exportVoices, importVoices } from '../voices/backup.ts';
import { VoiceStore } from '../voices/store.ts';

const USAGE = 'usage: npm run voices -- export <file.tar.gz> | import <file.tar.gz> | list  [--dir <voices.dir>]\n';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
const [command, file] = positionals;
if (values.help || !command || ((command === 'export' || command === 'import') && !file) || !['export', 'import', 'list'].includes(command)) {
  process.stdout.write(USAGE);
  process.exit(values.help ? 0 : 2);
}

async function main(): Promise<number> {
  const dir = values.dir ?? loadConfig().voices.dir;
  if (command === 'export') {
    const result = await exportVoices(dir, file!);
    process.stdout.write(`exported ${result.voices.length} voice(s) from ${dir} to ${file}\n`);
    return 0;
  }
  if (command === 'import') {
    const result = await importVoices(file!, dir);
    process.stdout.write(`imported ${result.imported.length} voice(s) into ${dir}${result.imported.length ? `: ${result.imported.join(', ')}` : ''}\n`);
    for (const s of result.skipped) process.stdout.write(`skipped ${s.id}: ${s.reason}\n`);
    return result.skipped.length > 0 ? 1 : 0;
  }
  const store = await VoiceStore.open(dir);
  for (const v of store.list()) process.stdout.write(`${v.id}\t${v.name}\t${v.pool}\t${v.duration_seconds}s\t${v.created_at}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`voices ${command}: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
