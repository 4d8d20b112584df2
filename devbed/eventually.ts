/** Waits for a condition in the world: f returns a value when it holds, undefined (or throws) while it does not. */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../controller/kube/errors.ts";

export async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  seconds = 60,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      assert.fail(
        `not within ${seconds}s: ${what}${last === undefined ? "" : ` (${describeError(last)})`}`,
      );
    }
    await sleep(intervalMs);
  }
}
