/**
 * A minimal WASI preview1 runner: enough of `wasi_snapshot_preview1` to run a
 * command-line C program built with clang and wasi-libc, inside a sandbox.
 * The tests, the bench and the examples run the C programs under `wasm/c/`
 * with it, the same way on Deno, Bun and Node.
 *
 * Owns: the program's view of the world. Arguments and environment come from
 * the options; standard output and error are captured into byte arrays;
 * standard input is read from a given buffer; a few read-only files live in
 * memory under one preopened directory "/"; clocks and randomness come from
 * the runtime. Everything else (writing files, sockets, polling) answers
 * `ENOSYS`, `EBADF` or `ENOTCAPABLE`, as a sandbox would: the program sees an
 * error and decides what to do, and nothing outside this object is touched.
 * `proc_exit` ends the run with the program's exit code.
 *
 * It is not a complete WASI: it is what the programs here need, written so
 * that a program asking for more gets a clean error instead of a crash.
 *
 * @example Run a command
 * ```ts ignore
 * import { Wasi } from "./wasi.ts";
 *
 * const module = await WebAssembly.compile(bytes);
 * const wasi = new Wasi({ args: ["cfrac", "41757646344123832613190542166099121"] });
 * const instance = await WebAssembly.instantiate(module, wasi.imports(module));
 * const code = wasi.start(instance);
 * console.log(code, wasi.stdoutText());
 * ```
 * @module
 */

/** What the program is given. */
export interface WasiOptions {
  /** argv, program name first. Default `["program"]`. */
  args?: readonly string[];
  /** Environment variables. Default none. */
  env?: Readonly<Record<string, string>>;
  /** Standard input. Default empty. */
  stdin?: Uint8Array;
  /** Read-only files, by name, in the preopened directory "/" (open "name" or "/name"). */
  files?: Readonly<Record<string, Uint8Array>>;
  /**
   * What every clock reads, in nanoseconds. Default: the wall clock for the
   * realtime clock, `performance.now()` for the others. A constant makes a
   * program that prints its run time print the same bytes on every run.
   */
  clock?: () => bigint;
}

/** Thrown by `proc_exit` to unwind the program's frames; {@linkcode Wasi.start} catches it. */
export class WasiExit extends Error {
  /** The program's exit code. */
  readonly code: number;
  constructor(code: number) {
    super(`the program exited with code ${code}`);
    this.code = code;
  }
}

// WASI errno values (preview1).
const SUCCESS = 0;
const EBADF = 8;
const EINVAL = 28;
const EISDIR = 31;
const ENOENT = 44;
const ENOSYS = 52;
const ENOTDIR = 54;
const ESPIPE = 70;
const ENOTCAPABLE = 76;

// File types of fd_fdstat_get / fd_filestat_get.
const FILETYPE_UNKNOWN = 0;
const FILETYPE_DIRECTORY = 3;
const FILETYPE_REGULAR_FILE = 4;

/** Every right: the sandbox refuses what it cannot do when it is tried, not through rights. */
const ALL_RIGHTS = 0x1fffffffn;
/** path_open's oflags that would create or truncate a file. */
const OFLAGS_CREATE_OR_TRUNCATE = 1 | 8;
/** path_open's oflags asking for a directory. */
const OFLAGS_DIRECTORY = 2;
/** Rights that write. */
const RIGHTS_WRITE = 1n << 6n | 1n << 0n; // fd_write, fd_datasync

/** The preopened directory's descriptor (wasi-libc looks for preopens from 3). */
const ROOT_FD = 3;

/** An open in-memory file. */
interface OpenFile {
  data: Uint8Array;
  position: number;
}

