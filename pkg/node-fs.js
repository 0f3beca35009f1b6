// The file functions the engine's host-file VFS (src/wasm/vfs/hostfs.rs)
// calls for `storage: { file }`, over `node:fs` (Node, Deno). Kept apart from
// index.js so that the Rust tests of the VFS load the same code.

/**
 * The synchronous file functions the engine's file VFS calls, over `node:fs`.
 * One engine holds a database at a time, through `<path>.lock`: a folder
 * holding one file named for its holder's process id; a lock left by a
 * process that died is taken over.
 */
export function fileHost(fs, dirname) {
  const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL } = fs.constants;
  // Opening a FIFO blocks until a writer comes, for ever: the database, its
  // journal and its -wal are opened without waiting, and must be regular
  // files (no effect on a regular file's reads and writes).
  const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return err.code === 'EPERM';
    }
  };
  const ignoreMissing = (fn) => {
    try {
      fn();
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  };
  const randomSuffix = () => Math.random().toString(36).slice(2, 10);
  // Whether a lock naming `pid` is held: by this process (one engine a
  // file), or by another that is alive.
  const holds = (pid) => Number.isInteger(pid) && pid > 0 && (pid === process.pid || alive(pid));
  // What a process killed while it made its lock left: staging folders of
  // dead processes, beside `path`'s lock.
  const removeStaging = (path) => {
    const prefix = `${path.slice(dirname(path).length + 1)}.lock.`;
    let names = [];
    try {
      names = fs.readdirSync(dirname(path));
    } catch {
      return;
    }
    for (const n of names) {
      const m = n.startsWith(prefix) ? /^(\d+)-[a-z0-9]+$/.exec(n.slice(prefix.length)) : null;
      if (!m || holds(Number(m[1]))) continue;
      const dir = `${dirname(path)}/${n}`;
      try {
        for (const f of fs.readdirSync(dir)) ignoreMissing(() => fs.unlinkSync(`${dir}/${f}`));
        fs.rmdirSync(dir);
      } catch {
        // not a folder, or taken meanwhile
      }
    }
  };
  const host = {
    open(path, create, exclusive, readOnly) {
      const flags = (readOnly ? O_RDONLY : O_RDWR | (create ? O_CREAT : 0) | (exclusive ? O_EXCL : 0)) | O_NONBLOCK;
      const fd = fs.openSync(path, flags, 0o644);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EFTYPE' });
      }
      return fd;
    },
    read(fd, buf, offset) {
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    write(fd, buf, offset) {
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
    },
    truncate: (fd, size) => fs.ftruncateSync(fd, size),
    sync: (fd) => fs.fsyncSync(fd),
    size: (fd) => fs.fstatSync(fd).size,
    close: (fd) => fs.closeSync(fd),
    unlink: (path) => ignoreMissing(() => fs.unlinkSync(path)),
    exists: (path) => fs.existsSync(path),
    lockFile(path) {
      const lock = `${path}.lock`;
      // The lock is a directory holding one file named for its holder
      // (`<pid>.<nonce>`). It is made whole under a name of its own, then
      // renamed into place: a rename fails when the name holds a lock (a
      // directory that is not empty), so it is never seen half made. A
      // dead holder's lock is taken down by the dead holder's file's own
      // name, then by removing the directory only if it is empty: so a lock
      // a live process has just put in place is never taken down, however
      // many processes find the dead one at once.
      const staging = `${lock}.${process.pid}-${randomSuffix()}`;
      const mine = `${staging}/${process.pid}.${lockIdentity(fs)}.${randomSuffix()}`;
      fs.mkdirSync(staging);
      try {
        fs.writeFileSync(mine, String(process.pid));
        // Bounded: a name that keeps coming and going is reported held.
        for (let attempt = 0; attempt < 100; attempt++) {
          try {
            fs.renameSync(staging, lock);
            // What processes killed while they made their locks left.
            removeStaging(path);
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
              text = fs.readFileSync(lock, 'utf8');
            } catch (err) {
              if (LOCK_MOVED.includes(err.code)) continue;
              throw err;
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
          // A holder of another host or process namespace (a container
          // sharing the volume) cannot be seen alive or dead from here: held.
          if (names.some((n) => holds(pidOf(n)) || foreign(fs, n))) return false;
          // Its holder died (or a crash left it empty).
          for (const n of names) ignoreMissing(() => fs.unlinkSync(`${lock}/${n}`));
          try {
            fs.rmdirSync(lock);
          } catch (err) {
            if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
          }
          removeStaging(path);
        }
        return false;
      } finally {
        // Gone when renamed into place.
        ignoreMissing(() => fs.unlinkSync(mine));
        ignoreMissing(() => fs.rmdirSync(staging));
      }
    },
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
    unlockFile: (path) => releaseLock(fs, path),
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
 * this one's. `local` where there is no `/proc` (one namespace per host).
 */
export function lockIdentity(fs) {
  if (identity === null) {
    try {
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').replace(/[^0-9a-f]/g, '').slice(0, 12);
      const ns = fs.readlinkSync('/proc/self/ns/pid').replace(/[^0-9]/g, '');
      identity = boot && ns ? `${boot}-${ns}` : 'local';
    } catch {
      identity = 'local';
    }
  }
  return identity;
}

/** Whether a lock file name is of another host or process namespace. */
function foreign(fs, name) {
  const m = /^\d+\.([a-z0-9-]+)\.[a-z0-9]+$/.exec(name);
  return m !== null && m[1] !== lockIdentity(fs);
}

/**
 * The process id `path`'s lock names (a lock of an older usertrail: the
 * file's text), alive or not; null when there is none.
 */
export function lockOwner(fs, path) {
  const lock = `${path}.lock`;
  try {
    if (fs.lstatSync(lock).isFile()) {
      const pid = Number(fs.readFileSync(lock, 'utf8'));
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
