//! Bindings of `sole_pidfile`: claims, takeover waits, reads and the daemon lock. Type and
//! error conversion only; arguments are decided by `crate::args`.
//!
//! **A claim is never lost to garbage collection.** Single-instance code is written
//! `claimPidfile(p)` at start-up and nothing else: the return value is dropped at once. If the
//! claim ended when its JavaScript object was collected, the next GC would free the pidfile
//! while the owner runs, and a second instance would claim it: two instances. So a
//! `NativePidfile` that is finalized while still held moves its claim into [`KEPT`], a
//! process-wide list that is never emptied: the claim lasts until `release()` or process exit
//! (when the kernel drops the lock), exactly as the typings promise. This holds for a worker
//! thread's claims too: a terminated worker does not end the process's claim.
//! Test: `__test__/gc.spec.ts`, and the harness's `gc` step.

use std::sync::Mutex;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_lock::{open, OpenOptions};
use sole_pidfile::Pidfile;

use crate::args::{self, Opts};
use crate::lock::{spawn_wait, LockArgs, LockWait};
use crate::{js_error, process_handle, procid};

/// Claims whose JavaScript object was garbage-collected without `release()`: kept until the
/// process exits.
static KEPT: Mutex<Vec<Pidfile>> = Mutex::new(Vec::new());

/// Options of `claimPidfile`, `claimPidfileWhenFree` and `acquireDaemonLock` (declared for the
/// generated typings; values are read by [`pidfile_args`]).
#[napi(object)]
#[allow(dead_code)] // a type for index.d.ts: the values are read through `crate::args`
pub struct PidfileOptions {
    /// Permission bits for a newly created pidfile (default `0o600`).
    pub mode: Option<u32>,
    /// Create missing parent directories with mode `0o700` (default `false`).
    pub create_dirs: Option<bool>,
    /// Lock a file on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where `flock` may
    /// not be a lock every process sees. Default `false`: such a file is refused with `EREMOTEFS`.
    pub allow_network_fs: Option<bool>,
    /// `claimPidfile`/`claimPidfileWhenFree`: hand out a fencing token with the claim
    /// (`pidfile.token`), kept in the `user.sole.fence` xattr (the content stays `PID\n`) and
    /// fsynced before the claim returns. Default `false`.
    pub fencing: Option<bool>,
    /// Watch the claim for loss from the start (`pidfile.lost`, `ELOST`): its file deleted,
    /// renamed or replaced by another process. Default `false`: watched on first access of
    /// `pidfile.lost`.
    pub watch: Option<bool>,
    /// For `claimPidfileWhenFree`: give up after this many milliseconds with `ETIMEDOUT`.
    pub timeout_ms: Option<f64>,
}

/// `(path, options)` of a pidfile call; `fencing` is read only for the calls that report a
/// token (`claimPidfile`, `claimPidfileWhenFree`).
fn pidfile_args(
    env: &Env,
    path: &Unknown,
    opts: Option<&Unknown>,
    fencing: bool,
) -> Result<LockArgs> {
    let path = args::path(env, path, "path")?;
    let o = Opts::for_path(env, opts, &path, || {
        format!(" (pidfile {})", path.display())
    })?;
    let d = OpenOptions::default();
    if o.is_empty() {
        return Ok(LockArgs {
            path,
            mode: sole_lock::Mode::Exclusive,
            open: d,
            timeout: None,
            watch: false,
        });
    }
    let mut open = o.open_options(env)?;
    if fencing {
        open.fencing = o.fencing(env, false)?;
    }
    let timeout = o.timeout(env, "timeoutMs", &format!("the pidfile {}", path.display()))?;
    let watch = o.bool(env, "watch")?.unwrap_or(false);
    Ok(LockArgs {
        path,
        mode: sole_lock::Mode::Exclusive,
        open,
        timeout,
        watch,
    })
}

/// A claimed pidfile (the native half of `Pidfile`).
#[napi]
pub struct NativePidfile {
    inner: Option<Pidfile>,
    path: String,
    pid: i32,
    token: Option<u64>,
    /// Asked for `{ watch: true }`: `lib/index.ts` starts the watch at claim.
    watch_asked: bool,
}

