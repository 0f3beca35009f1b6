// Helpers shared by the JS tests.
import assert from 'node:assert/strict';

import { UserTrail, UserTrailError } from 'usertrail';

/** A fixed start time: 2023-11-14T22:13:20Z. */
export const T0 = 1_700_000_000_000;

/** An engine on a clock the test moves: `advance(ms)`. */
export async function engine(options = {}) {
  let now = T0;
  const trail = await UserTrail.open({ clock: () => now, ...options });
  return { trail, sessions: trail.sessions, tracking: trail.tracking, advance: (ms) => (now += ms) };
}

/** The code of the UserTrailError `fn` throws or rejects with, or 'OK'. */
export async function code(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UserTrailError, `not a UserTrailError: ${err}`);
    return err.code;
  }
  return 'OK';
}

/** `[code, field, message]` of the UserTrailError `fn` throws or rejects
 * with (`field` null when it has none); fails the test if `fn` succeeds. */
export async function refusal(fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UserTrailError, `not a UserTrailError: ${err}`);
    return [err.code, err.field ?? null, err.message];
  }
  assert.fail('accepted');
}
