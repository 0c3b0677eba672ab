//! Deletion vectors: which rows of a data file a table version no longer
//! holds, kept beside the file instead of rewriting it (Delta protocol
//! "Deletion Vectors": reader version 3, writer version 7, table feature
//! `deletionVectors`).
//!
//! The silver table uses them for retractions: a corrected event's old row
//! is marked deleted in the file that holds it, and only the new row is
//! written (see [`super::parts`]). Readers skip marked rows ([`LiveRows`]).
//!
//! The on-disk format (PROTOCOL.md, "Deletion Vector Format"), written and
//! read here:
//!
//! ```text
//! deletion_vector_<uuid>.bin:  0x01 │ vector │ vector │ …
//! vector:  size (u32 BE) │ magic 1681511377 (u32 LE) │ 64-bit roaring bitmap │ CRC-32 (u32 BE)
//!          size and CRC cover magic + bitmap; a descriptor points at the size field
//! ```
//!
//! A descriptor of storage type `u` names the file by the z85 encoding of
//! its UUID (20 characters, after an optional directory prefix).

use std::path::Path;

use deltalake::arrow::array::{BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::kernel::{DeletionVectorDescriptor, StorageType};
use roaring::RoaringTreemap;

use super::DeltaError;
use crate::storage::Location;

/// A logical file of a table: a data file's path and its deletion vector
/// (the same parquet file with another vector is another logical file,
/// as in Delta's log replay).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogicalFile {
    /// The data file, relative to the table.
    pub path: String,
    /// The vector's storage type and path (or inline bytes) and offset.
    pub vector: Option<(String, Option<i32>)>,
}

impl LogicalFile {
    /// The logical file of `path` with deletion vector `dv`.
    pub fn of(path: &str, dv: Option<&DeletionVectorDescriptor>) -> LogicalFile {
        LogicalFile {
            path: path.to_owned(),
            vector: dv.map(|dv| {
                (
                    format!("{:?}:{}", dv.storage_type, dv.path_or_inline_dv),
                    dv.offset,
                )
            }),
        }
    }
}

/// The magic number that starts a serialized vector ("portable" 64-bit
/// roaring bitmap array).
const MAGIC: u32 = 1_681_511_377;

/// CRC-32 as in zlib (ISO HDLC), what the protocol's checksum is.
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

fn bad(path: &Path, detail: impl Into<String>) -> DeltaError {
    DeltaError::BadRow {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Deletion vectors collected into one file: one per worker and
/// checkpoint, written before the checkpoint commits.
#[derive(Debug)]
pub struct VectorFile {
    uuid: uuid::Uuid,
    bytes: Vec<u8>,
}

impl Default for VectorFile {
    fn default() -> Self {
        VectorFile {
            uuid: uuid::Uuid::new_v4(),
            bytes: vec![1],
        }
    }
}

impl VectorFile {
    /// Appends `deleted` (row indexes of one data file) and returns the
    /// descriptor that points at it, valid once [`VectorFile::write`] has
    /// written the file.
    pub fn push(&mut self, deleted: &RoaringTreemap) -> Result<DeletionVectorDescriptor, DeltaError> {
        let offset = self.bytes.len();
        let mut body = Vec::with_capacity(4 + deleted.serialized_size());
        body.extend_from_slice(&MAGIC.to_le_bytes());
        deleted
            .serialize_into(&mut body)
            .map_err(|source| DeltaError::Io {
                path: self.file_name().into(),
                source,
            })?;
        let (Ok(size), Ok(offset)) = (i32::try_from(body.len()), i32::try_from(offset)) else {
            return Err(bad(
                Path::new(&self.file_name()),
                "a deletion vector file past 2 GiB",
            ));
        };
        self.bytes.extend_from_slice(&(size as u32).to_be_bytes());
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&CRC.checksum(&body).to_be_bytes());
        Ok(DeletionVectorDescriptor {
            storage_type: StorageType::UuidRelativePath,
            path_or_inline_dv: z85::encode(self.uuid.as_bytes()),
            offset: Some(offset),
            size_in_bytes: size,
            cardinality: deleted.len() as i64,
        })
    }

    /// Whether no vector was pushed.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == 1
    }

    fn file_name(&self) -> String {
        format!("deletion_vector_{}.bin", self.uuid)
    }

    /// Writes the file into the table directory `dir` (nothing when empty).
    pub fn write(&self, dir: &Location) -> Result<(), DeltaError> {
        if self.is_empty() {
            return Ok(());
        }
        Ok(dir.write(&self.file_name(), self.bytes.clone())?)
    }
}

