// The file functions the engine's host-file VFS (src/wasm/vfs/hostfs.rs)
// calls for `storage: { file }`, over `node:fs` (Node, Deno). Kept apart from
// index.js so that the Rust tests of the VFS load the same code.

/**
 * The synchronous file functions the engine's file VFS calls, over `node:fs`.
 * One engine holds a database at a time, through `<path>.lock` holding the
 * process id; a lock left by a process that died is taken over.
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
  // A hard link of `from` named `to`, or false when `to` exists. Where the
  // file system has no hard links, `to` is created exclusively and written.
  const link = (from, to) => {
    try {
      fs.linkSync(from, to);
      return true;
    } catch (err) {
      if (err.code === 'EEXIST') return false;
      if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes(err.code)) throw err;
    }
    let fd;
    try {
      fd = fs.openSync(to, O_RDWR | O_CREAT | O_EXCL, 0o644);
    } catch (err) {
      if (err.code === 'EEXIST') return false;
      throw err;
    }
    try {
      fs.writeSync(fd, fs.readFileSync(from));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  };
  // A file's text, or null when it is gone.
  const readText = (path) => {
    try {
      return fs.readFileSync(path, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw err;
    }
  };
  const randomSuffix = () => Math.random().toString(36).slice(2, 10);
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
      // The lock appears whole: written to a name of our own, then linked
      // to its place (a link fails if the name is taken). A lock is never
      // seen empty, so an empty one (an older usertrail died writing it) is
      // a dead holder's.
      const mine = `${lock}.${process.pid}-${randomSuffix()}`;
      const fd = fs.openSync(mine, O_RDWR | O_CREAT | O_EXCL, 0o644);
      try {
        fs.writeSync(fd, String(process.pid));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      try {
        let tookOver = false;
        // Bounded: a name that keeps coming and going is reported held.
        for (let attempt = 0; attempt < 100; attempt++) {
          if (link(mine, lock)) return true;
          const owner = readText(lock);
          if (owner === null) continue; // released meanwhile: try again
          const pid = Number(owner);
          if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && alive(pid))) return false;
          if (tookOver) return false;
          tookOver = true;
          // Its holder died. Several processes may find that at once: each
          // moves the lock aside under a name of its own and looks at what
          // it moved. Only one that moved the dead holder's lock goes on to
          // take the name; one that moved a lock just taken puts it back.
          const aside = `${lock}.${process.pid}-${randomSuffix()}`;
          try {
            fs.renameSync(lock, aside);
          } catch (err) {
            if (err.code === 'ENOENT') continue; // another moved it first
            throw err;
          }
          const moved = readText(aside);
          if (moved !== owner) {
            link(aside, lock);
            ignoreMissing(() => fs.unlinkSync(aside));
            return false;
          }
          ignoreMissing(() => fs.unlinkSync(aside));
        }
        return false;
      } finally {
        ignoreMissing(() => fs.unlinkSync(mine));
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
    unlockFile: (path) => ignoreMissing(() => fs.unlinkSync(`${path}.lock`)),
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
