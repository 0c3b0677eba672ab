//! Record files: one JSON object per line (`.jsonl`) or protobuf messages each
//! preceded by its length as a varint (`.pb`); the extension picks the format.
//!
//! [`RecordReader`] yields each record's raw bytes with its position (1-based
//! line for `.jsonl`, 0-based record index for both) and never fails on bad
//! content: an unterminated or truncated last record is still yielded, and the
//! decoder rejects it. Only I/O errors are errors. It also tells the byte
//! offset of the next record ([`RecordReader::position`]), and can start at
//! one ([`RecordReader::open_at`]): how a resumed run goes straight to its
//! recorded positions instead of reading the file from its start.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use racecast_dataflow::Format;
use racecast_dataflow::codec;
use racecast_proto::v1 as pb;

/// Errors of record files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The extension is neither `.jsonl`/`.json` nor `.pb`.
    #[error("cannot tell the format of \"{0}\": use a .jsonl or .pb file name")]
    UnknownFormat(PathBuf),
    /// Opening, reading or writing failed.
    #[error("could not {action} \"{path}\"")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The format a file name implies.
pub fn format_of(path: &Path) -> Result<Format, FileError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json" | "ndjson") => Ok(Format::Json),
        Some("pb" | "bin") => Ok(Format::Protobuf),
        _ => Err(FileError::UnknownFormat(path.to_owned())),
    }
}

/// Writes records in a file's format.
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    buffer: Vec<u8>,
    path: PathBuf,
}

impl RecordWriter<BufWriter<File>> {
    /// Creates (truncates) `path`, with the format its extension implies.
    pub fn create(path: &Path) -> Result<Self, FileError> {
        let format = format_of(path)?;
        let file = File::create(path).map_err(|source| FileError::Io {
            action: "create",
            path: path.to_owned(),
            source,
        })?;
        Ok(RecordWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            format,
            path,
        ))
    }
}

impl<W: Write> RecordWriter<W> {
    /// Wraps a writer.
    pub fn new(out: W, format: Format, path: &Path) -> Self {
        RecordWriter {
            out,
            format,
            buffer: Vec::with_capacity(512),
            path: path.to_owned(),
        }
    }

    fn io(&self, source: io::Error) -> FileError {
        FileError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        }
    }

    /// Writes one record given as already-encoded value bytes (JSON text
    /// without newline, or a protobuf message).
    pub fn write_raw(&mut self, value: &[u8]) -> Result<(), FileError> {
        self.write_raw_value(value)
    }

    /// Writes one event in the file's format.
    pub fn write_event(&mut self, event: &pb::TelemetryEvent) -> Result<(), FileError> {
        let mut value = std::mem::take(&mut self.buffer);
        codec::encode_event(event, self.format, &mut value);
        let result = self.write_raw_value(&value);
        self.buffer = value;
        result
    }

    /// Writes one entry-list record in the file's format.
    pub fn write_entry(&mut self, entry: &pb::EntryListRecord) -> Result<(), FileError> {
        let mut value = Vec::new();
        codec::encode_entry(entry, self.format, &mut value);
        self.write_raw_value(&value)
    }

    fn write_raw_value(&mut self, value: &[u8]) -> Result<(), FileError> {
        let result = match self.format {
            Format::Json => self.out.write_all(value).and_then(|()| self.out.write_all(b"\n")),
            Format::Protobuf => {
                let mut prefix = [0u8; 10];
                let mut slice = &mut prefix[..];
                prost::encoding::encode_varint(value.len() as u64, &mut slice);
                let used = 10 - slice.len();
                self.out
                    .write_all(&prefix[..used])
                    .and_then(|()| self.out.write_all(value))
            }
        };
        result.map_err(|e| self.io(e))
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, FileError> {
        self.out.flush().map_err(|e| self.io(e))?;
        Ok(self.out)
    }
}

/// One record read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// 0-based index of the record in the file.
    pub index: u64,
    /// The value bytes (without newline or length prefix).
    pub value: Vec<u8>,
}

/// Reads the records of a file, in order.
pub struct RecordReader<R: BufRead> {
    input: Counted<R>,
    format: Format,
    next_index: u64,
    /// Byte offset in the file where `input` starts.
    base: u64,
    path: PathBuf,
    done: bool,
    /// Length of the last record read.
    last_len: usize,
}

/// The most room reserved for a record before its bytes are read.
const RESERVE_AT_MOST: usize = 1 << 20;

/// A reader that counts the bytes taken from it.
struct Counted<R> {
    inner: R,
    taken: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.taken += amount as u64;
        self.inner.consume(amount);
    }
}

impl RecordReader<BufReader<File>> {
    /// Opens `path`, with the format its extension implies.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        Self::open_at(path, 0, 0)
    }

    /// Opens `path` at byte offset `byte`, where record `index` starts (as
    /// [`RecordReader::position`] said when it was read).
    pub fn open_at(path: &Path, byte: u64, index: u64) -> Result<Self, FileError> {
        let format = format_of(path)?;
        let io = |action, source| FileError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(|e| io("open", e))?;
        if byte > 0 {
            file.seek(SeekFrom::Start(byte)).map_err(|e| io("seek in", e))?;
        }
        let mut reader = RecordReader::new(BufReader::with_capacity(1 << 20, file), format, path);
        reader.base = byte;
        reader.next_index = index;
        Ok(reader)
    }
}

impl<R: BufRead> RecordReader<R> {
    /// Wraps a reader.
    pub fn new(input: R, format: Format, path: &Path) -> Self {
        RecordReader {
            input: Counted {
                inner: input,
                taken: 0,
            },
            format,
            next_index: 0,
            base: 0,
            path: path.to_owned(),
            done: false,
            last_len: 0,
        }
    }

