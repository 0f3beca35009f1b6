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
    lockFile(path, retried = false) {
      const lock = `${path}.lock`;
      try {
        const fd = fs.openSync(lock, O_RDWR | O_CREAT | O_EXCL, 0o644);
        fs.writeSync(fd, String(process.pid));
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return true;
      } catch (err) {
        if (err.code !== 'EEXIST' || retried) throw err;
      }
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
      if (owner === process.pid || (owner && alive(owner))) return false;
      ignoreMissing(() => fs.unlinkSync(lock)); // its holder died
      return host.lockFile(path, true);
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
