//! The identity record for JavaScript: `parseIdentityRecord(text)` and
//! `formatIdentityRecord(record)`, the text sole keeps beside a pid (a pidfile's
//! `user.sole.identity` extended attribute) read and written by `sole_procid::record`, the one
//! parser and writer the pidfile code uses. For tools that read that attribute themselves (a
//! shell script with `getfattr`, another language) and for the WebAssembly build, where these
//! are among the few calls that work: they need no operating system, and answer exactly as the
//! native addon does. Test: `__test__/wasm.spec.ts` (both builds, generated records, and the
//! record of a real claimed pidfile).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_error::Error as SoleError;
use sole_procid::Record;

use crate::args::{guarded, pid_arg, type_name, Opts};
use crate::{args, js_error};

/// An identity record: who wrote it (`pid`, `startTime` in clock ticks since boot, `bootId`),
/// and whether its writer holds an flock on the file for as long as it owns it (`locked`).
/// Test: `__test__/wasm.spec.ts`.
#[napi(object)]
pub struct IdentityRecord {
    pub pid: i32,
    pub start_time: f64,
    pub boot_id: String,
    pub locked: bool,
}

/// The record in `text`, or `null` when `text` is not a complete version-1 record (sole's
/// readers then treat the pid as unverified). `text` must be a string (`EINVAL`).
/// Test: `__test__/wasm.spec.ts`.
#[napi(catch_unwind)]
pub fn parse_identity_record(
    env: Env,
    #[napi(ts_arg_type = "string")] text: Unknown,
) -> Result<Option<IdentityRecord>> {
    guarded(&env, "parsing an identity record", || {
        let text = args::string(&env, &text, "text")?;
        Ok(Record::parse(&text).map(|r| IdentityRecord {
            pid: r.pid,
            start_time: r.start_time as f64,
            boot_id: r.boot_id,
            locked: r.locked,
        }))
    })
}

/// The text of a record, checked so that it always parses back equal (`sole_procid::Record::
/// checked`): `pid` a pid (`EINVALIDPID`), `startTime` an integer from 0 to 2^53-1, `bootId`
/// 1 to 64 hex digits and dashes (lowercased), `locked` a boolean (default `false`); each
/// refusal is `EINVAL` naming the field. Test: `__test__/wasm.spec.ts`.
#[napi(catch_unwind)]
pub fn format_identity_record(
    env: Env,
    #[napi(ts_arg_type = "IdentityRecord")] record: Unknown,
) -> Result<String> {
    guarded(&env, "writing an identity record", || {
        let t = record.get_type()?;
        if t != ValueType::Object {
            return Err(js_error(
                &env,
                SoleError::invalid_argument(
                    "record",
                    format!(
                        "record must be an object {{ pid, startTime, bootId, locked }}, got {}.",
                        type_name(t)
                    ),
                ),
            ));
        }
        let o = Opts::new(&env, Some(&record), "record", String::new())?;
        let pid = match o.get("pid")? {
            Some((v, _)) => pid_arg(&env, &v)?.get(),
            None => {
                return Err(js_error(
                    &env,
                    sole_procid::pid::not_a_pid("undefined").with_detail("argument", "pid"),
                ))
            }
        };
        let required = |key: &str, what: &str| {
            js_error(
                &env,
                SoleError::invalid_argument(
                    key,
                    format!("{key} is required: pass {what}, as processIdentity(pid) gives it."),
                ),
            )
        };
        let start = o
            .number(&env, "startTime")?
            .ok_or_else(|| required("startTime", "the start time in clock ticks since boot"))?;
        let boot = match o.get("bootId")? {
            None => return Err(required("bootId", "the boot id")),
            Some((v, ValueType::String)) => args::string(&env, &v, "bootId")?,
            Some((_, t)) => {
                return Err(js_error(
                    &env,
                    SoleError::invalid_argument(
                        "bootId",
                        format!("bootId must be a string, got {}.", type_name(t)),
                    ),
                ))
            }
        };
        let locked = o.bool(&env, "locked")?.unwrap_or(false);
        Record::checked(f64::from(pid), start, &boot, locked)
            .map(|r| r.to_text())
            .map_err(|e| js_error(&env, e))
    })
}