/** A WASI preview1 environment for one run of one program. */
export class Wasi {
  /** What the program wrote to standard output. */
  get stdout(): Uint8Array {
    return join(this.#out[1]);
  }
  /** What the program wrote to standard error. */
  get stderr(): Uint8Array {
    return join(this.#out[2]);
  }

  readonly #args: Uint8Array[];
  readonly #env: Uint8Array[];
  readonly #stdin: Uint8Array;
  #stdinPosition = 0;
  readonly #files: Map<string, Uint8Array>;
  readonly #open = new Map<number, OpenFile>();
  #nextFd = ROOT_FD + 1;
  readonly #out: Record<1 | 2, Uint8Array[]> = { 1: [], 2: [] };
  #memory: WebAssembly.Memory | null = null;
  readonly #clock: (() => bigint) | undefined;

  constructor(options: WasiOptions = {}) {
    const encoder = new TextEncoder();
    this.#args = (options.args ?? ["program"]).map((arg) => encoder.encode(arg + "\0"));
    this.#env = Object.entries(options.env ?? {}).map(([name, value]) => encoder.encode(`${name}=${value}\0`));
    this.#stdin = options.stdin ?? new Uint8Array(0);
    this.#files = new Map(Object.entries(options.files ?? {}));
    this.#clock = options.clock;
  }

  /** Standard output decoded as UTF-8. */
  stdoutText(): string {
    return new TextDecoder().decode(this.stdout);
  }

  /** Standard error decoded as UTF-8. */
  stderrText(): string {
    return new TextDecoder().decode(this.stderr);
  }

  /**
   * The `wasi_snapshot_preview1` import object. Given the module, every WASI
   * function it imports that this runner does not implement answers ENOSYS,
   * so any wasi-libc program links.
   */
  imports(module?: WebAssembly.Module): { wasi_snapshot_preview1: Record<string, (...args: never[]) => number | void> } {
    const functions: Record<string, (...args: never[]) => number | void> = this.#functions();
    if (module !== undefined) {
      for (const entry of WebAssembly.Module.imports(module)) {
        if (entry.module === "wasi_snapshot_preview1" && entry.kind === "function" && !(entry.name in functions)) {
          functions[entry.name] = () => ENOSYS;
        }
      }
    }
    return { wasi_snapshot_preview1: functions };
  }

  /**
   * Runs the program: calls the instance's `_start` with its exported
   * `memory`, and returns the exit code (0 when `_start` returns). Errors
   * other than the program's exit (a trap, an error thrown by an import)
   * propagate.
   */
  start(instance: WebAssembly.Instance): number {
    const exports = instance.exports as { memory?: WebAssembly.Memory; _start?: () => void };
    if (!(exports.memory instanceof WebAssembly.Memory)) throw new TypeError("the module exports no memory");
    if (typeof exports._start !== "function") throw new TypeError("the module exports no _start (not a WASI command)");
    this.#memory = exports.memory;
    try {
      exports._start();
      return 0;
    } catch (error) {
      if (error instanceof WasiExit) return error.code;
      throw error;
    }
  }

  /** A fresh view: the program may have grown its memory since the last call. */
  #view(): DataView {
    if (this.#memory === null) throw new Error("WASI called before start()");
    return new DataView(this.#memory.buffer);
  }

  #bytes(): Uint8Array {
    return new Uint8Array(this.#memory!.buffer);
  }

  /** Writes a list of NUL-terminated strings and the pointers to them (args_get, environ_get). */
  #writeList(list: Uint8Array[], pointers: number, buffer: number): number {
    const view = this.#view();
    const bytes = this.#bytes();
    let at = buffer >>> 0;
    for (let i = 0; i < list.length; i++) {
      view.setUint32((pointers >>> 0) + 4 * i, at, true);
      bytes.set(list[i], at);
      at += list[i].length;
    }
    return SUCCESS;
  }

  #writeSizes(list: Uint8Array[], countPointer: number, sizePointer: number): number {
    const view = this.#view();
    view.setUint32(countPointer >>> 0, list.length, true);
    view.setUint32(sizePointer >>> 0, list.reduce((sum, item) => sum + item.length, 0), true);
    return SUCCESS;
  }

  /** Reads into the iovecs from `source` at `position`; returns the bytes read. */
  #readInto(iovs: number, count: number, source: Uint8Array, position: number): number {
    const view = this.#view();
    const bytes = this.#bytes();
    let total = 0;
    for (let i = 0; i < count; i++) {
      const base = view.getUint32((iovs >>> 0) + 8 * i, true);
      const length = view.getUint32((iovs >>> 0) + 8 * i + 4, true);
      const chunk = source.subarray(position + total, position + total + length);
      bytes.set(chunk, base);
      total += chunk.length;
      if (chunk.length < length) break;
    }
    return total;
  }