impl Drop for NativePidfile {
    fn drop(&mut self) {
        // Finalized by the garbage collector (or a worker's teardown) while still claimed: keep
        // the claim for the life of the process (module doc).
        if let Some(p) = self.inner.take() {
            if p.is_held() {
                KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(p);
            }
        }
    }
}

#[napi]
impl NativePidfile {
    /// Absolute path of the pidfile.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// The pid written into the file (this process).
    #[napi(getter, catch_unwind)]
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// The claim's fencing token (with `fencing: true`), else `null`.
    #[napi(getter, catch_unwind)]
    pub fn token(&self) -> Option<BigInt> {
        self.token.map(BigInt::from)
    }
    /// `true` once `release()` has run.
    #[napi(getter, catch_unwind)]
    pub fn released(&self) -> bool {
        self.inner.as_ref().is_none_or(|p| !p.is_held())
    }
    /// `true` when the claim was asked for with `{ watch: true }` (read by `lib/index.ts`).
    #[napi(getter, catch_unwind)]
    pub fn watch_asked(&self) -> bool {
        self.watch_asked
    }
    /// Throw `ELOST` when the pidfile was deleted, renamed or replaced while claimed (the path
    /// no longer names the claimed file). A released claim has nothing to lose: no-op.
    #[napi(catch_unwind)]
    pub fn check(&self, env: Env) -> Result<()> {
        match self.inner.as_ref() {
            Some(p) => p.check().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
    /// Watch the claim for loss: `onLost` is called (once, later) when its file is deleted,
    /// renamed or replaced. Used by `lib/index.ts`'s `pidfile.lost`. No-op once released or
    /// already watched; the watch ends with the claim.
    #[napi(catch_unwind, ts_args_type = "onLost: () => void")]
    pub fn watch(&mut self, env: Env, on_lost: Function<(), ()>) -> Result<()> {
        match self.inner.as_mut() {
            Some(p) if p.is_held() && !p.is_watched() => {
                let cb = crate::lock::lost_callback(on_lost)?;
                p.watch_lost(cb).map_err(|e| js_error(&env, e))
            }
            _ => Ok(()),
        }
    }
    /// End the claim: empty the file, unlock, close. Never unlinks. Idempotent.
    #[napi(catch_unwind)]
    pub fn release(&mut self, env: Env) -> Result<()> {
        match self.inner.as_mut() {
            Some(p) => p.release().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
}

fn native_pidfile(p: Pidfile) -> NativePidfile {
    NativePidfile {
        path: p.path().to_string_lossy().into_owned(),
        pid: p.pid(),
        token: p.token(),
        inner: Some(p),
        watch_asked: false,
    }
}

fn watched_pidfile(watch: bool) -> impl Fn(Pidfile) -> NativePidfile {
    move |p| {
        let mut n = native_pidfile(p);
        n.watch_asked = watch;
        n
    }
}

/// Claim a pidfile for this process, or throw `EHELD` naming the holder. (`timeoutMs` is
/// checked too: `claimPidfileWhenFree` tries here first.)
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts?: PidfileOptions | undefined | null"
)]
pub fn claim_pidfile(env: Env, path: Unknown, opts: Option<Unknown>) -> Result<NativePidfile> {
    args::guarded(&env, "running claimPidfile()", || {
        let a = pidfile_args(&env, &path, opts.as_ref(), true)?;
        sole_pidfile::claim(&a.path, &a.open)
            .map(watched_pidfile(a.watch))
            .map_err(|e| js_error(&env, e))
    })
}

/// Wait until the pidfile is free (on a dedicated thread, cancellable through `wait`), then
/// claim it: the takeover path after the previous instance exits or crashes.
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts: PidfileOptions | undefined | null, wait: LockWait",
    ts_return_type = "Promise<NativePidfile>"
)]
pub fn claim_pidfile_async<'env>(
    env: &'env Env,
    path: Unknown,
    opts: Option<Unknown>,
    wait: &mut LockWait,
) -> Result<Object<'env>> {
    args::guarded(env, "running claimPidfileWhenFree()", || {
        let a = pidfile_args(env, &path, opts.as_ref(), true)?;
        let opened = open::open_lock_file(&a.path, &a.open).map_err(|e| js_error(env, e))?;
        // The pid is written and fsynced on the waiting thread, still under the lock.
        let watch = a.watch;
        spawn_wait(env, opened, &a, wait, None, move |l| {
            sole_pidfile::claim_from_lock(l).map(watched_pidfile(watch))
        })
    })
}

