//! Where the tables live: a [`Location`] is a local directory or a prefix
//! of an S3 bucket, and every read and write of a table's files (data
//! files, deletion vectors, Delta logs, checkpoint manifests) goes through
//! its [`object_store`] (the crate deltalake itself uses), so that one code
//! path serves both.
//!
//! - `--data ./data`, `--data file:///srv/racecast`: a local directory
//!   (object_store's `LocalFileSystem`: each put is a temporary file
//!   renamed into place, so a reader never sees half a file).
//! - `--data s3://bucket/prefix`: an S3 bucket ([`s3`]), credentials and
//!   endpoint from the usual `AWS_*` variables and `--storage-option`.
//!
//! [`lease`] keeps a second run from writing the same tables.
//!
//! The table code is synchronous (it runs on timely's worker threads);
//! [`blocking`] runs each store call on a shared I/O runtime and waits
//! for it, which is safe from inside another runtime as well.

pub mod blocking;
pub mod lease;
pub mod s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use url::Url;

/// Objects up to this size are one PUT; larger ones a multipart upload of
/// parts this size (S3's parts must be at least 5 MiB).
pub const MULTIPART: usize = 16 << 20;

/// Errors of a location: definite (the store's own retries, with backoff
/// and a bounded total, are already spent).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `--data` is neither a path nor a URL racecast can write to.
    #[error("\"{text}\" is not a location racecast can use: {detail}")]
    BadLocation {
        /// What was given.
        text: String,
        /// Why not.
        detail: String,
    },
    /// A `--storage-option` the store does not know.
    #[error("unknown storage option \"{0}\" (see README: Tables on S3)")]
    UnknownOption(String),
    /// The store refused or failed an operation on an object.
    #[error("could not {operation} \"{object}\"")]
    Object {
        /// What was being done.
        operation: &'static str,
        /// The object's URL (no credentials).
        object: String,
        /// The cause (boxed: object_store's errors are large).
        #[source]
        source: Box<object_store::Error>,
    },
    /// Another live run holds the tables.
    #[error(
        "another run is writing the tables under \"{location}\" ({holder}); stop it first (if it crashed, its lease expires {ttl_s} s after its last renewal)"
    )]
    Held {
        /// The data root.
        location: String,
        /// Who holds them.
        holder: String,
        /// The lease's time to live, in seconds.
        ttl_s: u64,
    },
    /// The I/O runtime went away (the process is stopping).
    #[error("the storage I/O runtime stopped")]
    Stopped,
}

/// A directory of a store: the data root, a table, or a folder in one.
/// Cheap to clone: the store is shared.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// The directory's URL, with a trailing slash.
    url: Url,
    /// The directory's path in `store`.
    prefix: ObjectPath,
    /// The local directory, when the store is the local filesystem.
    local: Option<PathBuf>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({})", self.url)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.local {
            Some(path) => write!(f, "{}", path.display()),
            None => write!(f, "{}", self.url),
        }
    }
}

impl Location {
    /// Parses `--data`: a local path, `file://…` or `s3://bucket/prefix`
    /// (with `options`, `--storage-option KEY=VALUE`, over the `AWS_*`
    /// variables; an S3 bucket is checked with one request).
    pub fn parse(text: &str, options: &BTreeMap<String, String>) -> Result<Location, StorageError> {
        let bad = |detail: String| StorageError::BadLocation {
            text: text.to_owned(),
            detail,
        };
        match text.split_once("://").map(|(scheme, _)| scheme) {
            Some("s3" | "s3a") => {
                let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
                s3::location(url, options)
            }
            Some("file") => {
                let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
                let path = url
                    .to_file_path()
                    .map_err(|()| bad("not a local file URL".to_owned()))?;
                Self::local_checked(text, &path, options)
            }
            Some(other) => Err(bad(format!(
                "the scheme \"{other}\" is not supported (a local path, file:// or s3://)"
            ))),
            None => Self::local_checked(text, Path::new(text), options),
        }
    }

