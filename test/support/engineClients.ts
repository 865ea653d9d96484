// Engine clients for tests: the host's EngineClient running an engine entry through tsx, with the
// states it passed through and the lines it logged, and the assertion every fault test needs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { EngineClient, EngineRequestError, type EngineClientOptions, type EngineState } from '../../src/host/engineClient';
import { REPO } from './paths';

export const TSX = ['--import', 'tsx'];
export const REAL_ENGINE = path.join(REPO, 'src/engine/main.ts');
/** A controllable engine for the protocol's edge cases (crashes, hangs, odd messages). */
export const TEST_ENGINE = path.join(REPO, 'test/engine/fixtures/testEngine.ts');

export interface TestClient {
  c: EngineClient;
  states: EngineState[];
  logs: string[];
}

export function testClient(entry = REAL_ENGINE, opts: Partial<Omit<EngineClientOptions, 'enginePath'>> = {}): TestClient {
  const states: EngineState[] = [];
  const logs: string[] = [];
  const c = new EngineClient({ ...opts, enginePath: entry, execArgv: [...TSX, ...(opts.execArgv ?? [])], log: (_l, m) => logs.push(m) });
  c.onState((s) => states.push(s));
  return { c, states, logs };
}

/** Awaits `p`, which must reject with an EngineRequestError of `code` (and `message`, if given). */
export async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<EngineRequestError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EngineRequestError, `expected EngineRequestError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}
