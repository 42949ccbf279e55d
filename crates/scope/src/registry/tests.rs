//! The registry's tests: the cycle (cache, generation, reclaim and save), every operation's
//! refusals, and guards, against real files and real processes.

use std::sync::Arc;

use super::*;
use crate::check::{MAX_NAME_BYTES, MAX_RULES};
use crate::{Guard, Rule, Spec};
use sole_procid::Pid;
use std::sync::atomic::{AtomicI32, Ordering};

/// The pid of a child this test started.
fn pid_of(c: &std::process::Child) -> Pid {
    Pid::new(i64::from(c.id())).unwrap()
}

fn open() -> (tempfile::TempDir, Arc<Registry>) {
    let d = tempfile::tempdir().unwrap();
    let r = Registry::open(Some(d.path().join("scope.json").to_str().unwrap())).unwrap();
    (d, Arc::new(r))
}
fn spec(name: &str, scopes: Vec<Rule>) -> Spec {
    Spec {
        name: name.into(),
        pid: None,
        socket: None,
        scopes,
    }
}
fn w(p: &str) -> Rule {
    Rule::write(p, true).unwrap()
}

#[test]
fn save_and_reopen_roundtrip() {
    let (d, r) = open();
    r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
    let again = Registry::open(Some(d.path().join("scope.json").to_str().unwrap())).unwrap();
    let l = again.list().unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].name, "a");
    assert_eq!(l[0].pid, std::process::id() as i32);
    assert!(l[0].start_time.is_some() && l[0].boot_id.is_some());
}

#[test]
fn another_handle_sees_changes_through_the_generation() {
    let (d, r) = open();
    let p = d.path().join("scope.json");
    let r2 = Registry::open(Some(p.to_str().unwrap())).unwrap();
    r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
    assert_eq!(r2.list().unwrap().len(), 1);
    r2.release("a").unwrap();
    assert!(r.list().unwrap().is_empty());
    r.register(spec("b", vec![w("/src")]), "s".into()).unwrap();
}

#[test]
fn own_writes_do_not_force_a_reread() {
    let (d, r) = open();
    let p = d.path().join("scope.json");
    let loads = || r.loads.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(loads(), 1, "open loads the table once");
    r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
    assert_eq!(r.list().unwrap().len(), 1);
    assert_eq!(
        loads(),
        1,
        "its own write and a lookup reuse the cached table"
    );
    // Another writer replaces the file: the next operation must read it.
    let other = Registry::open(Some(p.to_str().unwrap())).unwrap();
    other.release("a").unwrap();
    assert!(r.list().unwrap().is_empty());
    assert_eq!(
        loads(),
        2,
        "another handle's write forces exactly one reread"
    );
    // The same bytes under a new inode with the generation put back: the stamp differs, so
    // the handle rereads rather than trusting the generation alone.
    r.register(spec("b", vec![w("/src")]), "s".into()).unwrap();
    let gen = r.store.generation().unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(r.store.generation().unwrap(), gen);
    assert_eq!(r.list().unwrap().len(), 1);
    assert_eq!(loads(), 3, "a changed stamp forces a reread");
}

#[test]
fn a_stuck_holder_gives_etimedout() {
    let (_d, r) = open();
    // Another open file description holds the registry lock (as a stopped process would).
    let holder = sole_lock::Lock::lock(
        &r.store.lock_path,
        sole_lock::Mode::Exclusive,
        &sole_lock::OpenOptions::default(),
        None,
    );
    // Same thread: the registry refuses to wait for a lock this thread holds.
    let e = r.list().unwrap_err();
    assert_eq!(e.code(), "EDEADLK");
    drop(holder);
    let path = r.store.lock_path.clone();
    let t = std::thread::spawn(move || {
        let l = sole_lock::Lock::lock(
            &path,
            sole_lock::Mode::Exclusive,
            &sole_lock::OpenOptions::default(),
            None,
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(l);
    });
    // Wait until the other thread holds it (the kernel says so), then time out.
    while sole_lock::Lock::try_lock(
        &r.store.lock_path,
        sole_lock::Mode::Exclusive,
        &sole_lock::OpenOptions::default(),
    )
    .unwrap()
    .is_some()
    {
        std::thread::yield_now();
    }
    // A second handle with a short bound: its initial load already waits and times out.
    let data = r.path().to_str().unwrap().to_string();
    let e = Registry::open_with(
        Some(&data),
        Some(std::time::Duration::from_millis(20)),
        false,
    )
    .err()
    .expect("the lock is held");
    assert_eq!(e.code(), "ETIMEDOUT");
    t.join().unwrap();
    assert!(r.list().is_ok(), "free again: the next operation proceeds");
}

#[test]
fn a_dropped_guard_keeps_its_allocation() {
    let (_d, r) = open();
    let g = r
        .install_top_level(spec("a", vec![w("/src")]), "s".into())
        .unwrap();
    drop(g);
    r.delegate("a", spec("child", vec![w("/src/c")])).unwrap();
    drop(r.adopt_allocation("child", None, "cs".into()).unwrap());
    let names: Vec<_> = r.list().unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        ["a", "child"],
        "still owned by this (running) process"
    );
    // Released when asked.
    let mut g = Guard::new(&r, "child".into(), ops::pid_or_self(None), "cs".into());
    assert!(g.release().unwrap());
}

