//! Binding of the daemon's own side and of the operator's side of `sole-daemon`: `notify`,
//! `daemonReady`, `watchdogIntervalMs` (`sole_daemon::notify`), the native part of
//! `daemonStatus` (`sole_daemon::control::uptime`) and the decision of `stopDaemon`'s
//! arguments. Type and error conversion only; arguments are decided by `crate::args`. The
//! stopping itself is `readPidfile(path, { handle: true })` and `terminateGracefully`
//! (`lib/daemon.ts`): the pidfd of the verified holder, no native code of its own.
//!
//! Why `notify` refuses unknown keys (where other option objects ignore them): a daemon that
//! writes `notify({ redy: true })` would otherwise send nothing useful, and its supervisor
//! (systemd `Type=notify`, `start-stop-daemon --notify-await`, `spawnDaemon`) would wait for a
//! readiness that never comes until its start timeout kills it, far from the typo. So every
//! key is checked before anything is sent: `EINVAL` naming it.
//!
//! Test: `__test__/daemon-notify.spec.ts` (against `start-stop-daemon` and a python3
//! receiver; wrong arguments), `__test__/daemon-control.spec.ts` (uptime of real holders).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_daemon::notify::{Fields, Watchdog};
use sole_error::Error as SoleError;

use crate::args::{self, Opts};
use crate::{js_error, procid};

/// Appended to the type errors of `notify`'s fields.
const CONTEXT: &str = " (notify)";

/// The fields `notify` knows, in the order of sd_notify(3).
const KNOWN: [&str; 8] = [
    "ready",
    "status",
    "stopping",
    "reloading",
    "watchdog",
    "errno",
    "mainpid",
    "extendTimeoutUs",
];

/// What `notify` sends (sd_notify's assignments). Declared for the generated typings; the
/// values are read by [`notify_fields`], which refuses any other key.
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a type for index.d.ts: the values are read through `crate::args`
pub struct NotifyFields {
    /// `READY=1`: start-up is finished (what `spawnDaemon`, systemd `Type=notify` and
    /// `start-stop-daemon --notify-await` wait for).
    #[napi(ts_type = "boolean | null")]
    pub ready: Option<bool>,
    /// `STATUS=…`: one line of free text for the supervisor to show (no newline).
    #[napi(ts_type = "string | null")]
    pub status: Option<String>,
    /// `STOPPING=1`: the daemon is shutting down.
    #[napi(ts_type = "boolean | null")]
    pub stopping: Option<bool>,
    /// `RELOADING=1` (with `MONOTONIC_USEC=`, as systemd >= 253 wants): reloading its
    /// configuration; send `ready: true` when done.
    #[napi(ts_type = "boolean | null")]
    pub reloading: Option<bool>,
    /// `WATCHDOG=1` (`true`: "still alive"), or `WATCHDOG=trigger` (`'trigger'`: ask the
    /// supervisor to act as if the watchdog expired).
    #[napi(ts_type = "boolean | 'trigger' | null")]
    pub watchdog: Option<bool>,
    /// `ERRNO=n`: start-up failed with this errno (0..4095); `spawnDaemon` rejects.
    #[napi(ts_type = "number | null")]
    pub errno: Option<i32>,
    /// `MAINPID=n`: the daemon's main process is `n` (a pid).
    #[napi(ts_type = "number | null")]
    pub mainpid: Option<i32>,
    /// `EXTEND_TIMEOUT_USEC=n`: ask for `n` more microseconds before the start (or stop)
    /// timeout (a non-negative integer).
    #[napi(ts_type = "number | null")]
    pub extend_timeout_us: Option<f64>,
}

/// A non-negative integer that a double holds exactly (`0..=Number.MAX_SAFE_INTEGER`), else
/// `EINVAL` naming `key`.
fn safe_integer(env: &Env, key: &str, n: f64, what: &str, context: &str) -> Result<u64> {
    if n.fract() == 0.0 && (0.0..=sole_error::timeout::MAX_MS).contains(&n) {
        Ok(n as u64)
    } else {
        Err(js_error(
            env,
            SoleError::invalid_argument(
                key,
                format!(
                    "{key} must be {what} (an integer from 0 to Number.MAX_SAFE_INTEGER), got {n}{context}."
                ),
            ),
        ))
    }
}

