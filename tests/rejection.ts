/**
 * What `promise` rejects with, for tests that expect a failure: an error of `kind` (Error unless named). A promise
 * that resolves fails the test; a rejection of another kind is rethrown, so the test fails with that error.
 */
export async function rejection<E extends Error = Error>(
  promise: Promise<unknown>,
  kind: abstract new (...args: never[]) => E = Error as unknown as abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof kind) return err;
    throw err;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
