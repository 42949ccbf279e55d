//! A process SIGKILLed between the write of its fencing token and the fsync: the token it never
//! returned is burned, and the next holder's token is greater than it (never equal).
//!
//! The child is this test binary again, run with `SOLE_FENCE_CHILD=path`: it takes a fenced
//! lock, and in the seam between write and fsync (`fencing::advance_with`) it reports the
//! written token on stdout and stops itself; the parent SIGKILLs it there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use sole_lock::{fencing, Lock, Mode, OpenOptions};

const CHILD: &str = "SOLE_FENCE_CHILD";

#[test]
fn fence_child() {
    // Only does something when run as the child of `killed_between_write_and_fsync`.
    let Some(p) = std::env::var_os(CHILD) else {
        return;
    };
    let p = Path::new(&p);
    let l = Lock::try_lock(p, Mode::Exclusive, &OpenOptions::default())
        .unwrap()
        .unwrap();
    let _ = fencing::advance_with(l.file(), p, || {
        let t = fencing::read(p).unwrap().unwrap();
        println!("written {t}");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
        // Never reached: the parent kills us while stopped.
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    println!("not killed");
}

#[test]
fn killed_between_write_and_fsync() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.lock");
    let fenced = OpenOptions {
        fencing: true,
        ..Default::default()
    };
    let before = Lock::try_lock(&p, Mode::Exclusive, &fenced)
        .unwrap()
        .unwrap()
        .token()
        .unwrap();
    {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "fence_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, &p)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let written = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
            // libtest prints "test fence_child ... " on the same line.
            if let Some((_, t)) = line.trim().split_once("written ") {
                break t.parse::<u64>().unwrap();
            }
        };
        assert_eq!(written, before + 1);
        child.kill().unwrap(); // SIGKILL, while stopped between write and fsync
        child.wait().unwrap();
        let next = Lock::lock(&p, Mode::Exclusive, &fenced, None)
            .unwrap()
            .token()
            .unwrap();
        assert!(next > written, "{next} > {written}");
        assert_eq!(fencing::read(&p).unwrap(), Some(next));
    }
}
