//! Bindings of `sole_pidfile`: claims, takeover waits, reads and the daemon lock. Type and
//! error conversion only.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_lock::{open, Mode, OpenOptions};
use sole_pidfile::Pidfile;

use crate::lock::{spawn_wait, LockWait};
use crate::{js_error, path_arg, procid};

/// Options for `claimPidfile` and `acquireDaemonLock`.
#[napi(object)]
pub struct PidfileOptions {
    /// Permission bits for a newly created pidfile (default `0o600`).
    pub mode: Option<u32>,
    /// Create missing parent directories with mode `0o700` (default `false`).
    pub create_dirs: Option<bool>,
    /// For `claimPidfileWhenFree`: validated by the first, immediate attempt.
    pub timeout_ms: Option<f64>,
}

fn pid_opts(o: &Option<PidfileOptions>) -> OpenOptions {
    let d = OpenOptions::default();
    match o {
        None => d,
        Some(o) => OpenOptions {
            mode: o.mode.unwrap_or(d.mode),
            create_dirs: o.create_dirs.unwrap_or(d.create_dirs),
        },
    }
}

/// A claimed pidfile (the native half of `Pidfile`).
#[napi]
pub struct NativePidfile {
    inner: Pidfile,
    path: String,
}

#[napi]
impl NativePidfile {
    /// Absolute path of the pidfile.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// The pid written into the file (this process).
    #[napi(getter)]
    pub fn pid(&self) -> i32 {
        self.inner.pid()
    }
    /// `true` once `release()` has run.
    #[napi(getter)]
    pub fn released(&self) -> bool {
        !self.inner.is_held()
    }
    /// End the claim: empty the file, unlock, close. Never unlinks. Idempotent.
    #[napi]
    pub fn release(&mut self, env: Env) -> Result<()> {
        self.inner.release().map_err(|e| js_error(&env, e))
    }
}

fn native_pidfile(p: Pidfile) -> NativePidfile {
    NativePidfile {
        path: p.path().to_string_lossy().into_owned(),
        inner: p,
    }
}

/// Claim a pidfile for this process, or throw `EHELD` naming the holder.
#[napi]
pub fn claim_pidfile(
    env: Env,
    path: String,
    opts: Option<PidfileOptions>,
) -> Result<NativePidfile> {
    let p = path_arg(&env, &path)?;
    sole_pidfile::claim(&p, &pid_opts(&opts))
        .map(native_pidfile)
        .map_err(|e| js_error(&env, e))
}

/// Wait until the pidfile is free (on a dedicated thread, cancellable through `wait`), then
/// claim it: the takeover path after the previous instance exits or crashes.
#[napi(ts_return_type = "Promise<NativePidfile>")]
pub fn claim_pidfile_async<'env>(
    env: &'env Env,
    path: String,
    opts: Option<PidfileOptions>,
    wait: &mut LockWait,
) -> Result<Object<'env>> {
    let p = path_arg(env, &path)?;
    let opened = open::open_lock_file(&p, &pid_opts(&opts)).map_err(|e| js_error(env, e))?;
    // The pid is written and fsynced on the waiting thread, still under the lock.
    spawn_wait(env, opened, p, Mode::Exclusive, wait, |l| {
        sole_pidfile::claim_from_lock(l).map(native_pidfile)
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

/// Inspect a pidfile without blocking, locking or modifying it.
#[napi]
pub fn read_pidfile(env: Env, path: String) -> Result<NativePidfileState> {
    let p = path_arg(&env, &path)?;
    sole_pidfile::read(&p)
        .map(pidfile_state)
        .map_err(|e| js_error(&env, e))
}

/// A pidfile read that also opened a handle on the holder (for a file held under the lock).
#[napi]
pub struct NativePidfileRead {
    state: NativePidfileState,
    handle: Option<sole_procid::ProcessHandle>,
}

#[napi]
impl NativePidfileRead {
    #[napi(getter)]
    pub fn state(&self) -> NativePidfileState {
        self.state.clone()
    }
    /// The handle (once; `null` when the file is not held under the lock).
    #[napi]
    pub fn take_handle(&mut self) -> Option<procid::NativeProcessHandle> {
        self.handle.take().map(procid::NativeProcessHandle::new)
    }
}

/// `readPidfile(path, { handle: true })`: the state, and a pidfd handle on the holder opened
/// before the holder was confirmed (see `sole_pidfile::read_with_handle`).
#[napi]
pub fn read_pidfile_with_handle(env: Env, path: String) -> Result<NativePidfileRead> {
    let p = path_arg(&env, &path)?;
    sole_pidfile::read_with_handle(&p)
        .map(|(s, handle)| NativePidfileRead {
            state: pidfile_state(s),
            handle,
        })
        .map_err(|e| js_error(&env, e))
}

/// `dir/daemon.lock`.
#[napi]
pub fn daemon_lock_path(env: Env, dir: String) -> Result<String> {
    let d = path_arg(&env, &dir)?;
    Ok(sole_pidfile::daemon_lock_path(&d)
        .to_string_lossy()
        .into_owned())
}

/// Claim the daemon lock (a file, or a directory that gets `daemon.lock`).
#[napi]
pub fn acquire_daemon_lock(
    env: Env,
    path_or_dir: String,
    opts: Option<PidfileOptions>,
) -> Result<NativePidfile> {
    let p = path_arg(&env, &path_or_dir)?;
    sole_pidfile::acquire_daemon_lock(&p, &pid_opts(&opts))
        .map(native_pidfile)
        .map_err(|e| js_error(&env, e))
}

/// The pid recorded in a lock file: missing, empty or garbage → `null`; other I/O → error.
#[napi]
pub fn read_lock_pid(env: Env, path: String) -> Result<Option<i32>> {
    let p = path_arg(&env, &path)?;
    sole_pidfile::read_lock_pid(&p).map_err(|e| js_error(&env, e))
}

/// Is this pid a live, non-zombie process? 0, negatives and > 2^31-1 are never alive; a
/// value that is not an integer throws `EINVALIDPID`.
#[napi]
pub fn pid_alive(env: Env, pid: f64) -> Result<bool> {
    if !pid.is_finite() || pid.fract() != 0.0 {
        return Err(js_error(&env, sole_pidfile::validate_pid(pid).unwrap_err()));
    }
    Ok(sole_pidfile::pid_alive(
        pid.clamp(i64::MIN as f64, i64::MAX as f64) as i64,
    ))
}