/// The file a stored (`u` or `p`) descriptor points at, relative to the
/// table directory `dir`.
fn vector_path(dir: &Location, dv: &DeletionVectorDescriptor) -> Result<String, DeltaError> {
    let dir_url = dir.url().clone();
    let dir_name = dir.to_string();
    let dir = Path::new(&dir_name);
    let encoded = &dv.path_or_inline_dv;
    match dv.storage_type {
        StorageType::UuidRelativePath => {
            let split = encoded
                .len()
                .checked_sub(20)
                .filter(|&i| encoded.is_char_boundary(i));
            let uuid = split
                .and_then(|i| z85::decode(&encoded[i..]).ok())
                .and_then(|b| uuid::Uuid::from_slice(&b).ok())
                .ok_or_else(|| {
                    bad(
                        dir,
                        format!("a deletion vector path {encoded:?} without a z85 UUID"),
                    )
                })?;
            let prefix = &encoded[..split.unwrap_or(0)];
            let name = format!("deletion_vector_{uuid}.bin");
            Ok(if prefix.is_empty() {
                name
            } else {
                format!("{}/{name}", prefix.trim_end_matches('/'))
            })
        }
        StorageType::AbsolutePath => encoded
            .strip_prefix(dir_url.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                bad(
                    dir,
                    format!("a deletion vector path {encoded:?} outside the table"),
                )
            }),
        StorageType::Inline => Err(bad(dir, "an inline deletion vector has no file")),
    }
}

/// Decodes magic + bitmap (`body`) of a vector read from `path`.
fn decode(path: &Path, body: &[u8], dv: &DeletionVectorDescriptor) -> Result<RoaringTreemap, DeltaError> {
    let (magic, bitmap) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| bad(path, "a deletion vector shorter than its magic number"))?;
    if u32::from_le_bytes(*magic) != MAGIC {
        return Err(bad(
            path,
            "a deletion vector that is not a portable roaring bitmap array",
        ));
    }
    let deleted = RoaringTreemap::deserialize_from(bitmap)
        .map_err(|e| bad(path, format!("a deletion vector that does not decode: {e}")))?;
    if deleted.len() as i64 != dv.cardinality {
        return Err(bad(
            path,
            format!(
                "a deletion vector of {} rows where its descriptor says {}",
                deleted.len(),
                dv.cardinality
            ),
        ));
    }
    Ok(deleted)
}

/// Reads the rows `dv` marks deleted, for a data file of the table in `dir`.
pub fn read(dir: &Location, dv: &DeletionVectorDescriptor) -> Result<RoaringTreemap, DeltaError> {
    if dv.storage_type == StorageType::Inline {
        let name = dir.to_string();
        let body = z85::decode(&dv.path_or_inline_dv).map_err(|e| {
            bad(
                Path::new(&name),
                format!("an inline deletion vector that is not z85: {e}"),
            )
        })?;
        let size = usize::try_from(dv.size_in_bytes).unwrap_or(0).min(body.len());
        return decode(Path::new(&name), &body[..size], dv);
    }
    let relative = vector_path(dir, dv)?;
    let url = dir.object_url(&relative);
    let path = Path::new(&url);
    let missing = || bad(path, "a deletion vector file that is not there");
    let file = dir.read(&relative)?.ok_or_else(missing)?;
    let offset = usize::try_from(dv.offset.unwrap_or(1)).map_err(|_| bad(path, "a negative offset"))?;
    let short = || bad(path, "a deletion vector past the end of its file");
    let size: [u8; 4] = file
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(short)?;
    let size = u32::from_be_bytes(size) as usize;
    if i32::try_from(size).ok() != Some(dv.size_in_bytes) {
        return Err(bad(
            path,
            format!(
                "a deletion vector of {size} bytes where its descriptor says {}",
                dv.size_in_bytes
            ),
        ));
    }
    let body = file.get(offset + 4..offset + 8 + size).ok_or_else(short)?;
    let (body, crc) = body.split_at(size);
    let crc = u32::from_be_bytes(crc.try_into().map_err(|_| bad(path, "no checksum"))?);
    if CRC.checksum(body) != crc {
        return Err(bad(path, "a deletion vector whose checksum does not match"));
    }
    decode(path, body, dv)
}

