//! The Delta tables' schemas as files, `schemas/delta/<table>.json`: each
//! is what the code's table spec gives (regenerate with `RACECAST_BLESS=1`
//! and review the diff), and what a table racecast creates declares in its
//! log (the `metaData` action's `schemaString` and partition columns).

use std::path::{Path, PathBuf};

use racecast_connectors::delta::{DeltaSink, Table};
use racecast_connectors::host::runtime;

fn file_of(table: Table) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/delta")
        .join(format!("{}.json", table.path().replace('/', ".")))
}

#[test]
fn schema_files_are_the_code_s_table_specs() {
    let bless = std::env::var_os("RACECAST_BLESS").is_some();
    for table in Table::ALL {
        let path = file_of(table);
        let want = table.spec().delta_schema_json(table);
        let text = serde_json::to_string_pretty(&want).expect("JSON") + "\n";
        if bless {
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("create schemas/delta");
            std::fs::write(&path, &text).expect("write the schema file");
            continue;
        }
        let got = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (RACECAST_BLESS=1 writes it)", path.display()));
        assert_eq!(
            got,
            text,
            "{} differs from the code's table spec: regenerate with RACECAST_BLESS=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn created_tables_declare_the_schema_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime()
        .block_on(DeltaSink::create_tables(
            &racecast_connectors::storage::Location::local(dir.path()).expect("a location"),
            true,
        ))
        .expect("the tables are created");
    for table in Table::ALL {
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file_of(table)).expect("the schema file"))
                .expect("JSON");
        let log = dir
            .path()
            .join(table.path())
            .join("_delta_log/00000000000000000000.json");
        let metadata = std::fs::read_to_string(&log)
            .expect("the first commit")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON action"))
            .find_map(|a| a.get("metaData").cloned())
            .expect("a metaData action");
        let declared: serde_json::Value =
            serde_json::from_str(metadata["schemaString"].as_str().expect("a schema string"))
                .expect("the schema string is JSON");
        assert_eq!(declared, file["schema"], "{}: the table's schema", table.path());
        assert_eq!(
            metadata["partitionColumns"],
            file["partitionColumns"],
            "{}: the table's partition columns",
            table.path()
        );
    }
}