/// Decide `notify`'s argument: an object whose keys are all in [`KNOWN`] (each read once,
/// in that order), of the documented types.
fn notify_fields(env: &Env, fields: &Unknown) -> Result<Fields> {
    let t = fields.get_type()?;
    if t != ValueType::Object {
        return Err(args::wrong_type(
            env,
            "fields",
            "an object such as { ready: true, status: 'serving' }",
            t,
            CONTEXT,
        ));
    }
    // SAFETY: the type was checked just above.
    let obj = unsafe { fields.cast::<Object>() }?;
    for key in Object::keys(&obj)? {
        if !KNOWN.contains(&key.as_str()) {
            return Err(js_error(
                env,
                SoleError::invalid_argument(
                    &key,
                    format!(
                        "notify: unknown field '{key}': the fields are {}. Nothing was sent.",
                        KNOWN.join(", ")
                    ),
                ),
            ));
        }
    }
    let o = Opts::new(env, Some(fields), "fields", CONTEXT.into())?;
    let mut f = Fields {
        ready: o.bool(env, "ready")?.unwrap_or(false),
        ..Fields::default()
    };
    f.status = match o.get("status")? {
        None => None,
        // SAFETY: the type was checked.
        Some((v, ValueType::String)) => Some(unsafe { v.cast::<String>() }?),
        Some((_, t)) => return Err(args::wrong_type(env, "status", "a string", t, CONTEXT)),
    };
    f.stopping = o.bool(env, "stopping")?.unwrap_or(false);
    f.reloading = o.bool(env, "reloading")?.unwrap_or(false);
    f.watchdog = match o.get("watchdog")? {
        None => None,
        Some((v, ValueType::Boolean)) => {
            // SAFETY: the type was checked.
            unsafe { v.cast::<bool>() }?.then_some(Watchdog::Ping)
        }
        Some((v, ValueType::String)) => {
            // SAFETY: the type was checked.
            let s = unsafe { v.cast::<String>() }?;
            if s != "trigger" {
                return Err(js_error(
                    env,
                    SoleError::invalid_argument(
                        "watchdog",
                        format!("watchdog must be true (WATCHDOG=1) or 'trigger' (WATCHDOG=trigger), got '{s}'{CONTEXT}."),
                    ),
                ));
            }
            Some(Watchdog::Trigger)
        }
        Some((_, t)) => {
            return Err(args::wrong_type(
                env,
                "watchdog",
                "true or 'trigger'",
                t,
                CONTEXT,
            ))
        }
    };
    f.errno = match o.number(env, "errno")? {
        None => None,
        // 0..=4095 is decided by `sole_daemon::notify::format`; here only "an integer".
        Some(n) if n.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n) => {
            Some(n as i32)
        }
        Some(n) => {
            return Err(js_error(
                env,
                SoleError::invalid_argument(
                    "errno",
                    format!("errno must be an integer errno from 0 to 4095 (e.g. 5 for EIO), got {n}{CONTEXT}."),
                ),
            ))
        }
    };
    f.mainpid = match o.get("mainpid")? {
        None => None,
        Some((v, _)) => Some(procid::pid_arg(env, &v)?.get()),
    };
    f.extend_timeout_us = match o.number(env, "extendTimeoutUs")? {
        None => None,
        Some(n) => Some(safe_integer(
            env,
            "extendTimeoutUs",
            n,
            "a number of microseconds",
            CONTEXT,
        )?),
    };
    Ok(f)
}