/// The live rows of one data file, batch by batch in file order: drops the
/// rows its deletion vector (if any) marks deleted.
#[derive(Debug, Default)]
pub struct LiveRows {
    deleted: Option<RoaringTreemap>,
    next: u64,
}

impl LiveRows {
    /// For a data file of the table in `dir` with deletion vector `dv`.
    pub fn of(dir: &Location, dv: Option<&DeletionVectorDescriptor>) -> Result<LiveRows, DeltaError> {
        Ok(LiveRows {
            deleted: dv.map(|dv| read(dir, dv)).transpose()?,
            next: 0,
        })
    }

    /// Rows marked deleted.
    pub fn deleted(&self) -> u64 {
        self.deleted.as_ref().map_or(0, RoaringTreemap::len)
    }

    /// Whether the file's row `row` is marked deleted.
    pub fn is_deleted(&self, row: u64) -> bool {
        self.deleted.as_ref().is_some_and(|d| d.contains(row))
    }

    /// The next batch of the file without its deleted rows.
    pub fn filter(&mut self, batch: RecordBatch) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
        let first = self.next;
        self.next += batch.num_rows() as u64;
        let Some(deleted) = &self.deleted else {
            return Ok(batch);
        };
        if deleted.range_cardinality(first..self.next) == 0 {
            return Ok(batch);
        }
        let keep: BooleanArray = (first..self.next)
            .map(|row| Some(!deleted.contains(row)))
            .collect();
        filter_record_batch(&batch, &keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, Int32Array};
    use std::sync::Arc;

    #[test]
    fn vectors_read_back_from_their_file() {
        let temporary = tempfile::tempdir().expect("a temporary directory");
        let dir = Location::local(temporary.path()).expect("a location");
        let mut file = VectorFile::default();
        let first: RoaringTreemap = [1, 5, 7].into_iter().collect();
        let second: RoaringTreemap = [0, 70_000, 5_000_000_000].into_iter().collect();
        let (a, b) = (
            file.push(&first).expect("pushed"),
            file.push(&second).expect("pushed"),
        );
        file.write(&dir).expect("written");
        assert_eq!(a.offset, Some(1));
        assert_eq!(read(&dir, &a).expect("read"), first);
        assert_eq!(read(&dir, &b).expect("read"), second);
        assert_eq!(b.cardinality, 3);
    }

    #[test]
    fn a_damaged_vector_is_an_error() {
        let temporary = tempfile::tempdir().expect("a temporary directory");
        let dir = Location::local(temporary.path()).expect("a location");
        let mut file = VectorFile::default();
        let dv = file.push(&[3u64].into_iter().collect()).expect("pushed");
        file.write(&dir).expect("written");
        let path = temporary.path().join(vector_path(&dir, &dv).expect("a path"));
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 6;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).expect("written");
        let error = read(&dir, &dv).expect_err("a bad checksum");
        assert!(error.to_string().contains("deletion_vector_"), "{error}");
        let missing = DeletionVectorDescriptor {
            path_or_inline_dv: "short".into(),
            ..dv
        };
        assert!(read(&dir, &missing).is_err());
    }

    #[test]
    fn live_rows_drop_marked_rows_across_batches() {
        let temporary = tempfile::tempdir().expect("a temporary directory");
        let dir = Location::local(temporary.path()).expect("a location");
        let mut file = VectorFile::default();
        let dv = file.push(&[1u64, 4].into_iter().collect()).expect("pushed");
        file.write(&dir).expect("written");
        let batch = |values: Vec<i32>| {
            let schema = Arc::new(deltalake::arrow::datatypes::Schema::new(vec![
                deltalake::arrow::datatypes::Field::new(
                    "v",
                    deltalake::arrow::datatypes::DataType::Int32,
                    false,
                ),
            ]));
            RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(values))]).expect("a batch")
        };
        let mut live = LiveRows::of(&dir, Some(&dv)).expect("opened");
        let values = |b: RecordBatch| {
            let column = b
                .column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .expect("ints")
                .clone();
            column.values().to_vec()
        };
        assert_eq!(
            values(live.filter(batch(vec![10, 11, 12])).expect("kept")),
            [10, 12]
        );
        assert_eq!(values(live.filter(batch(vec![13, 14])).expect("kept")), [13]);
        assert_eq!(live.deleted(), 2);
        let mut none = LiveRows::of(&dir, None).expect("opened");
        assert_eq!(values(none.filter(batch(vec![1, 2])).expect("kept")), [1, 2]);
    }
}
