// Run by runtimes.test.mjs in Deno with only its folders readable (so not
// /proc) and without --allow-run (so no process can be signalled): `hold`
// opens the file, says so and keeps it until its stdin ends; `open` tries
// to open it and prints what it got. Neither can tell a process id of its
// own namespace from one of another, so a lock touched lately is held.
import { UserTrail } from 'usertrail';

const [mode, file] = Deno.args;
if (mode === 'hold') {
  const trail = await UserTrail.open({ storage: { file } });
  await trail.tracking.track({ name: 'held', userId: 'ann' });
  console.log('ready');
  for await (const _ of Deno.stdin.readable) {
    // until the test ends it
  }
  await trail.close();
} else {
  try {
    (await UserTrail.open({ storage: { file }, busyTimeoutMs: 100 })).close();
    console.log('opened');
  } catch (err) {
    console.log(err.code);
  }
}