/// What `readPidfile` found; `lib/index.ts` narrows it to a discriminated union.
#[napi(object)]
#[derive(Clone)]
pub struct NativePidfileState {
    pub state: String,
    pub pid: Option<i32>,
    pub stale_pid: Option<i32>,
    pub reason: Option<String>,
    pub locked: Option<bool>,
    pub identity: Option<procid::ProcessIdentity>,
    /// The network filesystem the file is on (`NFS`, `FUSE`, `CIFS`, …), where `flock` may not
    /// be a lock every process sees (see `EREMOTEFS`); `null` on a local filesystem.
    pub network_fs: Option<String>,
}

fn pidfile_state(s: sole_pidfile::State) -> NativePidfileState {
    use sole_pidfile::State;
    let empty = |state: &str| NativePidfileState {
        state: state.into(),
        pid: None,
        stale_pid: None,
        reason: None,
        locked: None,
        identity: None,
        network_fs: None,
    };
    match s {
        State::Absent => empty("absent"),
        State::Free { stale_pid, reason } => NativePidfileState {
            stale_pid,
            reason: reason.map(|r| r.as_str().to_string()),
            ..empty("free")
        },
        State::Held {
            pid,
            identity,
            locked,
        } => NativePidfileState {
            pid: Some(pid),
            locked: Some(locked),
            identity: identity.map(|id| procid::to_js_identity(id, None)),
            ..empty("held")
        },
        State::Unverified { pid } => NativePidfileState {
            pid: Some(pid),
            locked: Some(false),
            ..empty("unverified")
        },
    }
}

/// What `readPidfile` read, and (with `{ handle: true }`, for a file held under the lock) a
/// handle on the holder.
#[napi]
pub struct NativePidfileRead {
    state: NativePidfileState,
    handle: Option<sole_procid::ProcessHandle>,
}

#[napi]
impl NativePidfileRead {
    #[napi(getter, catch_unwind)]
    pub fn state(&self) -> NativePidfileState {
        self.state.clone()
    }
    /// The handle (once; `null` when none was asked for or the file is not held under the
    /// lock).
    #[napi(catch_unwind)]
    pub fn take_handle(&mut self) -> Option<process_handle::NativeProcessHandle> {
        self.handle
            .take()
            .map(process_handle::NativeProcessHandle::new)
    }
}

/// Inspect a pidfile without blocking, locking or modifying it. `{ handle: true }`: also a
/// pidfd handle on the holder, opened before the holder was confirmed (see
/// `sole_pidfile::read_with_handle`).
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts?: { handle?: boolean | null } | undefined | null"
)]
pub fn read_pidfile(env: Env, path: Unknown, opts: Option<Unknown>) -> Result<NativePidfileRead> {
    args::guarded(&env, "running readPidfile()", || {
        let p = args::path(&env, &path, "path")?;
        let o = Opts::for_path(&env, opts.as_ref(), &p, || {
            format!(" (pidfile {})", p.display())
        })?;
        let read = if o.bool(&env, "handle")?.unwrap_or(false) {
            sole_pidfile::read_with_handle(&p)
        } else {
            sole_pidfile::read(&p).map(|s| (s, None))
        };
        read.map(|(s, handle)| {
            let mut state = pidfile_state(s);
            if state.state != "absent" {
                state.network_fs = sole_lock::fstype::network_fs_of_path(&p);
            }
            NativePidfileRead { state, handle }
        })
        .map_err(|e| js_error(&env, e))
    })
}

/// `dir/daemon.lock`.
#[napi(catch_unwind, ts_args_type = "dir: string")]
pub fn daemon_lock_path(env: Env, dir: Unknown) -> Result<String> {
    args::guarded(&env, "running daemonLockPath()", || {
        let d = args::path(&env, &dir, "dir")?;
        Ok(sole_pidfile::daemon_lock_path(&d)
            .to_string_lossy()
            .into_owned())
    })
}