/// Send one sd_notify datagram to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
/// socket), with this process's credentials. `false`, and nothing sent, when NOTIFY_SOCKET is
/// unset or empty (not started by a supervisor that listens), or when nobody listens there
/// any more: a daemon calls it unconditionally. Fields are checked first, whether or not a
/// supervisor listens: an unknown key or a wrong type is `EINVAL` naming it, a bad `mainpid`
/// `EINVALIDPID`.
/// Test: `__test__/daemon-notify.spec.ts`.
#[napi(catch_unwind, ts_args_type = "fields: NotifyFields")]
pub fn notify(env: Env, fields: Unknown) -> Result<bool> {
    args::guarded(&env, "running notify()", || {
        let f = notify_fields(&env, &fields)?;
        // Decide the datagram even when nobody listens: a field the format refuses (a
        // newline in status, errno out of range) is a bug to report now, not under systemd.
        sole_daemon::notify::format(&f).map_err(|e| js_error(&env, e))?;
        sole_daemon::notify::notify(&f).map_err(|e| js_error(&env, e))
    })
}

/// `notify({ ready: true })`: tell the supervisor start-up is finished. `false` when
/// NOTIFY_SOCKET is unset. Test: `__test__/daemon-notify.spec.ts` (start-stop-daemon
/// `--notify-await` returns only after it).
#[napi(catch_unwind)]
pub fn daemon_ready(env: Env) -> Result<bool> {
    args::guarded(&env, "running daemonReady()", || {
        let f = Fields {
            ready: true,
            ..Fields::default()
        };
        sole_daemon::notify::notify(&f).map_err(|e| js_error(&env, e))
    })
}

/// The watchdog interval the supervisor asked for (`WATCHDOG_USEC`, when `WATCHDOG_PID` is
/// unset or this process), in milliseconds; `null` when there is none. Send
/// `notify({ watchdog: true })` at least this often (systemd's advice: every half of it).
/// Test: `__test__/daemon-notify.spec.ts` (set, unset, another pid's).
#[napi(catch_unwind)]
pub fn watchdog_interval_ms() -> Option<f64> {
    sole_daemon::notify::watchdog_interval().map(|d| d.as_secs_f64() * 1000.0)
}

/// How long a process has been running (see `sole_daemon::control`).
#[napi(object)]
pub struct NativeUptime {
    /// Milliseconds since it started, on the boot-time clock.
    pub uptime_ms: f64,
    /// When it started, in milliseconds since the epoch (now minus `uptimeMs`).
    pub started_at_ms: f64,
}

/// Internal to `daemonStatus` (`lib/daemon.ts`), not part of the library's API: the uptime of
/// a process from the start time (clock ticks since boot) that `readPidfile` read while it
/// confirmed the holder, so the uptime is the holder's even if its pid is reused meanwhile.
/// Test: `__test__/daemon-control.spec.ts`.
#[napi(catch_unwind, ts_args_type = "startTime: number")]
pub fn daemon_uptime(env: Env, start_time: Unknown) -> Result<NativeUptime> {
    args::guarded(&env, "running daemonStatus()", || {
        let ticks = match start_time.get_type()? {
            // SAFETY: the type was checked.
            ValueType::Number => unsafe { start_time.cast::<f64>() }?,
            t => return Err(args::wrong_type(&env, "startTime", "a number", t, "")),
        };
        let ticks = safe_integer(
            &env,
            "startTime",
            ticks,
            "clock ticks since boot",
            " (daemonStatus)",
        )?;
        let u = sole_daemon::control::uptime(ticks).map_err(|e| js_error(&env, e))?;
        let since_epoch = u
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(NativeUptime {
            uptime_ms: u.uptime.as_secs_f64() * 1000.0,
            started_at_ms: since_epoch.as_secs_f64() * 1000.0,
        })
    })
}

/// The `pidfile` argument of `stopDaemon` and `daemonStatus`: a string, made absolute by the
/// one path rule (`sole_lock::open::resolve`), its errors naming this parameter (`pidfile`).
fn pidfile_arg(env: &Env, v: &Unknown) -> Result<std::path::PathBuf> {
    let given = args::string(env, v, "pidfile")?;
    sole_lock::open::resolve(&given).map_err(|e| {
        let e = match e.kind() {
            sole_error::Kind::InvalidArgument => {
                SoleError::invalid_argument("pidfile", e.message())
            }
            _ => e,
        };
        js_error(env, e)
    })
}