    fn local_checked(
        text: &str,
        path: &Path,
        options: &BTreeMap<String, String>,
    ) -> Result<Location, StorageError> {
        if let Some(key) = options.keys().next() {
            return Err(StorageError::BadLocation {
                text: text.to_owned(),
                detail: format!("storage option \"{key}\" applies to s3:// locations only"),
            });
        }
        Self::local(path)
    }

    /// A local directory (it need not exist yet: writes create it).
    pub fn local(path: &Path) -> Result<Location, StorageError> {
        let bad = |detail: String| StorageError::BadLocation {
            text: path.display().to_string(),
            detail,
        };
        let dir = match path.canonicalize() {
            Ok(dir) => dir,
            Err(_) => std::path::absolute(path).map_err(|e| bad(e.to_string()))?,
        };
        let url = Url::from_directory_path(&dir).map_err(|()| bad("not an absolute path".to_owned()))?;
        let prefix = ObjectPath::from_absolute_path(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Location {
            store: Arc::new(LocalFileSystem::new()),
            url,
            prefix,
            local: Some(dir),
        })
    }

    /// A location on `store` (its root) at `url`, whose path in the store
    /// is `prefix`.
    pub(crate) fn on_store(store: Arc<dyn ObjectStore>, mut url: Url, prefix: ObjectPath) -> Location {
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Location {
            store,
            url,
            prefix,
            local: None,
        }
    }

    /// The sub-directory `relative` ("a/b", no leading slash).
    pub fn join(&self, relative: &str) -> Location {
        let relative = relative.trim_matches('/');
        if relative.is_empty() {
            return self.clone();
        }
        let url = self
            .url
            .join(&format!("{relative}/"))
            .unwrap_or_else(|_| self.url.clone());
        let mut prefix = self.prefix.clone();
        for part in relative.split('/') {
            prefix = prefix.join(part);
        }
        Location {
            store: Arc::clone(&self.store),
            url,
            prefix,
            local: self.local.as_ref().map(|dir| dir.join(relative)),
        }
    }

