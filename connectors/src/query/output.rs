//! A query's rows written out: as an aligned text table, CSV with a
//! header, JSON lines (one object per row, nulls left out) or Parquet; to
//! any writer, or to a file that appears only once every row is in it
//! (written beside it, then renamed).

use std::io::Write;
use std::path::Path;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::QueryError;

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table (every row is held until the last arrives).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
    /// One Parquet file.
    Parquet,
}

impl Format {
    /// Every format, by name.
    pub const NAMES: [(&'static str, Format); 4] = [
        ("table", Format::Table),
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("parquet", Format::Parquet),
    ];

    /// The format a file's extension names (`.csv`, `.json`/`.jsonl`,
    /// `.parquet`, `.txt`).
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "csv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("unknown format \"{s}\" (table, csv, json or parquet)"))
    }
}

/// Writes every row of `rows` to `out`; returns how many.
pub async fn write_to<W: Write + Send>(
    mut rows: SendableRecordBatchStream,
    format: Format,
    out: W,
    target: &str,
) -> Result<u64, QueryError> {
    let io = |source: std::io::Error| QueryError::Write {
        target: target.to_owned(),
        source,
    };
    let arrow = |e: deltalake::arrow::error::ArrowError| io(std::io::Error::other(e));
    let schema = rows.schema();
    let mut count = 0u64;
    match format {
        Format::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = next_batch(&mut rows, &mut count).await? {
                batches.push(batch);
            }
            let text = if batches.is_empty() {
                deltalake::arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(schema)])
            } else {
                deltalake::arrow::util::pretty::pretty_format_batches(&batches)
            }
            .map_err(arrow)?;
            let mut out = out;
            writeln!(out, "{text}").map_err(io)?;
            out.flush().map_err(io)?;
        }
        Format::Csv => {
            let mut writer = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            let mut wrote = false;
            while let Some(batch) = next_batch(&mut rows, &mut count).await? {
                writer.write(&batch).map_err(arrow)?;
                wrote = true;
            }
            if !wrote {
                writer.write(&RecordBatch::new_empty(schema)).map_err(arrow)?;
            }
            writer.into_inner().flush().map_err(io)?;
        }
        Format::Json => {
            let mut writer = deltalake::arrow::json::LineDelimitedWriter::new(out);
            while let Some(batch) = next_batch(&mut rows, &mut count).await? {
                writer.write(&batch).map_err(arrow)?;
            }
            writer.finish().map_err(arrow)?;
            writer.into_inner().flush().map_err(io)?;
        }
        Format::Parquet => {
            let mut writer = deltalake::parquet::arrow::ArrowWriter::try_new(out, schema, None)
                .map_err(|e| io(std::io::Error::other(e)))?;
            while let Some(batch) = next_batch(&mut rows, &mut count).await? {
                writer.write(&batch).map_err(|e| io(std::io::Error::other(e)))?;
            }
            writer.close().map_err(|e| io(std::io::Error::other(e)))?;
        }
    }
    Ok(count)
}

async fn next_batch(
    rows: &mut SendableRecordBatchStream,
    count: &mut u64,
) -> Result<Option<RecordBatch>, QueryError> {
    match rows.next().await {
        Some(batch) => {
            let batch = batch.map_err(|e| QueryError::Execution(e.to_string()))?;
            *count += batch.num_rows() as u64;
            Ok(Some(batch))
        }
        None => Ok(None),
    }
}

/// Writes every row of `rows` to the file `path`, which appears (or is
/// replaced) only once they are all in it; returns how many.
pub async fn write_file(
    rows: SendableRecordBatchStream,
    format: Format,
    path: &Path,
) -> Result<u64, QueryError> {
    let target = format!("\"{}\"", path.display());
    let io = |source: std::io::Error| QueryError::Write {
        target: target.clone(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut temp = tempfile_in(dir).map_err(io)?;
    let count = write_to(rows, format, std::io::BufWriter::new(temp.as_file_mut()), &target).await?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(count)
}

fn tempfile_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".racecast-query-")
        .tempfile_in(dir)
}
