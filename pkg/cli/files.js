// What the command line knows about a database file on disk: who holds it,
// its schema version, and a consistent copy of its bytes taken while another
// process holds it.

import fs from 'node:fs';
import { dirname } from 'node:path';
import { describeLock, fileHost, lockForeign, lockHolder, lockOwner, releaseLock } from '../node-fs.js';

/** A failure the command line reports with its own exit code. */
export class CliError extends Error {
  constructor(exit, code, message) {
    super(message);
    this.exit = exit;
    this.code = code;
  }
}

/** The exit codes (docs/CLI.md). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, PROBLEMS: 3, BUSY: 4, INTERRUPTED: 130 };

/** The size of `path` if it is a regular file, else 0 (missing, a directory, a FIFO: nothing to recover from). */
const sizeOf = (path) => {
  try {
    const st = fs.statSync(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
};

/**
 * The process id holding `file` (its `.lock`), if it is another process
 * that holds it still as an engine judges it (alive, or of a container
 * sharing the volume and touching its lock lately).
 */
export function holder(file) {
  const pid = lockHolder(fs, file);
  if (pid === null || (pid === process.pid && !lockForeign(fs, file))) return null;
  return pid;
}

/** The 100-byte SQLite header, or null for a file that is not one. */
function header(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(100);
    const n = fs.readSync(fd, b, 0, 100, 0);
    return n === 100 && b.toString('latin1', 0, 16) === 'SQLite format 3\0' ? b : null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The durability that keeps the file's journal mode as it is: `'normal'`
 * for a file in WAL mode (header bytes 18-19 are 2), else `'full'` (a
 * rollback journal), so that a command does not convert the file.
 */
export function durabilityOf(file) {
  return header(file)?.[18] === 2 ? 'normal' : 'full';
}

/** Whether `file` has recovery to do: a non-empty `-wal` or a live journal (its writer died). */
export function needsRecovery(file) {
  return sizeOf(`${file}-wal`) > 0 || journalLive(file);
}

/**
 * The file's schema version as it is on disk (`PRAGMA user_version`), or
 * null for a file that is not SQLite. A file in WAL mode may keep its
 * latest commits in `-wal` (a migration by an engine that was killed
 * before it folded them in): the newest committed copy of the header there
 * is what any open sees, so it wins over the file's own.
 */
export function diskVersion(file) {
  const h = header(file);
  if (!h) return null;
  return walScan(file).header?.readUInt32BE(60) ?? h.readUInt32BE(60);
}

/**
 * How many bytes of `file`'s `-wal` SQLite's recovery would use: its
 * header and the frames up to its last commit that checks out (0 for no
 * usable log). A recovered copy needs no more; a log padded with holes or
 * garbage is not copied whole.
 */
export function walUsableBytes(file) {
  return walScan(file).end;
}

/**
 * The newest committed image of page 1's first 100 bytes in `file`'s
 * `-wal`, or null, read as SQLite's recovery reads the log: its header must
 * be whole (magic, format 3007000, a page size that is a power of two from
 * 512 to 65536, its checksum), frames count while their salts match the
 * header's, their page number is not 0 and their checksums chain, and a
 * page 1 counts once the transaction holding it has its commit frame (and
 * only if it starts like an SQLite database). The log is read a frame at a
 * time, so its size costs time, not memory; anything but a regular file is
 * not read at all (a FIFO would block, a device never end).
 */
function walScan(file) {
  const none = { header: null, end: 0 };
  const path = `${file}-wal`;
  let fd;
  try {
    if (!fs.statSync(path).isFile()) return none;
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return none;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return none;
    const head = Buffer.alloc(32);
    if (fs.readSync(fd, head, 0, 32, 0) !== 32) return none;
    const magic = head.readUInt32BE(0);
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return none;
    if (head.readUInt32BE(4) !== 3007000) return none;
    const pageSize = head.readUInt32BE(8);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return none;
    // The checksums' words are big-endian when the magic's low bit is set.
    const bigEndian = (magic & 1) === 1;
    const sum = (buf, from, bytes, [s0, s1]) => {
      for (let o = from; o < from + bytes; o += 8) {
        const x = bigEndian ? buf.readUInt32BE(o) : buf.readUInt32LE(o);
        const y = bigEndian ? buf.readUInt32BE(o + 4) : buf.readUInt32LE(o + 4);
        s0 = (s0 + x + s1) >>> 0;
        s1 = (s1 + y + s0) >>> 0;
      }
      return [s0, s1];
    };
    let chain = sum(head, 0, 24, [0, 0]);
    if (chain[0] !== head.readUInt32BE(24) || chain[1] !== head.readUInt32BE(28)) return none;
    const frame = Buffer.alloc(24 + pageSize);
    let committed = null;
    let pending = null;
    let end = 0;
    for (let at = 32; fs.readSync(fd, frame, 0, frame.length, at) === frame.length; at += frame.length) {
      if (frame.readUInt32BE(8) !== head.readUInt32BE(16) || frame.readUInt32BE(12) !== head.readUInt32BE(20)) break;
      const page = frame.readUInt32BE(0);
      if (page === 0) break;
      chain = sum(frame, 24, pageSize, sum(frame, 0, 8, chain));
      if (chain[0] !== frame.readUInt32BE(16) || chain[1] !== frame.readUInt32BE(20)) break;
      if (page === 1) pending = Buffer.from(frame.subarray(24, 124));
      if (frame.readUInt32BE(4) !== 0) {
        if (pending) committed = pending;
        pending = null;
        end = at + frame.length;
      }
    }
    const header = committed?.toString('latin1', 0, 16) === 'SQLite format 3\0' ? committed : null;
    return { header, end };
  } catch {
    return none;
  } finally {
    fs.closeSync(fd);
  }
}

/** `file` exists and is a file, or a `CliError` saying so. */
export function mustExist(file) {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    throw new CliError(EXIT.FAILED, 'CANNOT_OPEN', `${file}: no such file`);
  }
  if (!st.isFile()) throw new CliError(EXIT.FAILED, 'CANNOT_OPEN', `${file}: not a file`);
  if (header(file) === null) throw new CliError(EXIT.FAILED, 'NOT_A_DATABASE', `${file}: not an SQLite database`);
}

/** The first bytes of a rollback journal that holds a transaction (SQLite zeroes them once it is done). */
const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);

/** Whether `path` is a regular file (not missing, a directory, a FIFO or a device). */
export function isRegularFile(path) {
  try {
    return fs.statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Whether `file`'s rollback journal holds a transaction: a write is under way (or was cut short). */
export function journalLive(file) {
  let fd;
  try {
    if (!isRegularFile(`${file}-journal`)) return false;
    fd = fs.openSync(`${file}-journal`, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return false;
  }
  try {
    // Checked again once open: it may have been replaced since.
    if (!fs.fstatSync(fd).isFile()) return false;
    const b = Buffer.alloc(8);
    return fs.readSync(fd, b, 0, 8, 0) === 8 && b.equals(JOURNAL_MAGIC);
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * A consistent copy of a file another engine holds: two reads in a row,
 * with no live journal before, between or after them, that are the same
 * bytes. (The header's change counter cannot tell: an engine holds its file
 * under an exclusive lock, and SQLite need not bump the counter at every
 * commit then.) A commit during the first read would leave it a mix of old
 * and new pages, which the second read, all new, differs from. A file in WAL
 * mode keeps its last commits in `-wal`, which a copy of the file alone
 * lacks: refused, with the way to the live engine's data.
 */
export function snapshot(file, pid) {
  if (sizeOf(`${file}-wal`) > 0) {
    throw new CliError(
      EXIT.BUSY,
      'BUSY',
      `${file} is held by a running engine (process ${pid}) in WAL mode: its latest writes are in ${file}-wal, not in the file. ` +
        "Mount the dashboard in that app instead (import { expressDashboard } from 'usertrail/dashboard'), or stop it and run this again.",
    );
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    if (!journalLive(file)) {
      const first = fs.readFileSync(file);
      if (!journalLive(file)) {
        const second = fs.readFileSync(file);
        if (!journalLive(file) && first.equals(second) && header(file) !== null) return first;
      }
    }
    pause(5 + attempt);
  }
  throw new CliError(EXIT.BUSY, 'BUSY', `${file} is being written without pause by process ${pid}: no consistent copy could be read; try again`);
}

/**
 * Removes the files an interrupted write of `path` may leave: its lock
 * (ours) and a journal SQLite is done with; for a copy, the copy and its
 * journals.
 */
export function cleanup(path, { copy = false } = {}) {
  const rm = (p) => {
    try {
      fs.unlinkSync(p);
    } catch {
      // not there
    }
  };
  releaseLock(fs, path);
  // A journal SQLite left zeroed (done with) is only clutter; a live one is kept for the next open to roll back.
  if (!copy && fs.existsSync(`${path}-journal`) && !journalLive(path)) rm(`${path}-journal`);
  if (copy) {
    rm(path);
    rm(`${path}-journal`);
    rm(`${path}-wal`);
  }
}

/**
 * Removes the copies a `vacuum` or `import` of `path` killed part way left
 * beside it (`<path>.vacuum-<pid>`, `<path>.import-<pid>`, with their
 * journals and lock), those of processes no longer alive: each is as large
 * as the database.
 */
export function removeDeadCopies(path) {
  const dir = dirname(path);
  const base = path.slice(dir.length + 1);
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.(vacuum|import)-(\d+)$/.exec(n.startsWith(base) ? n.slice(base.length) : '');
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || alive(pid)) continue;
    const copy = `${dir}/${n}`;
    for (const p of [copy, `${copy}-journal`, `${copy}-wal`]) {
      try {
        fs.unlinkSync(p);
      } catch {
        // not there
      }
    }
    fs.rmSync(`${copy}.lock`, { recursive: true, force: true });
  }
}

/** Whether process `pid` is alive (EPERM: alive, another user's). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** An engine error as a `CliError`: input faults exit 2, the rest 1. */
export function asCliError(err) {
  if (err instanceof CliError) return err;
  const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
  const exit = code === 'BUSY' ? EXIT.BUSY : code === 'INVALID_INPUT' && err?.field ? EXIT.USAGE : EXIT.FAILED;
  const e = new CliError(exit, code, String(err?.message ?? err));
  e.field = err?.field;
  return e;
}

/**
 * Puts the closed database `from` in `path`'s place, holding `path`'s lock
 * from before the old file's journals are removed until after the rename,
 * so that no engine opens either file meanwhile (one that tries gets
 * `BUSY`). The lock may be ours already: a command's worker kept it at its
 * close. The old file's journals must not meet the new one: they would be
 * replayed into it.
 */
export function replaceFile(path, from) {
  if (!holdsLock(path) && !fileHost(fs, dirname).lockFile(path)) {
    const who = describeLock(fs, path) || `held by process ${holder(path) ?? 'unknown'}`;
    throw new CliError(EXIT.BUSY, 'BUSY', `${path} is ${who}: stop it first`);
  }
  try {
    for (const suffix of ['-wal', '-shm', '-journal']) {
      try {
        fs.unlinkSync(`${path}${suffix}`);
      } catch {
        // not there
      }
    }
    fs.renameSync(from, path);
    syncDir(path);
  } finally {
    releaseLock(fs, path);
  }
}

/** Whether `path`'s lock holds this process's id. */
export function holdsLock(path) {
  return lockOwner(fs, path) === process.pid && !lockForeign(fs, path);
}

/** Makes a rename in `path`'s directory durable (Windows journals entries itself). */
function syncDir(path) {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dirname(path), 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