/// A child process that is running until `kill_and_reap`.
fn sleeper() -> std::process::Child {
    std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap()
}
fn kill_and_reap(mut c: std::process::Child) {
    c.kill().unwrap();
    c.wait().unwrap();
}

/// A zombie has exited and holds nothing: procid's rule calls it exited, so it is refused as
/// an owner exactly as a reaped pid is (the reclaim would remove its allocation at once).
#[test]
fn a_zombie_owner_is_refused() {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let (d, r) = open();
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let zombie = pid_of(&c);
    let raw = rustix::process::Pid::from_raw(zombie.get()).unwrap();
    waitid(
        WaitId::Pid(raw),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    )
    .unwrap();
    let e = r
        .register(
            Spec {
                pid: Some(zombie),
                ..spec("z", vec![w("/z")])
            },
            "z".into(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "ENOTFOUND", "{}", e.message());
    assert_eq!(e.pid(), Some(zombie.get()));
    assert!(!d.path().join("scope.json").exists(), "nothing written");
    c.wait().unwrap();
}

#[test]
fn an_owner_that_is_not_running_is_refused() {
    let (d, r) = open();
    r.register(spec("p", vec![w("/src")]), "ps".into()).unwrap();
    r.delegate("p", spec("kid", vec![w("/src/k")])).unwrap();
    let c = sleeper();
    let dead = pid_of(&c);
    kill_and_reap(c);
    let before = std::fs::read(d.path().join("scope.json")).unwrap();
    let with = |name: &str, rules| Spec {
        pid: Some(dead),
        ..spec(name, rules)
    };
    let errs = [
        r.register(with("x", vec![w("/x")]), "x".into())
            .unwrap_err(),
        r.delegate("p", with("y", vec![w("/src/y")])).unwrap_err(),
        r.adopt("kid", Some(dead), "k".into()).unwrap_err(),
        r.install_top_level(with("x", vec![w("/x")]), "x".into())
            .err()
            .unwrap(),
    ];
    for e in errs {
        assert_eq!(e.code(), "ENOTFOUND", "{}", e.message());
        assert_eq!(e.pid(), Some(dead.get()));
        assert!(e.message().contains(&dead.to_string()));
    }
    assert_eq!(std::fs::read(d.path().join("scope.json")).unwrap(), before);
}

#[test]
fn a_session_id_in_use_is_refused() {
    let (_d, r) = open();
    r.register(spec("a", vec![w("/a")]), "s".into()).unwrap();
    r.delegate("a", spec("kid", vec![w("/a/k")])).unwrap();
    for e in [
        r.register(spec("b", vec![w("/b")]), "s".into())
            .unwrap_err(),
        r.adopt("kid", None, "s".into()).unwrap_err(),
    ] {
        assert_eq!(e.code(), "EDUPLICATE");
        assert!(e.message().contains("session id \"s\""), "{}", e.message());
        assert!(e.details().contains(&("allocation", "a".into())));
        assert!(e.details().contains(&("sessionId", "s".into())));
    }
    // Its own session again is not a duplicate.
    r.adopt("kid", None, "k".into()).unwrap();
    r.adopt("kid", None, "k".into()).unwrap();
}

#[test]
fn bad_names_are_einval_naming_the_argument() {
    let (_d, r) = open();
    let long = "n".repeat(MAX_NAME_BYTES + 1);
    for (bad, arg) in [("", "name"), ("a\0b", "name"), (long.as_str(), "name")] {
        let e = r
            .register(spec(bad, vec![w("/x")]), "s".into())
            .unwrap_err();
        assert_eq!(e.code(), "EINVAL");
        assert_eq!(e.details()[0], ("argument", arg.into()));
        assert!(e.message().len() < 1000);
        assert_eq!(r.release(bad).unwrap_err().code(), "EINVAL");
    }
    let e = r
        .register(spec("a", vec![w("/x")]), String::new())
        .unwrap_err();
    assert_eq!(e.details()[0], ("argument", "sessionId".into()));
    let many = (0..=MAX_RULES).map(|i| w(&format!("/m/{i}"))).collect();
    let e = r.register(spec("a", many), "s".into()).unwrap_err();
    assert_eq!(e.details()[0], ("argument", "scopes".into()));
    assert!(r.list().unwrap().is_empty());
}

#[test]
fn adopt_allocation_rewrites_pid_and_releases_when_asked() {
    let (_d, r) = open();
    r.register(spec("p", vec![w("/src")]), "ps".into()).unwrap();
    r.delegate("p", spec("child", vec![w("/src/c")])).unwrap();
    let mut g = r.adopt_allocation("child", None, "cs".into()).unwrap();
    let c = r.lookup_session("cs").unwrap().unwrap();
    assert_eq!(c.name, "child");
    g.release().unwrap();
    assert!(r.lookup_session("cs").unwrap().is_none());
    assert_eq!(
        r.adopt_allocation("ghost", None, "x".into())
            .err()
            .unwrap()
            .code(),
        "EUNKNOWN"
    );
}

#[test]
fn guard_does_not_remove_a_newcomer_with_the_same_name() {
    let (_d, r) = open();
    let mut g = r
        .install_top_level(spec("a", vec![w("/src")]), "s1".into())
        .unwrap();
    r.release("a").unwrap();
    r.register(spec("a", vec![w("/src")]), "s2".into()).unwrap();
    assert!(!g.release().unwrap());
    assert_eq!(r.list().unwrap()[0].session_id.as_deref(), Some("s2"));
}

#[test]
fn every_operation_reclaims_with_the_probe_and_saves() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("scope.json");
    static DEAD: AtomicI32 = AtomicI32::new(0);
    let r = Registry::open(Some(p.to_str().unwrap()))
        .unwrap()
        .with_liveness(|a| a.pid != DEAD.load(Ordering::SeqCst));
    // b's owner runs throughout: only the probe calls it dead.
    let owner = sleeper();
    let b_pid = pid_of(&owner);
    r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
    r.delegate(
        "a",
        Spec {
            pid: Some(b_pid),
            ..spec("b", vec![w("/src/core")])
        },
    )
    .unwrap();
    r.delegate("b", spec("d", vec![w("/src/core/x")])).unwrap();
    DEAD.store(b_pid.get(), Ordering::SeqCst);
    assert!(r.lookup_session("nope").unwrap().is_none());
    // Saved: a fresh handle with the real probe (to which b's owner is alive) sees b gone
    // and d under a.
    let fresh = Registry::open(Some(p.to_str().unwrap())).unwrap();
    let l = fresh.list().unwrap();
    assert_eq!(
        l.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["a", "d"]
    );
    assert_eq!(l[1].delegated_from.as_deref(), Some("a"));
    assert!(r.reclaim_stale().unwrap().is_empty());
    kill_and_reap(owner);
}

