// The file functions the engine's host-file VFS (src/wasm/vfs/hostfs.rs)
// calls for `storage: { file }`, over `node:fs` (Node, Deno). Kept apart from
// index.js so that the Rust tests of the VFS load the same code.

/**
 * The synchronous file functions the engine's file VFS calls, over `node:fs`.
 * One engine holds a database at a time, through `<path>.lock`: a folder
 * holding one file named for its holder's process id, which the holder
 * touches every `lockLease.beatMs`; a lock left by a process that died, or
 * not touched for `lockLease.staleMs`, is taken over, and a holder whose
 * lock was taken over fails its reads and writes from then on.
 */
export function fileHost(fs, dirname) {
  const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
  // Not followed: a link at a lock's or fence's name is not written
  // through (Windows has no such flag; its links need privileges).
  const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
  // Opening a FIFO blocks until a writer comes, for ever: the database, its
  // journal and its -wal are opened without waiting, and must be regular
  // files (no effect on a regular file's reads and writes).
  const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
  const ignoreMissing = (fn) => {
    try {
      fn();
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  };
  const randomSuffix = () => Math.random().toString(36).slice(2, 10);
  // What a process killed while it made its lock left: staging folders,
  // beside `path`'s lock.
  const removeStaging = (path) => {
    const prefix = `${path.slice(dirname(path).length + 1)}.lock.`;
    let names = [];
    try {
      names = fs.readdirSync(dirname(path));
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.startsWith(prefix) || !/^\d+-[a-z0-9]+$/.test(n.slice(prefix.length))) continue;
      const dir = `${dirname(path)}/${n}`;
      // A staging folder lives for the moments its lock takes to make, so
      // one older than the stale age was abandoned. Its process id says
      // nothing: it may be of another process namespace.
      try {
        if (Date.now() - fs.lstatSync(dir).mtimeMs < lockLease.staleMs) continue;
      } catch {
        continue;
      }
      try {
        for (const f of fs.readdirSync(dir)) ignoreMissing(() => fs.unlinkSync(`${dir}/${f}`));
        fs.rmdirSync(dir);
      } catch {
        // not a folder, or taken meanwhile
      }
    }
  };
  // The locks this host holds, by database path: the holder's file in the
  // lock, when it was last touched (monotonic), and whether another process
  // took the lock over meanwhile.
  const held = new Map();
  // The path of each open descriptor, for the check before each read and
  // write.
  const owners = new Map();
  let timer = null;
  // Touches the holder's file, or learns that it is gone: taken down by a
  // process that found it stale (this one was stopped, or its thread
  // blocked, for longer than `staleMs`).
  const beat = (h, now) => {
    h.beatAt = now;
    h.beatWall = Date.now();
    if (h.lost) return;
    const t = h.beatWall / 1000;
    try {
      fs.utimesSync(h.entry, t, t);
    } catch {
      if (!fs.existsSync(h.entry)) h.lost = true;
    }
  };
  const beatAll = () => {
    const now = performance.now();
    for (const h of held.values()) beat(h, now);
    if ([...held.values()].every((h) => h.lost)) stopBeating();
  };
  const stopBeating = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const startBeating = () => {
    if (timer !== null) return;
    timer = setInterval(beatAll, lockLease.beatMs);
    // Never what keeps a process alive (Node's timers; Deno's are numbers).
    if (typeof timer === 'object' && typeof timer.unref === 'function') timer.unref();
    else if (typeof globalThis.Deno?.unrefTimer === 'function') globalThis.Deno.unrefTimer(timer);
  };
  // What stands at the fence's name: `fence` (a regular file of at most 64
  // bytes, what usertrail writes there, or an empty one being written),
  // `none`, or `other` (a link, FIFO, folder, or a larger file: a database
  // someone named so). Judged by `lstat` alone: no read permission needed,
  // nothing followed or waited on.
  const fenceAt = (fence) => {
    let st;
    try {
      st = fs.lstatSync(fence);
    } catch (err) {
      if (err.code === 'ENOENT') return { kind: 'none' };
      throw err;
    }
    if (!st.isFile() || st.size > 64) return { kind: 'other', st };
    // Its text, when this user may read it: what usertrail writes there, or
    // nothing yet (one being written). One it may not read is judged by its
    // shape (another user's fence).
    let text;
    try {
      text = smallText(fs, fence, 64);
    } catch {
      return { kind: 'fence', st };
    }
    if (text === undefined) return { kind: 'none' };
    return text === '' || text === FENCE ? { kind: 'fence', st } : { kind: 'other', st };
  };
  // Puts the fence of a takeover in place (see `lockFile`), made whole or
  // found there and touched, so that its age says it is new. A link, FIFO
  // or socket at its name is removed (the name, not what a link points
  // to); anything else there is not usertrail's to remove: the takeover
  // fails, saying so.
  const placeFence = (lock) => {
    const fence = `${lock}-fence`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(fence, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o644);
        try {
          fs.writeSync(fd, FENCE);
        } finally {
          fs.closeSync(fd);
        }
        return;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
      const at = fenceAt(fence);
      if (at.kind === 'none') continue;
      if (at.kind === 'fence') {
        try {
          const t = Date.now() / 1000;
          fs.utimesSync(fence, t, t);
          return;
        } catch {
          // another user's: made again below, if this one may remove it
          ignoreMissing(() => fs.unlinkSync(fence));
          continue;
        }
      }
      if (at.st.isSymbolicLink() || at.st.isFIFO() || at.st.isSocket()) {
        ignoreMissing(() => fs.unlinkSync(fence));
        continue;
      }
      break;
    }
    throw Object.assign(new Error(`${fence} is not usertrail's: move it (a takeover of the file's lock writes its fence there)`), {
      code: 'EFTYPE',
    });
  };
  // After a lock is taken: the wait a takeover of a stale holder that may
  // be alive asks for (`lockFile`), two beats on this process's clock
  // (another host's may differ), then the fence goes. This call waits if it
  // fenced; another, if the fence was put in place or touched within the
  // stale age (a fence left by processes that all died, or one this user
  // cannot remove, costs the wait only that long). What stands at the name
  // but is not a fence is left alone. It never throws: the lock is this
  // host's by now.
  const waitFence = (lock, fenced) => {
    const fence = `${lock}-fence`;
    let at;
    try {
      at = fenceAt(fence);
    } catch {
      at = { kind: 'fence', st: null };
    }
    if (at.kind !== 'fence') {
      if (fenced) pause(2 * lockLease.beatMs);
      return;
    }
    const age = at.st === null ? 0 : Date.now() - at.st.mtimeMs;
    if (fenced || age < lockLease.staleMs) pause(2 * lockLease.beatMs);
    // Not one another takeover touched meanwhile (this holder was stopped
    // in its wait and is being taken down): that one's next holder waits.
    try {
      const now = fs.lstatSync(fence);
      if (at.st !== null && now.mtimeMs > at.st.mtimeMs) return;
      fs.unlinkSync(fence);
    } catch {
      // gone, or not this user's to remove
    }
  };
  // Before a descriptor's read or write: the lock is still this engine's.
  // Touched here too, so that a long call (a vacuum, a scan) that keeps the
  // timers from running keeps its lock.
  const guard = (fd) => guardPath(owners.get(fd));
  // The same, for a file's path (a database's, or its journal's, or
  // -wal's: opening or removing those after the lock was taken over would
  // meet the other engine's). The database is the file itself when this
  // host holds it (a database may be named `…-wal`), else the file without
  // the suffix.
  const guardPath = (file) => {
    if (file === undefined) return;
    const path = held.has(file) ? file : file.replace(/-(wal|journal)$/, '');
    const h = held.get(path);
    if (h === undefined) return;
    // Either clock: the monotonic one stands still while the host sleeps
    // (a laptop's lid, a paused VM), and the wall clock may be set back.
    const now = performance.now();
    if (now - h.beatAt >= lockLease.beatMs || Math.abs(Date.now() - h.beatWall) >= lockLease.beatMs) beat(h, now);
    if (h.lost) {
      throw Object.assign(
        new Error(
          `another process took ${path}'s lock over, finding it not touched for ${lockLease.staleMs / 1000} s (this process was stopped, or its thread blocked): close this engine and open the file again`,
        ),
        { code: 'ELOCKLOST' },
      );
    }
  };
  const host = {
    open(path, create, exclusive, readOnly) {
      guardPath(path);
      const flags = (readOnly ? O_RDONLY : O_RDWR | (create ? O_CREAT : 0) | (exclusive ? O_EXCL : 0)) | O_NONBLOCK;
      const fd = fs.openSync(path, flags, 0o644);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EFTYPE' });
      }
      owners.set(fd, path);
      return fd;
    },
    read(fd, buf, offset) {
      guard(fd);
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    write(fd, buf, offset) {
      guard(fd);
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
    },
    truncate(fd, size) {
      guard(fd);
      fs.ftruncateSync(fd, size);
    },
    sync(fd) {
      guard(fd);
      fs.fsyncSync(fd);
    },
    size: (fd) => fs.fstatSync(fd).size,
    close(fd) {
      owners.delete(fd);
      fs.closeSync(fd);
    },
    unlink(path) {
      guardPath(path);
      ignoreMissing(() => fs.unlinkSync(path));
    },
    exists: (path) => fs.existsSync(path),
    lockFile(path) {
      const lock = `${path}.lock`;
      // The lock is a directory holding one file named for its holder
      // (`<pid>.<identity>.<nonce>`). It is made whole under a name of its own, then
      // renamed into place: a rename fails when the name holds a lock (a
      // directory that is not empty), so it is never seen half made. A
      // dead holder's lock is taken down by the dead holder's file's own
      // name, then by removing the directory only if it is empty: so a lock
      // a live process has just put in place is never taken down, however
      // many processes find the dead one at once.
      const staging = `${lock}.${process.pid}-${randomSuffix()}`;
      const name = `${process.pid}.${lockIdentity(fs)}.${leaseNonce()}`;
      const mine = `${staging}/${name}`;
      fs.mkdirSync(staging);
      try {
        fs.writeFileSync(mine, String(process.pid));
        // This call fenced a takeover: it waits, whatever the fence's age.
        let fenced = false;
        // Bounded: a name that keeps coming and going is reported held.
        for (let attempt = 0; attempt < 100; attempt++) {
          try {
            fs.renameSync(staging, lock);
            held.set(path, { entry: `${lock}/${name}`, beatAt: performance.now(), beatWall: Date.now(), lost: false });
            startBeating();
            // What processes killed while they made their locks left.
            removeStaging(path);
            waitFence(lock, fenced);
            return true;
          } catch (err) {
            if (!['EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR', 'EPERM', 'EACCES'].includes(err.code)) throw err;
          }
          let st;
          try {
            st = fs.lstatSync(lock);
          } catch (err) {
            if (err.code === 'ENOENT') continue; // released meanwhile
            throw err;
          }
          if (st.isFile()) {
            // A lock file of an older usertrail: its process id. Removing
            // it by name cannot remove a lock of this version (a directory:
            // another process may have put one there since).
            let text;
            try {
              text = smallText(fs, lock, 32);
            } catch (err) {
              if (LOCK_MOVED.includes(err.code)) continue;
              throw err;
            }
            if (text === undefined) continue; // gone, or a lock folder now
            // Anything else at the name (a database someone named so) is
            // not a lock to remove.
            if (text === null || !/^\s*\d*\s*$/.test(text)) {
              throw Object.assign(new Error(`${lock} is neither a lock nor absent`), { code: 'EFTYPE' });
            }
            if (holds(Number(text))) return false;
            try {
              fs.unlinkSync(lock);
            } catch (err) {
              if (!LOCK_MOVED.includes(err.code)) throw err;
            }
            removeStaging(path);
            continue;
          }
          if (!st.isDirectory()) {
            throw Object.assign(new Error(`${lock} is neither a lock nor absent`), { code: 'EFTYPE' });
          }
          let names;
          try {
            names = fs.readdirSync(lock);
          } catch (err) {
            if (err.code === 'ENOENT') continue;
            throw err;
          }
          const verdicts = names.map((n) => judge(fs, lock, n));
          if (verdicts.includes('live')) return false;
          // A stale holder that may be alive, only stopped, may have touched
          // its file again just before it is taken down here; it checks
          // again before its reads and writes a beat later at the latest,
          // and then stops. Whoever takes the lock next (this process, or
          // another that finds it gone first, or takes it from this one if
          // it dies) waits two beats on its own clock: the fence, in place
          // before the lock is taken down, says so.
          // (A holder whose file went meanwhile released its lock, or was
          // taken down by another that fenced it: none here.)
          if (names.some((n, i) => verdicts[i] === 'stale' && maybeAlive(fs, n))) {
            placeFence(lock);
            fenced = true;
          }
          // Its holder died (or a crash left it empty).
          for (const n of names) ignoreMissing(() => fs.unlinkSync(`${lock}/${n}`));
          try {
            fs.rmdirSync(lock);
          } catch (err) {
            if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
          }
          // Touched again once the holder is down: a holder that waited out
          // an earlier fence may have removed it meanwhile.
          if (fenced) placeFence(lock);
          removeStaging(path);
        }
        return false;
      } finally {
        // Gone when renamed into place.
        ignoreMissing(() => fs.unlinkSync(mine));
        ignoreMissing(() => fs.rmdirSync(staging));
      }
    },
    // Who holds `path`'s lock, for a BUSY error's detail.
    describeLock: (path) => describeLock(fs, path),
    // Whether `fd` is the file now at `path` (another may have been renamed
    // over it, or it was removed).
    sameFile(fd, path) {
      const opened = fs.fstatSync(fd);
      let named;
      try {
        named = fs.statSync(path);
      } catch (err) {
        if (err.code === 'ENOENT') return false;
        throw err;
      }
      return opened.ino === named.ino && opened.dev === named.dev;
    },
    // Releases this host's lock on `path` by its own file's name (another
    // process that took it over has another); a lock this host did not take
    // (the CLI's, kept by a worker that closed) by the process id.
    unlockFile(path) {
      const h = held.get(path);
      if (h === undefined) return releaseLock(fs, path);
      held.delete(path);
      if (held.size === 0) stopBeating();
      if (h.lost) return;
      ignoreMissing(() => fs.unlinkSync(h.entry));
      try {
        fs.rmdirSync(`${path}.lock`);
      } catch (err) {
        if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
      }
    },
    // Makes a created or deleted directory entry durable. Windows cannot
    // open a directory for this; its file system journals entries itself.
    syncDir(path) {
      if (process.platform === 'win32') return;
      const fd = fs.openSync(dirname(path), O_RDONLY);
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
  return host;
}

/**
 * How often a lock's holder touches its file (`beatMs`), and how long a
 * file not touched means its holder is gone (`staleMs`): a holder of
 * another container or host, a terminated worker thread, or a process
 * stopped for longer. The stale age is the longest a holder may go without
 * a read or write of its files while its thread is blocked (a synchronous
 * call of the program's own); clocks of hosts sharing a file over a network
 * must agree to well within it. Changed only by tests.
 */
export const lockLease = { beatMs: 5_000, staleMs: 30_000 };

/**
 * The text of a small regular file at `path`, opened without following a
 * link or waiting on a FIFO: undefined when nothing is there (or a folder:
 * a lock folder may have just replaced an older lock file; look again),
 * null when it is something else, or larger than `max` bytes.
 */
function smallText(fs, path, max) {
  const { O_RDONLY } = fs.constants;
  let fd;
  try {
    fd = fs.openSync(path, O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if (['ENOENT', 'EISDIR'].includes(err.code)) return undefined;
    if (['ELOOP', 'ENXIO', 'EMLINK', 'EFTYPE'].includes(err.code)) return null;
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) return undefined;
    if (!st.isFile() || st.size > max) return null;
    const buf = new Uint8Array(max);
    return new TextDecoder().decode(buf.subarray(0, fs.readSync(fd, buf, 0, max, 0)));
  } finally {
    fs.closeSync(fd);
  }
}

/** What a takeover's fence holds (see `lockFile`). */
const FENCE = 'usertrail lock fence\n';

/** Blocks this thread for `ms` (a lock's takeover, rare: see `lockFile`). */
function pause(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The nonce of a lock file of a holder that touches it: 12 hex digits after
 * `r`. Earlier versions' nonces have at most 8 characters.
 */
function leaseNonce() {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return `r${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Whether a lock file name is of a holder that touches it (`leaseNonce`). */
function leased(name) {
  return /^\d+\.[a-z0-9-]+\.r[0-9a-f]{12}$/.test(name);
}

/**
 * What reading or removing an older usertrail's lock file meets when the
 * file went meanwhile, or a lock folder took its place (`EPERM`: macOS's
 * `unlink` of a folder).
 */
const LOCK_MOVED = ['ENOENT', 'EISDIR', 'EPERM'];

/** The process id a lock file name gives (`<pid>.<identity>.<nonce>`), or NaN. */
function pidOf(name) {
  const m = /^(\d+)\.[a-z0-9-]+\.[a-z0-9]+$/.exec(name);
  return m ? Number(m[1]) : NaN;
}

let identity = null;

/**
 * Where process ids mean what they mean here: this boot of this host and
 * this process namespace (Linux: `boot_id` and `/proc/self/ns/pid`), so
 * that a lock of a container sharing the volume is not judged by a pid of
 * this one's. `local` where there is no `/proc` (one namespace per host);
 * `unknown` on Linux when `/proc` cannot be read (then no process id is
 * judged: a lock is held while it is touched).
 */
export function lockIdentity(fs) {
  if (identity === null) {
    try {
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').replace(/[^0-9a-f]/g, '').slice(0, 12);
      const ns = fs.readlinkSync('/proc/self/ns/pid').replace(/[^0-9]/g, '');
      identity = boot && ns ? `${boot}-${ns}` : 'unknown';
    } catch {
      // Linux whose /proc cannot be read (Deno without the permission):
      // process ids cannot be judged, as of another namespace.
      identity = process.platform === 'linux' ? 'unknown' : 'local';
    }
  }
  return identity;
}

/** Whether a lock file name is of another host or process namespace. */
function foreign(fs, name) {
  const m = /^\d+\.([a-z0-9-]+)\.[a-z0-9]+$/.exec(name);
  return m !== null && m[1] !== lockIdentity(fs);
}

/** Whether process `pid` is alive (or may be: see below). */
function alive(pid) {
  // No process has such an id (a file of digits that is no lock).
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // Only "no such process" is dead: EPERM is another user's, and a host
    // that may not signal (Deno without --allow-run) cannot tell.
    return err.code !== 'ESRCH';
  }
}

/**
 * Whether a lock naming `pid` (of this host and namespace) is held: by this
 * process (one engine a file), or by another that is alive.
 */
function holds(pid) {
  return Number.isInteger(pid) && pid > 0 && (pid === process.pid || alive(pid));
}

/**
 * Whether the holder the file `n` in the lock folder `lock` names holds it
 * still. A holder that touches its file (this version's, `leased`) holds it
 * while the file was touched within `staleMs`, whoever it is; past that it
 * is taken over, whether it died, was stopped, or is a thread of this
 * process that was terminated. A fresh holder of this process, or of
 * another host or process namespace (a container sharing the volume),
 * holds it: its process id cannot be looked at from here. A fresh holder
 * of another process here holds it while that process is alive. A holder
 * of an earlier version, that does not touch its file, is judged as that
 * version judged it: by its process id, and held when foreign.
 */
function live(fs, lock, n) {
  return judge(fs, lock, n) === 'live';
}

/**
 * What the holder the file `n` in the lock folder `lock` names is: `live`
 * (see `live`), `stale` (a holder of this version not touched for
 * `staleMs`: it may be alive, only stopped), `gone` (its file went
 * meanwhile: released, or taken down by another), or `dead`.
 */
function judge(fs, lock, n) {
  if (!leased(n)) return holds(pidOf(n)) || foreign(fs, n) ? 'live' : 'dead';
  let st;
  try {
    st = fs.lstatSync(`${lock}/${n}`);
  } catch (err) {
    if (err.code === 'ENOENT') return 'gone';
    throw err;
  }
  // Stale; or touched by a clock far ahead (see `lockLease`).
  const age = Date.now() - st.mtimeMs;
  if (age >= lockLease.staleMs || age <= -lockLease.staleMs) return 'stale';
  return maybeAlive(fs, n) ? 'live' : 'dead';
}

/**
 * Whether the holder a lock file of this version names may be alive: it is
 * this process, or of another host or process namespace, or its identity
 * cannot be told here (`unknown`), or its process is alive.
 */
function maybeAlive(fs, n) {
  const pid = pidOf(n);
  return pid === process.pid || foreign(fs, n) || lockIdentity(fs) === 'unknown' || (pid > 0 && alive(pid));
}

/**
 * The process id of the holder of `path`'s lock, while it holds it as an
 * engine judges it (one that would be taken over does not); null when
 * there is none.
 */
export function lockHolder(fs, path) {
  const lock = `${path}.lock`;
  try {
    if (fs.lstatSync(lock).isFile()) {
      const pid = Number(smallText(fs, lock, 32) ?? NaN);
      return holds(pid) ? pid : null;
    }
    const n = fs.readdirSync(lock).find((name) => live(fs, lock, name));
    return n === undefined ? null : pidOf(n);
  } catch {
    return null;
  }
}

/**
 * Who holds `path`'s lock, in words, for a BUSY error: the process, where
 * it runs, and (for a holder that touches its lock) how long ago it did and
 * when its lock would be taken over; '' when no one does.
 */
export function describeLock(fs, path) {
  const lock = `${path}.lock`;
  try {
    if (fs.lstatSync(lock).isFile()) {
      const text = smallText(fs, lock, 32);
      if (typeof text !== 'string' || !/^\s*\d*\s*$/.test(text)) return '';
      return `held by process ${text.trim()} on this host (a lock file of an earlier usertrail)`;
    }
    const names = fs.readdirSync(lock);
    const n = names.find((name) => live(fs, lock, name)) ?? names[0];
    if (n === undefined) return '';
    const pid = Number.isNaN(pidOf(n)) ? '(unknown)' : pidOf(n);
    const who = foreign(fs, n)
      ? `process ${pid} of another container or host`
      : lockIdentity(fs) === 'unknown'
        ? `process ${pid} (of this host or a container: /proc cannot be read here)`
        : pid === process.pid
          ? `this process (another engine in it, or a worker thread's)`
          : `process ${pid} on this host`;
    let touched = '';
    if (leased(n)) {
      const age = Math.max(0, Math.round((Date.now() - fs.lstatSync(`${lock}/${n}`).mtimeMs) / 1000));
      touched = `; it touched its lock ${age} s ago, and one not touched for ${lockLease.staleMs / 1000} s is taken over`;
    } else if (foreign(fs, n)) {
      touched = `; an earlier usertrail's lock, which it does not touch: if that process is gone, remove ${lock}`;
    }
    return `held by ${who}${touched}`;
  } catch {
    return '';
  }
}

/**
 * The process id `path`'s lock names (a lock of an older usertrail: the
 * file's text), alive or not; null when there is none.
 */
export function lockOwner(fs, path) {
  const lock = `${path}.lock`;
  try {
    if (fs.lstatSync(lock).isFile()) {
      const pid = Number(smallText(fs, lock, 32) ?? NaN);
      return Number.isInteger(pid) && pid > 0 ? pid : NaN;
    }
    const names = fs.readdirSync(lock);
    return names.length ? pidOf(names[0]) : NaN;
  } catch {
    return null;
  }
}

/** Whether `path`'s lock is held from another host or process namespace. */
export function lockForeign(fs, path) {
  try {
    return fs.readdirSync(`${path}.lock`).some((n) => foreign(fs, n));
  } catch {
    return false;
  }
}

/** Removes `path`'s lock if this process holds it. */
export function releaseLock(fs, path) {
  const lock = `${path}.lock`;
  let names;
  try {
    names = fs.readdirSync(lock);
  } catch (err) {
    if (err.code === 'ENOTDIR' && lockOwner(fs, path) === process.pid) fs.unlinkSync(lock);
    return;
  }
  for (const n of names) {
    if (pidOf(n) !== process.pid || foreign(fs, n)) continue;
    try {
      fs.unlinkSync(`${lock}/${n}`);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  try {
    fs.rmdirSync(lock);
  } catch (err) {
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
  }
}

/**
 * The path an engine opens `path` by: absolute, with symbolic links
 * resolved (of the file, or of its directory when the file does not exist
 * yet), so that two names for one file share its lock and its journal.
 * (Hard links stay apart: they are not told from separate files by name.)
 */
export function realFile(fs, path, { resolve, dirname, basename, join }) {
  const abs = resolve(path);
  try {
    return fs.realpathSync(abs);
  } catch {
    try {
      return join(fs.realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}
