//! The TypeScript view of the one table of codes: `lib/codes.ts` is generated from
//! [`crate::Kind::NAMED`] and [`crate::ERRNO_NAMES`], so a code is never hand-typed in
//! TypeScript and cannot drift from what the crates throw.
//!
//! Why generated and checked in (rather than written by `build.rs`): the TypeScript layer is
//! compiled by `tsc` from the repository alone, and a reviewer sees a new code in the diff.
//! `examples/codes_ts.rs` writes the file (`scripts/ensure-built.mjs` runs it before every
//! build); `tests::lib_codes_ts_is_fresh` fails when the committed file is stale.

use std::fmt::Write;

use crate::{Kind, ERRNO_NAMES};

/// The text of `lib/codes.ts`.
pub fn codes_ts() -> String {
    let mut out = String::from(
        "// Generated from crates/error/src/lib.rs (the one table of error codes) by\n\
         // `cargo run -p sole-error --example codes_ts`. Do not edit: edit the table.\n\n\
         /** Every `code` sole's own errors carry, and the errno names of OS failures. */\n\
         export const Code = {\n",
    );
    let mut seen = Vec::new();
    for (_, code, doc) in Kind::NAMED {
        let doc = doc.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            out,
            "  /** {} */\n  {code}: '{code}',",
            doc.replace("*/", "* /")
        );
        seen.push(*code);
    }
    for (_, name) in ERRNO_NAMES {
        if !seen.contains(name) {
            let _ = writeln!(
                out,
                "  /** An operating-system failure (errno {name}). */\n  {name}: '{name}',"
            );
            seen.push(name);
        }
    }
    out.push_str(
        "} as const\n\n\
         /** A code from {@link Code}. */\n\
         export type Code = (typeof Code)[keyof typeof Code]\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when `lib/codes.ts` was not regenerated after the table changed: run
    /// `cargo run -p sole-error --example codes_ts`.
    #[test]
    fn lib_codes_ts_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lib/codes.ts");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == codes_ts(),
            "lib/codes.ts is stale: run `cargo run -p sole-error --example codes_ts`"
        );
    }

    #[test]
    fn every_code_appears_once() {
        let text = codes_ts();
        for (_, code, _) in Kind::NAMED {
            assert_eq!(
                text.matches(&format!("  {code}: '{code}',")).count(),
                1,
                "{code}"
            );
        }
        assert!(text.contains("EBUSY: 'EBUSY'"));
    }
}
