//! Binding of `sole_daemon::spawn`: `spawnDaemon`'s options, read and checked here once, and
//! the wait for readiness on a dedicated thread (never libuv's pool). `lib/spawn.ts` adds the
//! timer (`timeoutMs`, default 60 s) and the AbortSignal, which call `DaemonStart.timeOut()` /
//! `cancel()`. Test: `__test__/daemon.spec.ts`, `__test__/daemon-args.spec.ts`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::sync::{Arc, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use sole_daemon::spawn::{self, Principal, Readiness, SpawnOptions, Started, Stop, StopReason};
use sole_error::Error as SoleError;

use crate::args::{self, Opts};
use crate::js_error;

/// The options of `spawnDaemon` (a shape for the generated typings; read by [`read_options`]).
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a shape for index.d.ts: never built in Rust
pub struct SpawnDaemonOptions {
    /// The program: a path, or a name looked up in the daemon's `PATH`.
    pub command: String,
    /// Its arguments (without the program name).
    pub args: Option<Vec<String>>,
    /// Its working directory. Default `/`.
    pub cwd: Option<String>,
    /// Its whole environment. Default: this process's, without `NOTIFY_SOCKET` and
    /// `WATCHDOG_*` (they belong to this process's own supervisor).
    pub env: Option<std::collections::HashMap<String, String>>,
    /// A pidfile the daemon claims itself (flock, its pid, an identity record) and holds
    /// until it exits. A held pidfile rejects with `EHELD` naming the holder.
    pub pidfile: Option<String>,
    /// Its umask, 0 to 0o777. Default `0o027`.
    pub umask: Option<u32>,
    /// A file its stdout is appended to (created 0640). Default `/dev/null`.
    pub stdout: Option<String>,
    /// A file its stderr is appended to (created 0640). Default `/dev/null`.
    pub stderr: Option<String>,
    /// Run as this user (name or uid): supplementary groups, gid and uid are set after the
    /// pidfile is claimed. Root only.
    pub user: Option<Either<String, u32>>,
    /// Run with this group (name or gid). Default: the user's primary group.
    pub group: Option<Either<String, u32>>,
    /// When the promise resolves: `'notify'` (the daemon sends `READY=1`, the default),
    /// `'exec'` (the program was executed) or `'none'` (its pid is known).
    #[napi(ts_type = "'notify' | 'exec' | 'none'")]
    pub readiness: Option<String>,
    /// Reject with `ETIMEDOUT` when it is not ready after this many milliseconds. Default 60000.
    pub timeout_ms: Option<f64>,
    /// SIGKILL a daemon that is not ready at the timeout or abort. Default `true`.
    pub kill_on_timeout: Option<bool>,
    /// Claim a pidfile on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too. Default
    /// `false`: such a pidfile is refused with `EREMOTEFS`.
    pub allow_network_fs: Option<bool>,
    /// Abort the start (rejects with `AbortError`; the unready daemon is killed).
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Unknown<'static>>,
}

/// What `spawnDaemon` resolves with.
#[napi(object)]
pub struct DaemonStarted {
    /// The daemon's pid (it holds the pidfile, if one was given).
    pub pid: i32,
    /// Its last `STATUS=` message (readiness `'notify'`), or `null`.
    #[napi(ts_type = "string | null")]
    pub status: Option<String>,
}

/// Ends one pending `spawnDaemon` (its timer and AbortSignal, in `lib/spawn.ts`).
#[napi]
pub struct DaemonStart {
    stop: Arc<Stop>,
    timeout: Option<Duration>,
}

#[napi]
impl DaemonStart {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env) -> Result<Self> {
        let stop = Arc::new(Stop::new().map_err(|e| js_error(&env, e))?);
        Ok(DaemonStart {
            stop,
            timeout: None,
        })
    }
    /// Abort: the start rejects with `ECANCELED` (the TS layer makes it an `AbortError`).
    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.stop.stop(StopReason::Abort, None);
    }
    /// The caller's `timeoutMs` ran out: the start rejects with `ETIMEDOUT`.
    #[napi(catch_unwind)]
    pub fn time_out(&self) {
        self.stop.stop(StopReason::Timeout, self.timeout);
    }
}

