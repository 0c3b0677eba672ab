//! Confluent Schema Registry wire format: strips the 5-byte header
//! (magic byte `0` + big-endian schema id) and, for protobuf, the
//! message-index list that follows it.
//!
//! A bare protobuf message never starts with byte `0` (field number 0 is
//! invalid) and a JSON document starts with `{` or whitespace, so a leading
//! `0` is an unambiguous sign of the wire format.

use crate::reason::{ReasonKind, Reasons};

/// What a record's framing said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// The schema id, when the record used the Confluent wire format.
    pub schema_id: Option<u32>,
}

/// Splits off a Confluent header if there is one. `protobuf` selects whether
/// a message-index list follows the schema id.
pub fn strip(bytes: &[u8], protobuf: bool) -> Result<(Framing, &[u8]), Reasons> {
    if bytes.first() != Some(&0) {
        return Ok((Framing { schema_id: None }, bytes));
    }
    let mut reasons = Reasons::default();
    let Some(header) = bytes.get(1..5) else {
        reasons.push(ReasonKind::Wire, "magic");
        return Err(reasons);
    };
    let schema_id = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let mut rest = &bytes[5..];
    if protobuf {
        // A zig-zag varint count, then that many zig-zag varint indexes; the
        // common case [0] is written as a single 0 byte.
        let count = read_zigzag(&mut rest).filter(|&c| (0..=1024).contains(&c));
        let Some(count) = count else {
            reasons.push(ReasonKind::Wire, "message_index");
            return Err(reasons);
        };
        for _ in 0..count {
            if read_zigzag(&mut rest).is_none_or(|index| index < 0) {
                reasons.push(ReasonKind::Wire, "message_index");
                return Err(reasons);
            }
        }
    }
    Ok((
        Framing {
            schema_id: Some(schema_id),
        },
        rest,
    ))
}

/// Writes the Confluent header (with the message-index list `[0]` for protobuf).
pub fn write_header(out: &mut Vec<u8>, schema_id: u32, protobuf: bool) {
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    if protobuf {
        out.push(0);
    }
}

fn read_zigzag(bytes: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let signed = (value >> 1) as i64 ^ -((value & 1) as i64);
            return Some(signed);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_messages_pass_through() {
        let (framing, rest) = strip(b"\x0a\x01x", true).expect("bare");
        assert_eq!(framing.schema_id, None);
        assert_eq!(rest, b"\x0a\x01x");
    }

    #[test]
    fn header_is_stripped() {
        let mut bytes = Vec::new();
        write_header(&mut bytes, 42, true);
        bytes.extend_from_slice(b"\x0a\x01x");
        let (framing, rest) = strip(&bytes, true).expect("framed");
        assert_eq!(framing.schema_id, Some(42));
        assert_eq!(rest, b"\x0a\x01x");
        // Message-index list [1, 2]: count 2 (zig-zag 4), then 2 and 4.
        let bytes = [0, 0, 0, 0, 7, 4, 2, 4, 0x0a];
        assert_eq!(strip(&bytes, true).expect("indexes").1, &[0x0a]);
        let (_, json) = strip(b"\0\0\0\0\x01{}", false).expect("json");
        assert_eq!(json, b"{}");
    }

    #[test]
    fn broken_headers_are_reasons() {
        for bytes in [
            &b"\0\0\0"[..],
            &[0, 0, 0, 0, 1],
            &[0, 0, 0, 0, 1, 0x80],
            &[0, 0, 0, 0, 1, 1],
        ] {
            let codes = strip(bytes, true).expect_err("broken").codes();
            assert!(codes[0].starts_with("wire:"), "{codes:?}");
        }
    }
}
