import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RoutingError } from './routing/errors.ts';
import { BackendError } from './backends/backend.ts';
import { SessionStartError } from './session/errors.ts';
import { VoicegateError } from './errors.ts';
import type * as ErrorsModule from './errors.ts';
import type * as RoutingErrorsModule from './routing/errors.ts';

/**
 * A second, independent copy of src/errors.ts and src/routing/errors.ts, loaded from another
 * directory: what two installed versions of voicegate (or one bundled twice) give.
 */
async function secondCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'voicegate-errors-copy-'));
  mkdirSync(join(dir, 'routing'));
  copyFileSync(new URL('./errors.ts', import.meta.url), join(dir, 'errors.ts'));
  copyFileSync(new URL('./routing/errors.ts', import.meta.url), join(dir, 'routing', 'errors.ts'));
  try {
    const errors = (await import(pathToFileURL(join(dir, 'errors.ts')).href)) as typeof ErrorsModule;
    const routing = (await import(pathToFileURL(join(dir, 'routing', 'errors.ts')).href)) as typeof RoutingErrorsModule;
    return { errors, RoutingErrorCopy: routing.RoutingError };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('VoicegateError', () => {
  it('code, message, name, cause and retryable as given', () => {
    const cause = new Error('socket reset');
    const err = new BackendError('connect', 'could not reach gpu-1', undefined, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'connect', message: 'could not reach gpu-1', name: 'BackendError', retryable: true });
    expect(err.cause).toBe(cause);
    expect(new BackendError('http_4xx', 'bad voice', 400).retryable).toBe(false);
    expect(new BackendError('aborted', 'cancelled').retryable).toBe(false);
    expect(new SessionStartError('no_capacity', 'full').retryable).toBe(true);
    expect(new SessionStartError('unknown_voice', 'who?').retryable).toBe(false);
    // Not said where no caller decides on it.
    expect('retryable' in new RoutingError('unknown_pool', 'no pool')).toBe(false);
    expect(String(new RoutingError('unknown_pool', 'no pool named x'))).toBe('RoutingError: no pool named x');
  });

  it('instanceof holds across a second copy of the module, both ways, and keeps classes apart', async () => {
    const { errors, RoutingErrorCopy } = await secondCopy();
    expect(errors.VoicegateError).not.toBe(VoicegateError); // really another copy
    const theirs = new RoutingErrorCopy('unknown_pool', 'from the other copy');
    const ours = new RoutingError('unknown_pool', 'from this copy');
    expect(Object.getPrototypeOf(Object.getPrototypeOf(theirs))).not.toBe(VoicegateError.prototype);
    expect(theirs instanceof VoicegateError).toBe(true);
    expect(theirs instanceof RoutingError).toBe(true);
    expect(ours instanceof errors.VoicegateError).toBe(true);
    expect(ours instanceof RoutingErrorCopy).toBe(true);
    // The brand names the class: a sibling class is not taken for another.
    expect(theirs instanceof BackendError).toBe(false);
    expect(new BackendError('timeout', 'slow') instanceof RoutingErrorCopy).toBe(false);
  });

  it('plain errors and lookalikes are not VoicegateErrors', () => {
    expect(new Error('x') instanceof VoicegateError).toBe(false);
    expect(Object.assign(new Error('x'), { code: 'unknown_pool', name: 'RoutingError' }) instanceof RoutingError).toBe(false);
    for (const value of [null, undefined, 'RoutingError', 42, {}]) expect(value instanceof VoicegateError).toBe(false);
  });

  it('every subclass in src/ has a name no other one has (the name is the brand)', () => {
    const names: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'public') walk(path);
        } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
          for (const m of readFileSync(path, 'utf8').matchAll(/class (\w+)(?:<[^>]*>)? extends (\w+)/g)) names.push(`${m[1]} ${m[2]}`);
        }
      }
    };
    walk(new URL('.', import.meta.url).pathname);
    // Follow `extends` from VoicegateError down.
    const ours = new Set(['VoicegateError']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const pair of names) {
        const [name, base] = pair.split(' ') as [string, string];
        if (ours.has(base) && !ours.has(name)) {
          ours.add(name);
          grew = true;
        }
      }
    }
    const declared = names.map((p) => p.split(' ')[0]!).filter((n) => ours.has(n));
    expect(declared.length).toBeGreaterThanOrEqual(15);
    expect(new Set(declared).size).toBe(declared.length);
  });
});
