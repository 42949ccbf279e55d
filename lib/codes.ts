// Generated from crates/error/src/lib.rs (the one table of error codes) by
// `cargo run -p sole-error --example codes_ts`. Do not edit: edit the table.

/** Every `code` sole's own errors carry, and the errno names of OS failures. */
export const Code = {
  /** Another live process holds the lock or pidfile (`EHELD`). */
  EHELD: 'EHELD',
  /** A bounded wait ran out (`ETIMEDOUT`). */
  ETIMEDOUT: 'ETIMEDOUT',
  /** A wait was cancelled by its caller (`ECANCELED`; the TS layer turns it into `AbortError`). */
  ECANCELED: 'ECANCELED',
  /** A blocking wait would wait for a lock the same thread holds (`EDEADLK`). */
  EDEADLK: 'EDEADLK',
  /** The path is a symbolic link; sole refuses to follow it (`ESYMLINK`). */
  ESYMLINK: 'ESYMLINK',
  /** The path exists but is not a regular file (`ENOTREG`). */
  ENOTREG: 'ENOTREG',
  /** A pid that is not an integer in 1..=2^31-1 (`EINVALIDPID`). */
  EINVALIDPID: 'EINVALIDPID',
  /** A held lock whose holder cannot be named (`EUNKNOWNHOLDER`): the process that locked it exited while a forked child kept the descriptor (see `sole_lock::holder`). */
  EUNKNOWNHOLDER: 'EUNKNOWNHOLDER',
  /** No live process has that pid, or the process a handle refers to has exited (`ENOTFOUND`). */
  ENOTFOUND: 'ENOTFOUND',
  /** The recorded identity is from another boot (`EBOOTID`). */
  EBOOTID: 'EBOOTID',
  /** A process has the pid but started at another time: the pid was reused (`ESTARTTIME`). */
  ESTARTTIME: 'ESTARTTIME',
  /** The process runs another executable than recorded (`EEXEPATH`). */
  EEXEPATH: 'EEXEPATH',
  /** The process's executable has another SHA-256 than recorded (`EEXEHASH`). */
  EEXEHASH: 'EEXEHASH',
  /** A name is already registered (`EDUPLICATE`). */
  EDUPLICATE: 'EDUPLICATE',
  /** A write rule overlaps one owned by another allocation (`ECONFLICT`). */
  ECONFLICT: 'ECONFLICT',
  /** A delegated rule is not inside the spawner's effective write scope (`ENOTSUBSET`). */
  ENOTSUBSET: 'ENOTSUBSET',
  /** No allocation has that name (`EUNKNOWN`). */
  EUNKNOWN: 'EUNKNOWN',
  /** A data file that does not parse as what sole wrote (`ECORRUPT`); never overwritten. */
  ECORRUPT: 'ECORRUPT',
  /** A file or directory whose owner or permissions would let another user tamper with it (`EINSECURE`). */
  EINSECURE: 'EINSECURE',
  /** An argument or option from the caller that has the wrong type or value (`EINVAL`, with `argument` naming it). Spelled like the errno so callers that test `EINVAL` keep working. */
  EINVAL: 'EINVAL',
  /** A bug in sole caught before it could take the host process down (`EINTERNAL`): a panic on a thread sole started, or in a call from JavaScript. Never expected; report it. */
  EINTERNAL: 'EINTERNAL',
  /** A daemon `spawnDaemon` started could not be started, or died or reported failure before it was ready (`EDAEMON`). `stage` says where: `setup` (the start sequence before exec: cwd, user, files), `exec` (the program could not be executed) or `startup` (it ran but exited, was killed, or sent `ERRNO=` before `READY=1`); `exitCode`/`signal`, `status` (its last `STATUS=`) and `stderr` (the last lines of its stderr file) say more. */
  EDAEMON: 'EDAEMON',
  /** The primary's `second-instance` listener threw while handling a second launch's message (`EHANDLER`): the second launch gets the listener's message; the primary carries on. Built by the TypeScript layer (`lib/instance.ts`), never by the crates. */
  EHANDLER: 'EHANDLER',
  /** `require('sole')` on a machine sole has no native addon for (`ENOTSUP`): only linux x64 with glibc is supported; and, in the WebAssembly build (wasm32-wasip1), every call that needs the operating system (locks, pidfiles, processes, the registry, daemons, the single-instance guard). Thrown by the package's loader (`lib/platform.ts`), never by the crates; the message names this machine, or what the call needs and why the WebAssembly build is the one loaded. */
  ENOTSUP: 'ENOTSUP',
  /** `require('sole')` on a supported machine whose native addon is not there or does not load (`ENOBINDING`): the platform package `sole-linux-x64-gnu` was left out (installed with `--omit=optional`), or a checkout was not built; with the WebAssembly build loaded in its place, each OS call says so. Also `NAPI_RS_FORCE_WASI=error` without the WebAssembly build. Thrown by the package's loader (`lib/platform.ts`); the message says how to fix it, `cause` holds the loader's error. */
  ENOBINDING: 'ENOBINDING',
  /** A lock file, pidfile or registry on a filesystem where `flock(2)` is not a lock every process sees (`EREMOTEFS`): NFS (emulated with byte-range locks, or local to one client under `nolock`), SMB/CIFS, FUSE, 9p, Ceph and other network or cluster filesystems, named by `statfs`'s `f_type`. The message names the filesystem and says how to go on (a local directory, or `{ allowNetworkFs: true }` for a mount known to be sound). */
  EREMOTEFS: 'EREMOTEFS',
  /** A held lock was lost (`ELOST`): its file was deleted, renamed or replaced while the lock was held, so the path no longer names the locked file and another process may now hold a lock on a new file there. `lock.check()` throws it; `lock.lost` aborts with it. */
  ELOST: 'ELOST',
  /** An operating-system failure (errno EPERM). */
  EPERM: 'EPERM',
  /** An operating-system failure (errno ENOENT). */
  ENOENT: 'ENOENT',
  /** An operating-system failure (errno EINTR). */
  EINTR: 'EINTR',
  /** An operating-system failure (errno EIO). */
  EIO: 'EIO',
  /** An operating-system failure (errno EBADF). */
  EBADF: 'EBADF',
  /** An operating-system failure (errno EAGAIN). */
  EAGAIN: 'EAGAIN',
  /** An operating-system failure (errno ENOMEM). */
  ENOMEM: 'ENOMEM',
  /** An operating-system failure (errno EACCES). */
  EACCES: 'EACCES',
  /** An operating-system failure (errno EBUSY). */
  EBUSY: 'EBUSY',
  /** An operating-system failure (errno EEXIST). */
  EEXIST: 'EEXIST',
  /** An operating-system failure (errno EXDEV). */
  EXDEV: 'EXDEV',
  /** An operating-system failure (errno ENOTDIR). */
  ENOTDIR: 'ENOTDIR',
  /** An operating-system failure (errno EISDIR). */
  EISDIR: 'EISDIR',
  /** An operating-system failure (errno ENFILE). */
  ENFILE: 'ENFILE',
  /** An operating-system failure (errno EMFILE). */
  EMFILE: 'EMFILE',
  /** An operating-system failure (errno ETXTBSY). */
  ETXTBSY: 'ETXTBSY',
  /** An operating-system failure (errno EFBIG). */
  EFBIG: 'EFBIG',
  /** An operating-system failure (errno ENOSPC). */
  ENOSPC: 'ENOSPC',
  /** An operating-system failure (errno EROFS). */
  EROFS: 'EROFS',
  /** An operating-system failure (errno ENAMETOOLONG). */
  ENAMETOOLONG: 'ENAMETOOLONG',
  /** An operating-system failure (errno ENOLCK). */
  ENOLCK: 'ENOLCK',
  /** An operating-system failure (errno ENOSYS). */
  ENOSYS: 'ENOSYS',
  /** An operating-system failure (errno ELOOP). */
  ELOOP: 'ELOOP',
  /** An operating-system failure (errno EOVERFLOW). */
  EOVERFLOW: 'EOVERFLOW',
  /** An operating-system failure (errno EDQUOT). */
  EDQUOT: 'EDQUOT',
  /** An operating-system failure (errno ESTALE). */
  ESTALE: 'ESTALE',
  /** An operating-system failure (errno EOPNOTSUPP). */
  EOPNOTSUPP: 'EOPNOTSUPP',
  /** An operating-system failure (errno ESRCH). */
  ESRCH: 'ESRCH',
  /** An operating-system failure (errno ENXIO). */
  ENXIO: 'ENXIO',
  /** An operating-system failure (errno ENODEV). */
  ENODEV: 'ENODEV',
  /** An operating-system failure (errno ECHILD). */
  ECHILD: 'ECHILD',
  /** An operating-system failure (errno E2BIG). */
  E2BIG: 'E2BIG',
  /** An operating-system failure (errno ENOEXEC). */
  ENOEXEC: 'ENOEXEC',
  /** An operating-system failure (errno EFAULT). */
  EFAULT: 'EFAULT',
  /** An operating-system failure (errno ENOTTY). */
  ENOTTY: 'ENOTTY',
  /** An operating-system failure (errno ESPIPE). */
  ESPIPE: 'ESPIPE',
  /** An operating-system failure (errno EMLINK). */
  EMLINK: 'EMLINK',
  /** An operating-system failure (errno ERANGE). */
  ERANGE: 'ERANGE',
  /** An operating-system failure (errno ENOTEMPTY). */
  ENOTEMPTY: 'ENOTEMPTY',
  /** An operating-system failure (errno ENODATA). */
  ENODATA: 'ENODATA',
  /** An operating-system failure (errno EPIPE). */
  EPIPE: 'EPIPE',
  /** An operating-system failure (errno ENOTSOCK). */
  ENOTSOCK: 'ENOTSOCK',
  /** An operating-system failure (errno ENOTCONN). */
  ENOTCONN: 'ENOTCONN',
  /** An operating-system failure (errno EISCONN). */
  EISCONN: 'EISCONN',
  /** An operating-system failure (errno EMSGSIZE). */
  EMSGSIZE: 'EMSGSIZE',
  /** An operating-system failure (errno EPROTOTYPE). */
  EPROTOTYPE: 'EPROTOTYPE',
  /** An operating-system failure (errno EAFNOSUPPORT). */
  EAFNOSUPPORT: 'EAFNOSUPPORT',
  /** An operating-system failure (errno EADDRINUSE). */
  EADDRINUSE: 'EADDRINUSE',
  /** An operating-system failure (errno EADDRNOTAVAIL). */
  EADDRNOTAVAIL: 'EADDRNOTAVAIL',
  /** An operating-system failure (errno ECONNREFUSED). */
  ECONNREFUSED: 'ECONNREFUSED',
  /** An operating-system failure (errno ECONNRESET). */
  ECONNRESET: 'ECONNRESET',
  /** An operating-system failure (errno ECONNABORTED). */
  ECONNABORTED: 'ECONNABORTED',
  /** An operating-system failure (errno ENOBUFS). */
  ENOBUFS: 'ENOBUFS',
  /** An operating-system failure (errno EINPROGRESS). */
  EINPROGRESS: 'EINPROGRESS',
  /** An operating-system failure (errno EALREADY). */
  EALREADY: 'EALREADY',
} as const

/** A code from {@link Code}. */
export type Code = (typeof Code)[keyof typeof Code]