/// Internal to `daemonStatus` (`lib/daemon.ts`), not part of the library's API: its `pidfile`
/// argument decided (absolute; `EINVAL` with `argument: 'pidfile'`), as `stopDaemon` decides
/// it. Test: `__test__/daemon-control.spec.ts` ("daemonStatus refuses …").
#[napi(catch_unwind, ts_args_type = "pidfile: string")]
pub fn daemon_pidfile(env: Env, pidfile: Unknown) -> Result<String> {
    args::guarded(&env, "running daemonStatus()", || {
        pidfile_arg(&env, &pidfile).map(|p| p.to_string_lossy().into_owned())
    })
}

/// `stopDaemon` options (`null`/`undefined`: the defaults). Declared for the generated
/// typings; the values are read by [`stop_daemon_options`].
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a type for index.d.ts: the values are read through `crate::args`
pub struct StopDaemonOptions {
    /// How long the holder has after the polite signal before SIGKILL: 0 to
    /// `Number.MAX_SAFE_INTEGER` milliseconds. Default 10000.
    #[napi(ts_type = "number | null")]
    pub timeout_ms: Option<f64>,
    /// The polite signal, by name or number. Default `'SIGTERM'`.
    #[napi(ts_type = "NodeJS.Signals | number | null")]
    pub signal: Option<String>,
}

/// `stopDaemon`'s arguments, decided.
#[napi(object)]
pub struct StopSettings {
    /// The pidfile, absolute.
    pub path: String,
    /// Milliseconds between the polite signal and SIGKILL (checked by the one timeout rule).
    pub timeout_ms: f64,
    /// The polite signal's number.
    pub signal: i32,
}

/// `stopDaemon`'s default grace period: what systemd gives a unit (`TimeoutStopSec`'s 90 s is
/// for services that flush state; 10 s is start-stop-daemon's common `--retry TERM/10`).
const STOP_TIMEOUT_MS: f64 = 10_000.0;

/// Internal to `stopDaemon` (`lib/daemon.ts`), not part of the library's API: decide its
/// arguments before the pidfile is read or anything is signalled. `pidfile` is a path (made
/// absolute; `EINVAL` argument `pidfile`), `timeoutMs` by the one timeout rule (default
/// 10000), `signal` as for `ProcessHandle.signal` (default `SIGTERM`); every error carries the
/// pidfile as `err.path`. Test: `__test__/daemon-control.spec.ts` ("bad arguments").
#[napi(
    catch_unwind,
    ts_args_type = "pidfile: string, opts?: StopDaemonOptions | null"
)]
pub fn stop_daemon_options(
    env: Env,
    pidfile: Unknown,
    opts: Option<Unknown>,
) -> Result<StopSettings> {
    args::guarded(&env, "running stopDaemon()", || {
        let path = pidfile_arg(&env, &pidfile)?;
        let context = format!(" (stopDaemon {})", path.display());
        let o = Opts::for_path(&env, opts.as_ref(), &path, || context.clone())?;
        let timeout_ms = match o.number(&env, "timeoutMs")? {
            None => STOP_TIMEOUT_MS,
            Some(ms) => {
                sole_error::timeout::from_ms(
                    ms,
                    &format!("the holder of {} to exit", path.display()),
                )
                .map_err(|e| js_error(&env, e.with_path(&path)))?;
                ms
            }
        };
        let signal = match o.get("signal")? {
            None => sole_procid::TERMINATE_DEFAULT,
            // SAFETY (both casts): the type was checked by the match.
            Some((v, ValueType::String)) => {
                sole_procid::signal_number(&unsafe { v.cast::<String>() }?)
                    .map_err(|e| js_error(&env, e.with_path(&path)))?
            }
            Some((v, ValueType::Number)) => {
                sole_procid::signal_from_number(unsafe { v.cast::<f64>() }?)
                    .map_err(|e| js_error(&env, e.with_path(&path)))?
            }
            Some((_, t)) => {
                return Err(js_error(
                    &env,
                    sole_procid::signal::not_a_signal(args::type_name(t), &context)
                        .with_path(&path),
                ))
            }
        };
        Ok(StopSettings {
            path: path.to_string_lossy().into_owned(),
            timeout_ms,
            signal,
        })
    })
}