thread_local! {
    /// This environment's pending starts, ended (aborted) when the environment goes away (a
    /// worker terminated): no start thread outlives the JavaScript that waits for it.
    static PENDING: RefCell<(bool, Vec<Weak<Stop>>)> = const { RefCell::new((false, Vec::new())) };
}

fn track(env: &Env, stop: &Arc<Stop>) -> Result<()> {
    let hooked = PENDING.with(|p| p.borrow().0);
    if !hooked {
        env.add_env_cleanup_hook((), |_| {
            let stops: Vec<Weak<Stop>> = PENDING.with(|p| std::mem::take(&mut p.borrow_mut().1));
            for s in stops.iter().filter_map(Weak::upgrade) {
                s.stop(StopReason::Abort, None);
            }
        })?;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.0 = true;
        p.1.retain(|w| w.strong_count() > 0);
        p.1.push(Arc::downgrade(stop));
    });
    Ok(())
}

/// Start a daemon (see `SpawnDaemonOptions`); resolves when it is ready. Every option is
/// checked, and the command, user, group and files resolved, before any process is created:
/// those errors are thrown here (`lib/spawn.ts` turns them into a rejection).
#[napi(
    catch_unwind,
    ts_args_type = "opts: SpawnDaemonOptions, start: DaemonStart",
    ts_return_type = "Promise<DaemonStarted>"
)]
pub fn spawn_daemon<'e>(
    env: &'e Env,
    opts: Unknown<'e>,
    start: &mut DaemonStart,
) -> Result<Object<'e>> {
    let (options, timeout) = read_options(env, &opts)?;
    start.timeout = timeout;
    let prepared = spawn::prepare(options).map_err(|e| js_error(env, e))?;
    let (deferred, promise) = env.create_deferred()?;
    let stop = start.stop.clone();
    track(env, &stop)?;
    let slot = Arc::new(std::sync::Mutex::new(Some(deferred)));
    let thread_slot = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("sole-daemon-start".into())
        .spawn(move || {
            let r = args::no_panic("starting a daemon", move || prepared.run(&stop));
            if let Some(d) = thread_slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                d.resolve(settle_with(r));
            }
        });
    if let Err(e) = spawned {
        if let Some(d) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let err = SoleError::new(
                sole_error::Kind::Os(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                format!("cannot start a thread to start the daemon: {e}. Too many threads?"),
            );
            d.resolve(settle_with(Err(err)));
        }
    }
    Ok(promise)
}

/// The one resolver of a start's promise (one closure type for every path).
fn settle_with(
    r: sole_error::Result<Started>,
) -> impl FnOnce(Env) -> Result<DaemonStarted> + Send + 'static {
    move |env| settle(&env, r)
}

fn settle(env: &Env, r: sole_error::Result<Started>) -> Result<DaemonStarted> {
    r.map(|s| DaemonStarted {
        pid: s.pid,
        status: s.status,
    })
    .map_err(|e| js_error(env, e))
}