/// Claim the daemon lock (a file, or a directory that gets `daemon.lock`).
#[napi(
    catch_unwind,
    ts_args_type = "pathOrDir: string, opts?: PidfileOptions | undefined | null"
)]
pub fn acquire_daemon_lock(
    env: Env,
    path_or_dir: Unknown,
    opts: Option<Unknown>,
) -> Result<NativePidfile> {
    args::guarded(&env, "running acquireDaemonLock()", || {
        let a = pidfile_args(&env, &path_or_dir, opts.as_ref(), false)?;
        sole_pidfile::acquire_daemon_lock(&a.path, &a.open)
            .map(watched_pidfile(a.watch))
            .map_err(|e| js_error(&env, e))
    })
}

/// The pid recorded in a lock file: missing, empty or garbage → `null`; other I/O → error.
#[napi(catch_unwind, ts_args_type = "path: string")]
pub fn read_lock_pid(env: Env, path: Unknown) -> Result<Option<i32>> {
    args::guarded(&env, "running readLockPid()", || {
        let p = args::path(&env, &path, "path")?;
        sole_pidfile::read_lock_pid(&p).map_err(|e| js_error(&env, e))
    })
}

/// Internal to the `sole exec` command line (`lib/cli/exec.ts`), not part of the library's
/// API: claim the pidfile at `path`, then replace this process with `command` (argv, searched
/// in `PATH`) keeping the claim across the exec (`sole_pidfile::exec_holding`). Never returns
/// when it works. Throws, before claiming anything, `ENOENT`/`EACCES` with `command` and
/// `stage: "lookup"` when the program cannot be found or run; `EHELD` with `pid` when the
/// pidfile is held; and, when the `execve` itself fails, its errno with `command` and
/// `stage: "execve"`, after releasing the claim.
/// Test: `__test__/cli-exec.spec.ts`.
#[napi(
    catch_unwind,
    ts_args_type = "path: string, command: string[], opts?: PidfileOptions | undefined | null",
    ts_return_type = "never"
)]
pub fn exec_with_pidfile(
    env: Env,
    path: Unknown,
    command: Unknown,
    opts: Option<Unknown>,
) -> Result<()> {
    args::guarded(&env, "running sole exec", || {
        let a = pidfile_args(&env, &path, opts.as_ref(), false)?;
        let argv = args::string_array(&env, &command, "command")?;
        let program = sole_pidfile::Program::resolve(&argv).map_err(|e| js_error(&env, e))?;
        let claim = sole_pidfile::claim(&a.path, &a.open).map_err(|e| js_error(&env, e))?;
        Err(js_error(&env, sole_pidfile::exec_holding(claim, &program)))
    })
}

/// Internal to the `sole lock` command line (`lib/cli/lock.ts`), not part of the library's
/// API: in the short-lived process `sole lock` spawns, ask the kernel to SIGKILL this process
/// when `parent` (the `sole lock` process holding the lock) exits, then replace this process
/// with `command` (`sole_pidfile::exec_as_child_of`). Never returns when it works. Throws
/// `ENOENT`/`EACCES` with `stage: "lookup"` when the program cannot be found or run,
/// `ENOTFOUND` when `parent` has already exited, and the errno with `stage: "execve"` when
/// the `execve` fails. Test: `__test__/cli-lock.spec.ts`.
#[napi(
    catch_unwind,
    ts_args_type = "parent: number, command: string[]",
    ts_return_type = "never"
)]
pub fn exec_as_child_of(env: Env, parent: Unknown, command: Unknown) -> Result<()> {
    args::guarded(&env, "running sole lock", || {
        let parent = procid::pid_arg(&env, &parent)?;
        let argv = args::string_array(&env, &command, "command")?;
        let program = sole_pidfile::Program::resolve(&argv).map_err(|e| js_error(&env, e))?;
        Err(js_error(
            &env,
            sole_pidfile::exec_as_child_of(parent, &program),
        ))
    })
}
