/**
 * A test file's after hook: every step runs even when an earlier one throws
 * (a fixture that was never started because before failed throws a
 * TypeError), so whatever did start is always stopped; the first error is
 * rethrown once all have run.
 */
export async function teardown(...steps: (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}
