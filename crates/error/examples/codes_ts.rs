//! Writes `lib/codes.ts` from the one table of error codes (see `sole_error::codes_ts`).
//! Run by `scripts/ensure-built.mjs` before every build.

fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lib/codes.ts");
    let text = sole_error::codes_ts();
    if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(path, text)?;
    }
    Ok(())
}