    /// The directory's URL (with a trailing slash).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The local directory, if the location is one.
    pub fn local_path(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// The URL of the object `relative` (for messages).
    pub fn object_url(&self, relative: &str) -> String {
        format!("{}{}", self.display_prefix(), relative.trim_start_matches('/'))
    }

    fn display_prefix(&self) -> String {
        match &self.local {
            Some(dir) => format!("{}/", dir.display()),
            None => self.url.to_string(),
        }
    }

    fn path_of(&self, relative: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    fn error(
        &self,
        operation: &'static str,
        relative: &str,
    ) -> impl FnOnce(object_store::Error) -> StorageError {
        let object = self.object_url(relative);
        move |source| StorageError::Object {
            operation,
            object,
            source: Box::new(source),
        }
    }

    /// The object `relative`, `None` when there is none.
    pub fn read(&self, relative: &str) -> Result<Option<Bytes>, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let got = blocking::wait(async move {
            match store.get(&path).await {
                Ok(got) => got.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        got.map_err(self.error("read", relative))
    }

    /// Writes the object `relative` whole (readers see all of it or none
    /// of it): one PUT, or a multipart upload past [`MULTIPART`] bytes.
    pub fn write(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let put = blocking::wait(async move {
            if bytes.len() <= MULTIPART {
                return store.put(&path, PutPayload::from(bytes)).await.map(|_| ());
            }
            let upload = store.put_multipart(&path).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART);
            writer.put(Bytes::from(bytes));
            writer.finish().await.map(|_| ())
        })?;
        put.map_err(self.error("write", relative))
    }

    /// Writes the object `relative` only if there is none (a conditional
    /// put, `If-None-Match: *` on S3); `false` when one exists.
    pub fn write_new(&self, relative: &str, bytes: Vec<u8>) -> Result<bool, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let put = blocking::wait(async move {
            let options = PutOptions::from(PutMode::Create);
            match store.put_opts(&path, PutPayload::from(bytes), options).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        put.map_err(self.error("create", relative))
    }

    /// The size of the object `relative`, `None` when there is none.
    pub fn size(&self, relative: &str) -> Result<Option<u64>, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let head = blocking::wait(async move {
            match store.head(&path).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        head.map_err(self.error("look up", relative))
    }

    /// Whether the object `relative` exists.
    pub fn exists(&self, relative: &str) -> Result<bool, StorageError> {
        self.size(relative).map(|s| s.is_some())
    }

    /// The names of the objects directly in the folder `relative` (not in
    /// its sub-folders), empty when there is no such folder.
    pub fn list(&self, relative: &str) -> Result<Vec<String>, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let listed = blocking::wait(async move {
            match store.list_with_delimiter(Some(&path)).await {
                Ok(list) => Ok(list
                    .objects
                    .into_iter()
                    .filter_map(|o| o.location.filename().map(str::to_owned))
                    .collect()),
                Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })?;
        listed.map_err(self.error("list", relative))
    }

    /// The numbers `N` of the objects named `N.json` directly in the
    /// folder `relative` (Delta log versions, checkpoint manifests), in
    /// order.
    pub fn numbered_json(&self, relative: &str) -> Result<Vec<u64>, StorageError> {
        let mut numbers: Vec<u64> = self
            .list(relative)?
            .iter()
            .filter_map(|name| name.strip_suffix(".json").and_then(|n| n.parse().ok()))
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Whether the folder `relative` holds any object (at any depth).
    pub fn has_objects(&self, relative: &str) -> Result<bool, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let any = blocking::wait(async move {
            match store.list(Some(&path)).try_next().await {
                Ok(first) => Ok(first.is_some()),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        any.map_err(self.error("list", relative))
    }

    /// Deletes the object `relative` (nothing when there is none).
    pub fn delete(&self, relative: &str) -> Result<(), StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let deleted = blocking::wait(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })?;
        deleted.map_err(self.error("delete", relative))
    }

    /// Deletes every object under the folder `relative`; returns how many.
    pub fn delete_all(&self, relative: &str) -> Result<usize, StorageError> {
        let (store, path) = (Arc::clone(&self.store), self.path_of(relative));
        let deleted = blocking::wait(async move {
            let objects: Vec<_> = match store.list(Some(&path)).try_collect().await {
                Ok(objects) => objects,
                Err(object_store::Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            let mut deleted = 0;
            for object in objects {
                match store.delete(&object.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok(deleted)
        })?;
        let deleted = deleted.map_err(self.error("delete the objects under", relative))?;
        if let Some(dir) = self.local.as_ref().map(|d| d.join(relative)) {
            // The local store leaves empty directories behind.
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(deleted)
    }

    /// A builder for the Delta table in the folder `relative`, on this
    /// location's store.
    pub fn table_builder(&self, relative: &str) -> Result<DeltaTableBuilder, DeltaTableError> {
        let url = self.join(relative).url;
        let builder = DeltaTableBuilder::from_url(url.clone())?;
        Ok(match self.local {
            // deltalake's own local store (it knows file:// URLs).
            Some(_) => builder,
            // The store is the bucket's root; deltalake puts the table's
            // prefix (from the URL) in front of its paths.
            None => builder.with_storage_backend(Arc::clone(&self.store), url),
        })
    }

    /// The Delta table in the folder `relative`, at `version` (the latest
    /// when `None`).
    pub async fn open_table(
        &self,
        relative: &str,
        version: Option<u64>,
    ) -> Result<DeltaTable, DeltaTableError> {
        let builder = self.table_builder(relative)?;
        match version {
            Some(v) => builder.with_version(v).load().await,
            None => builder.load().await,
        }
    }
}