#[test]
fn real_probe_reclaims_a_dead_child_process() {
    let (_d, r) = open();
    let child = sleeper();
    let pid = pid_of(&child);
    r.register(spec("me", vec![w("/me")]), "s".into()).unwrap();
    r.register(
        Spec {
            pid: Some(pid),
            ..spec("gone", vec![w("/gone")])
        },
        "g".into(),
    )
    .unwrap();
    kill_and_reap(child);
    assert_eq!(r.reclaim_stale().unwrap(), vec!["gone".to_string()]);
    assert_eq!(r.list().unwrap().len(), 1);
}

#[test]
fn corrupt_file_is_refused_and_left_unchanged_until_repair() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("scope.json");
    std::fs::write(&p, b"{\"version\":1,\"allocations\":[").unwrap();
    let e = Registry::open(Some(p.to_str().unwrap())).err().unwrap();
    assert_eq!(e.code(), "ECORRUPT");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        b"{\"version\":1,\"allocations\":["
    );
    let aside = Registry::repair(p.to_str().unwrap()).unwrap().unwrap();
    assert!(aside.to_str().unwrap().contains("scope.json.corrupt-"));
    let r = Registry::open(Some(p.to_str().unwrap())).unwrap();
    assert!(r.list().unwrap().is_empty());
    assert_eq!(Registry::repair(p.to_str().unwrap()).unwrap(), None);
}

#[test]
fn corrupt_after_open_is_reported_by_the_next_operation() {
    let (d, r) = open();
    r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
    std::fs::write(d.path().join("scope.json"), b"garbage").unwrap();
    assert_eq!(r.list().unwrap_err().code(), "ECORRUPT");
    assert_eq!(
        r.register(spec("b", vec![w("/b")]), "s".into())
            .unwrap_err()
            .code(),
        "ECORRUPT"
    );
    assert_eq!(
        std::fs::read(d.path().join("scope.json")).unwrap(),
        b"garbage"
    );
}
