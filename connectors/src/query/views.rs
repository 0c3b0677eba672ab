//! The named views of `queries/`, built into the binary: one `.sql` file
//! each, opening with a comment that says what it answers and what each
//! column means. Views may use one another (every one of them is
//! registered under its name).

/// How a view's header names a view it uses, for dbt:
/// `-- depends_on: {{ ref('entry_list') }}`.
const DEPENDS_ON: &str = "depends_on:";

/// A named view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Its name (the file's name without `.sql`).
    pub name: &'static str,
    /// The file's text: the comment header, then one `SELECT`.
    pub sql: &'static str,
}

macro_rules! views {
    ($($name:literal),* $(,)?) => {
        /// Every view of `queries/`, in the order they can be registered
        /// (a view after those it uses).
        pub const VIEWS: &[View] = &[
            $(View {
                name: $name,
                sql: include_str!(concat!("../../../queries/", $name, ".sql")),
            }),*
        ];
    };
}

views![
    "entry_list",
    "classification",
    "lap_chart",
    "lap_times",
    "sector_bests",
    "tyre_degradation",
    "speed_trap",
    "quarantine_report",
    "freshness",
];

impl View {
    /// The view of this name, if there is one.
    pub fn named(name: &str) -> Option<View> {
        VIEWS.iter().copied().find(|v| v.name == name)
    }

    /// The comment header, without the `-- ` markers and the dbt
    /// `depends_on:` lines.
    pub fn header(&self) -> String {
        let lines: Vec<&str> = self
            .sql
            .lines()
            .take_while(|l| l.starts_with("--"))
            .map(|l| l.trim_start_matches("--"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .filter(|l| !l.starts_with(DEPENDS_ON))
            .collect();
        lines.join("\n").trim_end().to_owned()
    }

    /// The views this one uses, as its `depends_on:` lines name them (for
    /// dbt, which orders models by them).
    pub fn depends_on(&self) -> Vec<&'static str> {
        self.sql
            .lines()
            .filter_map(|l| l.strip_prefix("-- ")?.strip_prefix(DEPENDS_ON))
            .filter_map(|l| l.split('\'').nth(1))
            .collect()
    }

    /// The first sentence of the header, after the view's name.
    pub fn summary(&self) -> String {
        let header = self.header();
        let first = header.split("\n\n").next().unwrap_or_default().replace('\n', " ");
        first
            .strip_prefix(&format!("{}: ", self.name))
            .map(str::to_owned)
            .unwrap_or(first)
    }

    /// The `SELECT` without the header.
    pub fn body(&self) -> &'static str {
        let header_end = self
            .sql
            .lines()
            .take_while(|l| l.starts_with("--") || l.trim().is_empty())
            .map(|l| l.len() + 1)
            .sum::<usize>();
        self.sql.get(header_end..).unwrap_or(self.sql).trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_says_what_it_answers_and_selects() {
        let mut names: Vec<&str> = VIEWS.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VIEWS.len(), "view names are distinct");
        for view in VIEWS {
            assert!(
                view.header().starts_with(&format!("{}: ", view.name)),
                "{} opens with its name and what it answers",
                view.name
            );
            assert!(!view.summary().is_empty(), "{}", view.name);
            assert!(
                view.body().starts_with("SELECT"),
                "{}: {}",
                view.name,
                view.body()
            );
            let words: Vec<&str> = view
                .body()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .collect();
            for other in VIEWS {
                let used = words.contains(&other.name);
                assert_eq!(
                    view.depends_on().contains(&other.name),
                    used,
                    "{} declares `depends_on: {{{{ ref('{}') }}}}` exactly when it uses it",
                    view.name,
                    other.name
                );
                if used {
                    let position = |v: &View| VIEWS.iter().position(|x| x.name == v.name);
                    assert!(
                        position(other) < position(view),
                        "{} is registered before {}",
                        other.name,
                        view.name
                    );
                }
            }
        }
        let files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../queries"))
            .expect("queries/")
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".sql").map(str::to_owned))
            .collect();
        for file in files {
            assert!(View::named(&file).is_some(), "queries/{file}.sql is built in");
        }
    }
}