/// `spawnDaemon`'s options, each checked (`EINVAL` naming it), and the timeout.
fn read_options(env: &Env, v: &Unknown) -> Result<(SpawnOptions, Option<Duration>)> {
    if !matches!(v.get_type()?, ValueType::Object) {
        return Err(js_error(
            env,
            SoleError::invalid_argument(
                "options",
                "spawnDaemon needs an options object with at least { command }.",
            ),
        ));
    }
    let o = Opts::new(env, Some(v), "options", " (spawnDaemon)".into())?;
    let command = match o.get("command")? {
        Some((c, _)) => args::string(env, &c, "command")?,
        None => return Err(js_error(env, SoleError::invalid_argument("command", "spawnDaemon needs command: the program to run (a path, or a name looked up in PATH)."))),
    };
    if command.is_empty() || command.contains('\0') {
        return Err(js_error(
            env,
            SoleError::invalid_argument(
                "command",
                "command must be a non-empty string without NUL bytes.",
            ),
        ));
    }
    let mut s = SpawnOptions::new(command);
    if let Some((a, _)) = o.get("args")? {
        s.args = args::string_array(env, &a, "args")?;
    }
    if let Some((c, _)) = o.get("cwd")? {
        s.cwd = args::path(env, &c, "cwd")?;
    }
    if let Some((e, t)) = o.get("env")? {
        s.env = Some(env_object(env, e, t)?);
    }
    if let Some((p, _)) = o.get("pidfile")? {
        s.pidfile = Some(args::path(env, &p, "pidfile")?);
    }
    for (key, slot) in [("stdout", &mut s.stdout), ("stderr", &mut s.stderr)] {
        if let Some((p, _)) = o.get(key)? {
            *slot = Some(args::path(env, &p, key)?);
        }
    }
    if let Some(m) = o.number(env, "umask")? {
        if m.fract() != 0.0 || !(0.0..=511.0).contains(&m) {
            return Err(js_error(env, SoleError::invalid_argument("umask", format!("umask {m} is not permission bits: pass an integer from 0 to 0o777, such as 0o027."))));
        }
        s.umask = m as u32;
    }
    s.user = principal(env, &o, "user")?;
    s.group = principal(env, &o, "group")?;
    if let Some((r, _)) = o.get("readiness")? {
        s.readiness = match args::string(env, &r, "readiness")?.as_str() {
            "notify" => Readiness::Notify,
            "exec" => Readiness::Exec,
            "none" => Readiness::None,
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(js_error(
                    env,
                    SoleError::invalid_argument(
                        "readiness",
                        format!("readiness must be 'notify', 'exec' or 'none', got {shown:?}."),
                    ),
                ));
            }
        };
    }
    if let Some(a) = o.bool(env, "allowNetworkFs")? {
        s.allow_network_fs = a;
    }
    if let Some(k) = o.bool(env, "killOnTimeout")? {
        s.kill_on_timeout = k;
    }
    let timeout = o.timeout(env, "timeoutMs", "the daemon's readiness")?;
    Ok((s, timeout))
}

/// `user` / `group`: a name, or an id (an integer from 0 to 2^32-2).
fn principal(env: &Env, o: &Opts, key: &str) -> Result<Option<Principal>> {
    match o.get(key)? {
        None => Ok(None),
        Some((v, ValueType::String)) => {
            let n = args::string(env, &v, key)?;
            if n.is_empty() || n.contains('\0') {
                return Err(js_error(
                    env,
                    SoleError::invalid_argument(
                        key,
                        format!("{key} must be a non-empty name without NUL bytes, or a number."),
                    ),
                ));
            }
            Ok(Some(Principal::Name(n)))
        }
        Some((_, ValueType::Number)) => {
            let n = o.number(env, key)?.unwrap_or(f64::NAN);
            if n.fract() != 0.0 || !(0.0..=4_294_967_294.0).contains(&n) {
                return Err(js_error(env, SoleError::invalid_argument(key, format!("{key} {n} is not an id: pass an integer from 0 to 4294967294, or a name."))));
            }
            Ok(Some(Principal::Id(n as u32)))
        }
        Some((_, t)) => Err(js_error(
            env,
            SoleError::invalid_argument(
                key,
                format!(
                    "{key} must be a name or a numeric id, got {}.",
                    args::type_name(t)
                ),
            ),
        )),
    }
}

/// `env`: an object whose own enumerable properties are all strings.
fn env_object(env: &Env, v: Unknown, t: ValueType) -> Result<Vec<(OsString, OsString)>> {
    let bad = |msg: String| js_error(env, SoleError::invalid_argument("env", msg));
    if t != ValueType::Object || v.is_array()? {
        return Err(bad(format!(
            "env must be an object of strings such as {{ PATH: '/usr/bin' }}, got {}.",
            args::type_name(t)
        )));
    }
    // SAFETY: the type was checked just above.
    let obj = unsafe { v.cast::<Object>() }?;
    let names = obj.get_property_names()?;
    let len = names.get_array_length()?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let k: Unknown = names.get_element(i)?;
        let key = args::string(env, &k, "env")?;
        let val: Unknown = obj.get_named_property(&key)?;
        if val.get_type()? != ValueType::String {
            return Err(bad(format!(
                "env.{key} must be a string, got {}.",
                args::type_name(val.get_type()?)
            )));
        }
        let val = args::string(env, &val, "env")?;
        if key.is_empty() || key.contains('=') || key.contains('\0') || val.contains('\0') {
            return Err(bad(format!(
                "env.{key:?}: names must be non-empty without '=' or NUL, values without NUL."
            )));
        }
        out.push((key.into(), val.into()));
    }
    Ok(out)
}
