//! The frames of the instance channel: a 4-byte big-endian length, then that many bytes of
//! body (UTF-8 JSON, decided by the TypeScript layer).
//!
//! Why a length prefix: a stream socket has no message boundaries, and a reader that waits
//! for "the end" (EOF, a newline) either cannot tell a complete message from a primary that
//! died mid-message, or breaks on a newline inside an argument. With the length first, the
//! reader knows a frame is whole, and can refuse one that is too large *before* reading its
//! body (a second instance cannot make the primary, or the primary the second instance,
//! buffer gigabytes).
//! Test: `tests::*` below; `deliver::tests` over real sockets.

use sole_error::{Error, Result};

/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;

/// The largest body a frame can carry (the prefix is a `u32`).
pub const MAX_BODY_BYTES: usize = u32::MAX as usize;

/// What the bytes read so far hold.
/// Test: `tests::decodes_whole_partial_and_oversized_frames`.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Not a whole frame yet: read more.
    Incomplete,
    /// A whole frame: its body, and how many bytes (prefix + body) it took.
    Frame { body: &'a [u8], consumed: usize },
    /// The prefix announces a body longer than the reader's limit (nothing more need be read).
    TooLarge { length: usize },
}

/// Why: the client and the tests must frame a body exactly as the primary reads it.
/// What: `body` with its 4-byte big-endian length in front; `EINVAL` (argument `payload`) for
/// a body over [`MAX_BODY_BYTES`], which no prefix can announce.
/// Test: `tests::encode_prefixes_the_big_endian_length`.
pub fn encode(body: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(body.len()).map_err(|_| {
        Error::invalid_argument(
            "payload",
            format!(
                "the message is {} bytes; a frame holds at most {MAX_BODY_BYTES} bytes: send less.",
                body.len()
            ),
        )
    })?;
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Why: one parser for the reader's loop and the tests, deciding "too large" from the prefix
/// alone.
/// What: the first frame in `buf` when it is whole, [`Decoded::TooLarge`] when its announced
/// length exceeds `max_body`, else [`Decoded::Incomplete`]. Pure; bytes after the frame are
/// left to the caller.
/// Test: `tests::decodes_whole_partial_and_oversized_frames`.
pub fn decode(buf: &[u8], max_body: usize) -> Decoded<'_> {
    let Some(prefix) = buf.get(..HEADER_BYTES) else {
        return Decoded::Incomplete;
    };
    let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if length > max_body {
        return Decoded::TooLarge { length };
    }
    match buf.get(HEADER_BYTES..HEADER_BYTES + length) {
        Some(body) => Decoded::Frame {
            body,
            consumed: HEADER_BYTES + length,
        },
        None => Decoded::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_prefixes_the_big_endian_length() {
        assert_eq!(encode(b"").unwrap(), vec![0, 0, 0, 0]);
        assert_eq!(encode(b"hi").unwrap(), vec![0, 0, 0, 2, b'h', b'i']);
        let big = vec![7u8; 0x0001_0203];
        let f = encode(&big).unwrap();
        assert_eq!(&f[..4], &[0, 1, 2, 3]);
        assert_eq!(f.len(), 4 + big.len());
    }

    #[test]
    fn decodes_whole_partial_and_oversized_frames() {
        let f = encode(b"{\"v\":1}").unwrap();
        for cut in 0..f.len() {
            assert_eq!(decode(&f[..cut], 100), Decoded::Incomplete, "cut at {cut}");
        }
        let mut two = f.clone();
        two.extend_from_slice(&encode(b"x").unwrap());
        assert_eq!(
            decode(&two, 100),
            Decoded::Frame {
                body: b"{\"v\":1}",
                consumed: f.len()
            }
        );
        // The limit is exact, and decided from the prefix alone.
        assert!(matches!(decode(&f, 7), Decoded::Frame { .. }));
        assert_eq!(decode(&f[..4], 6), Decoded::TooLarge { length: 7 });
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], usize::MAX),
            Decoded::Incomplete
        );
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], 10),
            Decoded::TooLarge {
                length: u32::MAX as usize
            }
        );
    }
}
