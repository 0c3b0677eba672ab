//! `--data` and `--storage-option`, shared by every command that reads or
//! writes the tables: where they are (a directory, `file://…` or
//! `s3://bucket/prefix`) and the S3 client's options. Option values are
//! never printed (they may be secrets).

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Args;
use racecast_connectors::storage::Location;

#[derive(Clone, Args)]
pub struct DataArgs {
    /// Where the Delta tables are: a directory, file://DIR, or s3://BUCKET/PREFIX (endpoint and credentials from the AWS_* variables: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP).
    #[arg(long, default_value = "data", env = "RACECAST_DATA")]
    pub data: String,
    /// An S3 client option, KEY=VALUE (object_store's names, e.g. endpoint=http://127.0.0.1:9000, allow_http=true, region=eu-west-1); repeat for several. Overrides the AWS_* variables.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = key_value)]
    pub storage_options: Vec<(String, String)>,
}

impl std::fmt::Debug for DataArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.storage_options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("DataArgs")
            .field("data", &self.data)
            .field("storage_options (values hidden)", &keys)
            .finish()
    }
}

impl DataArgs {
    /// The location, checked (an S3 bucket answers one request).
    pub fn location(&self) -> anyhow::Result<Location> {
        let options: BTreeMap<String, String> = self.storage_options.iter().cloned().collect();
        Location::parse(&self.data, &options).with_context(|| format!("--data {}", self.data))
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_key_value_pairs_and_values_stay_hidden() {
        assert_eq!(
            key_value("region=eu-west-1"),
            Ok(("region".into(), "eu-west-1".into()))
        );
        assert_eq!(
            key_value("endpoint=http://h:1/?a=b"),
            Ok(("endpoint".into(), "http://h:1/?a=b".into()))
        );
        assert!(key_value("novalue").is_err());
        assert!(key_value("=x").is_err());
        let args = DataArgs {
            data: "s3://b/p".into(),
            storage_options: vec![("secret_access_key".into(), "hunter2".into())],
        };
        let shown = format!("{args:?}");
        assert!(
            shown.contains("secret_access_key") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