    /// The byte offset of the next record in the file.
    pub fn position(&self) -> u64 {
        self.base + self.input.taken
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Reads the next record into `value` (cleared first); `Ok(None)` at the
    /// end of the file.
    pub fn read_into(&mut self, value: &mut Vec<u8>) -> Result<Option<u64>, FileError> {
        value.clear();
        if self.done {
            return Ok(None);
        }
        let io = |source| FileError::Io {
            action: "read",
            path: self.path.clone(),
            source,
        };
        let found = match self.format {
            Format::Json => {
                // Lines are of similar lengths: room for the last one's
                // saves growing a taken (empty) buffer step by step.
                value.reserve(self.last_len);
                let read = self.input.read_until(b'\n', value).map_err(io)?;
                if value.last() == Some(&b'\n') {
                    value.pop();
                    if value.last() == Some(&b'\r') {
                        value.pop();
                    }
                }
                read > 0
            }
            Format::Protobuf => match read_varint(&mut self.input).map_err(io)? {
                None => false,
                Some(Err(())) => {
                    // A broken length prefix: what follows cannot be framed.
                    // Yield the rest as one undecodable record and stop.
                    value.push(0xff);
                    self.input.read_to_end(value).map_err(io)?;
                    self.done = true;
                    true
                }
                Some(Ok(len)) => {
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    // Room up front (a buffer grown from empty by
                    // `read_to_end` was reallocated 3-4 times per record),
                    // but not on the word of a damaged prefix alone.
                    value.reserve_exact(len.min(RESERVE_AT_MOST));
                    let mut limited = (&mut self.input).take(len as u64);
                    limited.read_to_end(value).map_err(io)?;
                    if value.len() < len {
                        // Truncated last record: yield what there is.
                        self.done = true;
                    }
                    true
                }
            },
        };
        if !found {
            self.done = true;
            return Ok(None);
        }
        self.last_len = value.len();
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(index))
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<RawRecord, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut value = Vec::new();
        match self.read_into(&mut value) {
            Ok(Some(index)) => Some(Ok(RawRecord { index, value })),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a varint length prefix: `None` at a clean end of file,
/// `Some(Err(()))` for a malformed or truncated prefix.
fn read_varint<R: BufRead>(input: &mut R) -> io::Result<Option<Result<u64, ()>>> {
    let mut value: u64 = 0;
    for (i, shift) in (0..64).step_by(7).enumerate() {
        let mut byte = [0u8; 1];
        if input.read(&mut byte)? == 0 {
            return Ok(if i == 0 { None } else { Some(Err(())) });
        }
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(Some(Ok(value)));
        }
    }
    Ok(Some(Err(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(format: Format, records: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut writer = RecordWriter::new(Vec::new(), format, Path::new("mem"));
        for r in records {
            writer.write_raw(r).expect("write");
        }
        let bytes = writer.finish().expect("finish");
        RecordReader::new(&bytes[..], format, Path::new("mem"))
            .map(|r| r.expect("read").value)
            .collect()
    }

    /// Opening at the position the reader gave for a record reads from
    /// that record on, with its index, in both formats.
    #[test]
    fn a_reader_opened_at_a_position_goes_on_from_that_record() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let records: Vec<Vec<u8>> = (0..40u32)
            .map(|i| format!("{{\"n\":{}}}", i * 1_000_003).into_bytes())
            .chain([Vec::new(), vec![b'x'; 300]])
            .collect();
        for name in ["r.pb", "r.jsonl"] {
            let path = dir.path().join(name);
            let mut writer = RecordWriter::create(&path).expect("create");
            for r in &records {
                writer.write_raw(r).expect("write");
            }
            writer.finish().expect("finish");
            let mut reader = RecordReader::open(&path).expect("open");
            let mut positions = vec![reader.position()];
            let mut value = Vec::new();
            while reader.read_into(&mut value).expect("read").is_some() {
                positions.push(reader.position());
            }
            assert_eq!(positions.len(), records.len() + 1, "{name}");
            assert_eq!(
                positions.last().copied(),
                std::fs::metadata(&path).map(|m| m.len()).ok(),
                "{name}: the last position is the file's end"
            );
            for start in [0, 1, 17, records.len() - 1, records.len()] {
                let read: Vec<RawRecord> = RecordReader::open_at(&path, positions[start], start as u64)
                    .expect("open at")
                    .map(|r| r.expect("read"))
                    .collect();
                let expected: Vec<RawRecord> = records[start..]
                    .iter()
                    .enumerate()
                    .map(|(i, v)| RawRecord {
                        index: (start + i) as u64,
                        value: v.clone(),
                    })
                    .collect();
                assert_eq!(read, expected, "{name} from record {start}");
            }
        }
    }

    #[test]
    fn both_formats_round_trip() {
        let records: Vec<&[u8]> = vec![b"{\"a\":1}", b"", b"xyz"];
        assert_eq!(round_trip(Format::Protobuf, &records), records);
        // An empty line is still a record in JSON lines.
        assert_eq!(round_trip(Format::Json, &records), records);
    }

    #[test]
    fn truncated_protobuf_record_is_yielded() {
        let bytes = [5u8, 1, 2];
        let records: Vec<_> = RecordReader::new(&bytes[..], Format::Protobuf, Path::new("mem"))
            .map(|r| r.expect("read").value)
            .collect();
        assert_eq!(records, vec![vec![1, 2]]);
    }

    #[test]
    fn extension_picks_format() {
        assert_eq!(format_of(Path::new("a/race.pb")).ok(), Some(Format::Protobuf));
        assert_eq!(format_of(Path::new("race.jsonl")).ok(), Some(Format::Json));
        assert!(format_of(Path::new("race.csv")).is_err());
    }
}
