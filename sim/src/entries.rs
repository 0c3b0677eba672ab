//! The entry list of a simulated session: the 2026 grid's driver codes,
//! car numbers and teams (generated ones past the twentieth car).

use racecast_dataflow::SessionType;
use racecast_proto::v1 as pb;

use crate::config::SimConfig;

const DRIVERS: [(&str, u32, &str); 20] = [
    ("VER", 1, "Red Bull Racing"),
    ("TSU", 22, "Red Bull Racing"),
    ("NOR", 4, "McLaren"),
    ("PIA", 81, "McLaren"),
    ("LEC", 16, "Ferrari"),
    ("HAM", 44, "Ferrari"),
    ("RUS", 63, "Mercedes"),
    ("ANT", 12, "Mercedes"),
    ("ALO", 14, "Aston Martin"),
    ("STR", 18, "Aston Martin"),
    ("GAS", 10, "Alpine"),
    ("COL", 43, "Alpine"),
    ("ALB", 23, "Williams"),
    ("SAI", 55, "Williams"),
    ("HAD", 6, "Racing Bulls"),
    ("LAW", 30, "Racing Bulls"),
    ("HUL", 27, "Audi"),
    ("BOR", 5, "Audi"),
    ("OCO", 31, "Haas"),
    ("BEA", 87, "Haas"),
];

/// Driver code, car number and team of the `i`-th car (0-based). Cars past
/// the twentieth get generated codes and free numbers.
pub(crate) fn driver(i: usize) -> (String, u32, String) {
    if let Some(&(code, number, team)) = DRIVERS.get(i) {
        return (code.into(), number, team.into());
    }
    let extra = i - DRIVERS.len();
    let used: Vec<u32> = DRIVERS.iter().map(|d| d.1).collect();
    let number = (2..=99)
        .filter(|n| !used.contains(n))
        .nth(extra)
        .expect("at most 50 cars");
    let letters = [b'X', b'A' + (extra / 26) as u8, b'A' + (extra % 26) as u8];
    let code = String::from_utf8(letters.to_vec()).expect("ascii");
    (code, number, format!("Privateer {}", extra / 2 + 1))
}

/// The entry list of a simulated session.
pub fn entry_list(config: &SimConfig) -> Vec<pb::EntryListRecord> {
    (0..config.cars as usize)
        .map(|i| {
            let (code, number, team) = driver(i);
            pb::EntryListRecord {
                session_id: Some(config.session_id.clone()),
                car_number: Some(number),
                driver_code: Some(code),
                team: Some(team),
                track: Some("Monza".into()),
                session_type: SessionType::ALL
                    .iter()
                    .position(|&t| t == SessionType::R)
                    .map_or(0, |p| p as i32 + 1),
                revision: Some(0),
            }
        })
        .collect()
}
