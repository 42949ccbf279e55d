//! What the crate's tests share (test builds only).

use std::path::Path;

/// The system python (readable by every user, so a dropped sender can run it) when there is
/// one, else PATH's.
pub(crate) fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}