  #functions(): Record<string, (...args: never[]) => number | void> {
    return {
      args_sizes_get: (countPointer: number, sizePointer: number) => this.#writeSizes(this.#args, countPointer, sizePointer),
      args_get: (pointers: number, buffer: number) => this.#writeList(this.#args, pointers, buffer),
      environ_sizes_get: (countPointer: number, sizePointer: number) => this.#writeSizes(this.#env, countPointer, sizePointer),
      environ_get: (pointers: number, buffer: number) => this.#writeList(this.#env, pointers, buffer),
      clock_res_get: (_id: number, resultPointer: number) => {
        this.#view().setBigUint64(resultPointer >>> 0, 1000n, true);
        return SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, resultPointer: number) => {
        // 0 is the wall clock; the monotonic and CPU-time clocks are read from performance.now().
        const nanoseconds = this.#clock !== undefined
          ? this.#clock()
          : id === 0
          ? BigInt(Date.now()) * 1_000_000n
          : BigInt(Math.round(performance.now() * 1e6));
        this.#view().setBigUint64(resultPointer >>> 0, nanoseconds, true);
        return SUCCESS;
      },
      random_get: (pointer: number, length: number) => {
        const bytes = this.#bytes().subarray(pointer >>> 0, (pointer >>> 0) + (length >>> 0));
        // getRandomValues fills at most 64 KiB a call, and not a view of a shared buffer.
        for (let at = 0; at < bytes.length; at += 65536) {
          const chunk = new Uint8Array(Math.min(65536, bytes.length - at));
          crypto.getRandomValues(chunk);
          bytes.set(chunk, at);
        }
        return SUCCESS;
      },
      proc_exit: (code: number) => {
        throw new WasiExit(code);
      },
      sched_yield: () => SUCCESS,
      fd_write: (fd: number, iovs: number, count: number, writtenPointer: number) => {
        if (fd !== 1 && fd !== 2) return this.#open.has(fd) || fd === 0 || fd === ROOT_FD ? ENOTCAPABLE : EBADF;
        const view = this.#view();
        const bytes = this.#bytes();
        let total = 0;
        for (let i = 0; i < count; i++) {
          const base = view.getUint32((iovs >>> 0) + 8 * i, true);
          const length = view.getUint32((iovs >>> 0) + 8 * i + 4, true);
          this.#out[fd].push(bytes.slice(base, base + length));
          total += length;
        }
        view.setUint32(writtenPointer >>> 0, total, true);
        return SUCCESS;
      },
      fd_read: (fd: number, iovs: number, count: number, readPointer: number) => {
        let read: number;
        if (fd === 0) {
          read = this.#readInto(iovs, count, this.#stdin, this.#stdinPosition);
          this.#stdinPosition += read;
        } else {
          const file = this.#open.get(fd);
          if (file === undefined) return fd === 1 || fd === 2 || fd === ROOT_FD ? ENOTCAPABLE : EBADF;
          read = this.#readInto(iovs, count, file.data, file.position);
          file.position += read;
        }
        this.#view().setUint32(readPointer >>> 0, read, true);
        return SUCCESS;
      },
      fd_seek: (fd: number, offset: bigint, whence: number, resultPointer: number) => {
        const file = this.#open.get(fd);
        if (file === undefined) return fd <= ROOT_FD ? ESPIPE : EBADF;
        const from = whence === 0 ? 0 : whence === 1 ? file.position : whence === 2 ? file.data.length : -1;
        const position = from + Number(offset);
        if (from < 0 || position < 0) return EINVAL;
        file.position = position;
        this.#view().setBigUint64(resultPointer >>> 0, BigInt(position), true);
        return SUCCESS;
      },
      fd_tell: (fd: number, resultPointer: number) => {
        const file = this.#open.get(fd);
        if (file === undefined) return fd <= ROOT_FD ? ESPIPE : EBADF;
        this.#view().setBigUint64(resultPointer >>> 0, BigInt(file.position), true);
        return SUCCESS;
      },
      fd_close: (fd: number) => {
        if (this.#open.delete(fd) || fd <= 2) return SUCCESS;
        return EBADF;
      },
      fd_fdstat_get: (fd: number, statPointer: number) => {
        let type: number;
        if (fd <= 2) type = FILETYPE_UNKNOWN; // a pipe: neither a terminal nor seekable, so stdio buffers fully
        else if (fd === ROOT_FD) type = FILETYPE_DIRECTORY;
        else if (this.#open.has(fd)) type = FILETYPE_REGULAR_FILE;
        else return EBADF;
        const view = this.#view();
        const at = statPointer >>> 0;
        view.setUint8(at, type);
        view.setUint16(at + 2, 0, true);
        view.setBigUint64(at + 8, ALL_RIGHTS, true);
        view.setBigUint64(at + 16, ALL_RIGHTS, true);
        return SUCCESS;
      },
      fd_fdstat_set_flags: (fd: number) => (fd <= 2 || this.#open.has(fd) ? SUCCESS : EBADF),
      fd_filestat_get: (fd: number, statPointer: number) => {
        const file = this.#open.get(fd);
        if (file === undefined) return fd <= ROOT_FD ? ENOTCAPABLE : EBADF;
        const view = this.#view();
        const at = statPointer >>> 0;
        for (let i = 0; i < 64; i += 8) view.setBigUint64(at + i, 0n, true);
        view.setUint8(at + 16, FILETYPE_REGULAR_FILE);
        view.setBigUint64(at + 24, 1n, true);
        view.setBigUint64(at + 32, BigInt(file.data.length), true);
        return SUCCESS;
      },
      fd_prestat_get: (fd: number, prestatPointer: number) => {
        if (fd !== ROOT_FD) return EBADF; // the end of the preopens
        const view = this.#view();
        view.setUint32(prestatPointer >>> 0, 0, true); // tag 0: a directory
        view.setUint32((prestatPointer >>> 0) + 4, 1, true); // its name "/"
        return SUCCESS;
      },
      fd_prestat_dir_name: (fd: number, pathPointer: number, length: number) => {
        if (fd !== ROOT_FD) return EBADF;
        if (length < 1) return EINVAL;
        this.#bytes()[pathPointer >>> 0] = 0x2f; // "/"
        return SUCCESS;
      },
      path_open: (
        dirFd: number,
        _dirFlags: number,
        pathPointer: number,
        pathLength: number,
        openFlags: number,
        rightsBase: bigint,
        _rightsInheriting: bigint,
        _fdFlags: number,
        fdPointer: number,
      ) => {
        if (dirFd !== ROOT_FD) return this.#open.has(dirFd) ? ENOTDIR : EBADF;
        const path = new TextDecoder().decode(this.#bytes().subarray(pathPointer >>> 0, (pathPointer >>> 0) + (pathLength >>> 0)));
        const name = path.replace(/^\/+/, "").replace(/^\.\//, "");
        if (name === "" || name === ".") return EISDIR;
        const data = this.#files.get(name);
        if ((openFlags & OFLAGS_CREATE_OR_TRUNCATE) !== 0 || (BigInt(rightsBase) & RIGHTS_WRITE) !== 0n) {
          return ENOTCAPABLE; // a read-only sandbox
        }
        if (data === undefined) return ENOENT;
        if ((openFlags & OFLAGS_DIRECTORY) !== 0) return ENOTDIR;
        const fd = this.#nextFd++;
        this.#open.set(fd, { data, position: 0 });
        this.#view().setUint32(fdPointer >>> 0, fd, true);
        return SUCCESS;
      },
    };
  }
}

function join(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
