//! The computation report: Prenacs' YAML report plus polyplug's additions, with its one
//! writer ([`Report::to_yaml`]) and its one reader ([`Report::from_yaml`]).
//!
//! A run writes it (`-r`), `polyplug export` writes it back from the store, `polyplug
//! load` reads one written by Prenacs or polyplug, and the store keeps its fields as
//! a computation. All four use this type.

use crate::yaml::scalar_str;
use base64::Engine as _;
use std::fmt;
use uuid::Uuid;

/// Every state a computation can be in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompStatus {
    /// A run is computing it (or was killed before its report: see [`CompStatus::Killed`]).
    Running,
    /// `polyplug load` is importing it.
    Loading,
    /// Every entity was computed without error.
    Completed,
    /// Some entities failed, or the run stopped after computing some.
    Partial,
    /// Nothing was computed successfully and the run stopped early.
    Aborted,
    /// The process ended without writing its report; what it committed is kept.
    Killed,
    /// A status polyplug does not know, as a store written by an earlier version may
    /// hold it (its `load` kept any status a report gave); shown as it is.
    Other(String),
}

impl CompStatus {
    /// Every status, in the order above.
    pub const ALL: [CompStatus; 6] = [
        CompStatus::Running,
        CompStatus::Loading,
        CompStatus::Completed,
        CompStatus::Partial,
        CompStatus::Aborted,
        CompStatus::Killed,
    ];

    /// The name written in reports and kept in the store.
    pub fn as_str(&self) -> &str {
        match self {
            CompStatus::Running => "running",
            CompStatus::Loading => "loading",
            CompStatus::Completed => "completed",
            CompStatus::Partial => "partial",
            CompStatus::Aborted => "aborted",
            CompStatus::Killed => "killed",
            CompStatus::Other(name) => name,
        }
    }

    /// The status called `name`, if polyplug knows it.
    pub fn parse(name: &str) -> Option<CompStatus> {
        CompStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The status a store keeps as `name`: a known one, else [`CompStatus::Other`].
    pub fn from_stored(name: &str) -> CompStatus {
        CompStatus::parse(name).unwrap_or_else(|| CompStatus::Other(name.to_string()))
    }
}

impl fmt::Display for CompStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A computation report. The fields a store may lack (a computation still running,
/// a Prenacs report without polyplug's additions) are options; [`Report::to_yaml`]
/// writes them as `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The computation's UUID (written as `!!binary` of its 16 bytes, like Prenacs).
    pub uuid: Uuid,
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin VERSION.
    pub plugin_version: String,
    /// The parameters as a YAML document (Prenacs stores `yaml.dump(params)`).
    pub parameters: String,
    /// Who ran it.
    pub user_id: Option<String>,
    /// On which machine (the user may set it).
    pub system_id: Option<String>,
    /// `new_entities`, `new_attributes`, `recompute`, or none.
    pub reason: Option<String>,
    /// Start time, `YYYY-MM-DD HH:MM:SS.ffffff` local time.
    pub time_start: Option<String>,
    /// End time, same format.
    pub time_end: Option<String>,
    /// Entities computed (with or without a result).
    pub n_units: Option<u64>,
    /// Entities that failed.
    pub n_failed: Option<u64>,
    /// Entities skipped (already done).
    pub n_skipped: Option<u64>,
    /// Status.
    pub comp_status: CompStatus,
    /// On error: the failing entity, error class and message (a YAML document).
    pub remarks: Option<String>,
    /// sha256 of the plugin file, hex.
    pub plugin_sha256: Option<String>,
    /// `polyplug <version>` (or `prenacs` for a Prenacs report).
    pub host_version: Option<String>,
}

/// Why a report file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// Not YAML.
    #[error("{origin}: not a valid computation report (YAML): {detail}")]
    Yaml {
        /// The report file.
        origin: String,
        /// The parser's message.
        detail: String,
    },
    /// YAML, but not a mapping.
    #[error(
        "{origin}: not a computation report: expected a mapping with plugin_id, \
         plugin_version, uuid, ..."
    )]
    NotAMapping {
        /// The report file.
        origin: String,
    },
    /// No `uuid` key.
    #[error("{origin}: the report has no 'uuid'")]
    NoUuid {
        /// The report file.
        origin: String,
    },
    /// A `uuid` that is neither 16 bytes of base64 nor a text UUID.
    #[error(
        "{origin}: 'uuid' must be 16 bytes (!!binary base64, as Prenacs writes it) or a \
         text UUID"
    )]
    BadUuid {
        /// The report file.
        origin: String,
    },
    /// A `comp_status` polyplug does not know.
    #[error(
        "{origin}: comp_status '{status}' is not a computation status; expected \
         completed, partial or aborted (or running, loading, killed)"
    )]
    BadStatus {
        /// The report file.
        origin: String,
        /// What it says.
        status: String,
    },
}

impl Report {
    /// The report as YAML, keys sorted as PyYAML sorts them: the keys of a Prenacs report
    /// (`plugin_id, plugin_version, parameters, user_id, system_id, reason, uuid,
    /// time_start, time_end, n_units, comp_status`, `remarks` on error) plus `n_failed`,
    /// `n_skipped`, `plugin_sha256` and `host_version`.
    pub fn to_yaml(&self) -> String {
        let text = |v: &Option<String>| v.as_deref().map_or("null".into(), scalar_str);
        let number = |v: Option<u64>| v.map_or("null".into(), |v| v.to_string());
        let uuid = base64::engine::general_purpose::STANDARD.encode(self.uuid.as_bytes());
        let mut rows: Vec<(&str, String)> = vec![
            ("comp_status", self.comp_status.as_str().to_string()),
            ("host_version", text(&self.host_version)),
            ("n_failed", number(self.n_failed)),
            ("n_skipped", number(self.n_skipped)),
            ("n_units", number(self.n_units)),
            ("parameters", scalar_str(&self.parameters)),
            ("plugin_id", scalar_str(&self.plugin_id)),
            ("plugin_sha256", text(&self.plugin_sha256)),
            ("plugin_version", scalar_str(&self.plugin_version)),
            ("reason", text(&self.reason)),
            ("system_id", text(&self.system_id)),
            ("time_end", text(&self.time_end)),
            ("time_start", text(&self.time_start)),
            ("user_id", text(&self.user_id)),
            ("uuid", format!("!!binary |\n  {uuid}")),
        ];
        if let Some(r) = &self.remarks {
            rows.push(("remarks", scalar_str(r)));
        }
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&v);
            out.push('\n');
        }
        out
    }

    /// Reads a report written by Prenacs or polyplug; `origin` names it in errors.
    /// Keys a Prenacs report lacks are `None`; `comp_status` defaults to `completed`
    /// and `parameters` to `{}`.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Report, ReportError> {
        Report::from_mapping(&Report::mapping(text, origin)?, origin)
    }

    /// The YAML mapping of a report file, before its fields are read (a caller can
    /// check some of them first, as `polyplug load` checks the plugin).
    pub fn mapping(text: &str, origin: &str) -> Result<serde_yaml_ng::Mapping, ReportError> {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ReportError::Yaml {
                origin: origin.to_string(),
                detail: e.to_string(),
            })?;
        match doc {
            serde_yaml_ng::Value::Mapping(map) => Ok(map),
            _ => Err(ReportError::NotAMapping {
                origin: origin.to_string(),
            }),
        }
    }

    /// Reads the fields of a report's mapping (see [`Report::from_yaml`]).
    pub fn from_mapping(map: &serde_yaml_ng::Mapping, origin: &str) -> Result<Report, ReportError> {
        let text = |key: &str| crate::yaml::mapping_str(map, key);
        let number = |key: &str| crate::yaml::mapping_u64(map, key);
        let uuid_text = text("uuid").ok_or_else(|| ReportError::NoUuid {
            origin: origin.to_string(),
        })?;
        let uuid = parse_uuid(&uuid_text).ok_or_else(|| ReportError::BadUuid {
            origin: origin.to_string(),
        })?;
        let comp_status = match text("comp_status") {
            None => CompStatus::Completed,
            Some(s) => CompStatus::parse(&s).ok_or_else(|| ReportError::BadStatus {
                origin: origin.to_string(),
                status: s.clone(),
            })?,
        };
        Ok(Report {
            uuid,
            plugin_id: text("plugin_id").unwrap_or_default(),
            plugin_version: text("plugin_version").unwrap_or_default(),
            parameters: text("parameters").unwrap_or_else(|| "{}\n".into()),
            user_id: text("user_id"),
            system_id: text("system_id"),
            reason: text("reason"),
            time_start: text("time_start"),
            time_end: text("time_end"),
            n_units: number("n_units"),
            n_failed: number("n_failed"),
            n_skipped: number("n_skipped"),
            comp_status,
            remarks: text("remarks"),
            plugin_sha256: text("plugin_sha256"),
            host_version: text("host_version"),
        })
    }
}

/// A report's UUID: 32 hexadecimal digits (hyphens anywhere), or base64 of its 16
/// bytes as Prenacs writes it.
fn parse_uuid(text: &str) -> Option<Uuid> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let hex: String = compact.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Uuid::try_parse(&hex).ok();
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The `remarks` of a failed computation, as Prenacs writes them (a YAML document with
/// `error_class`, `error_input_unit`, `error_message`), plus the number of failures.
pub fn error_remarks(entity: &str, class: &str, message: &str, n_failed: u64) -> String {
    format!(
        "error_class: {}\nerror_input_unit: {}\nerror_message: {}\nn_failed: {n_failed}\n",
        scalar_str(class),
        scalar_str(entity),
        scalar_str(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            uuid: Uuid::from_bytes([7; 16]),
            plugin_id: "gc".into(),
            plugin_version: "1.0".into(),
            parameters: "k: 3\n".into(),
            user_id: Some("ana".into()),
            system_id: Some("lab-1".into()),
            reason: None,
            time_start: Some("2026-12-01 10:00:00.000001".into()),
            time_end: Some("2026-12-01 10:00:01.000001".into()),
            n_units: Some(3),
            n_failed: Some(1),
            n_skipped: Some(0),
            comp_status: CompStatus::Partial,
            remarks: Some(error_remarks("x", "EntityError", "bad", 1)),
            plugin_sha256: Some("ab".into()),
            host_version: Some("polyplug 0.1.0".into()),
        }
    }

    #[test]
    fn the_writer_and_the_reader_agree() {
        let r = report();
        let yaml = r.to_yaml();
        assert!(yaml.starts_with("comp_status: partial\nhost_version: polyplug 0.1.0\n"));
        assert!(yaml.contains("reason: null\n"), "{yaml}");
        assert!(
            yaml.contains("uuid: !!binary |\n  BwcHBwcHBwcHBwcHBwcHBw==\n"),
            "{yaml}"
        );
        assert_eq!(Report::from_yaml(&yaml, "r.yaml").unwrap(), r);
    }

    #[test]
    fn text_uuids_and_prenacs_defaults_are_read() {
        let r = Report::from_yaml(
            "plugin_id: gc\nplugin_version: '1'\nuuid: 07070707-0707-0707-0707-070707070707\n",
            "r.yaml",
        )
        .unwrap();
        assert_eq!(r.uuid, Uuid::from_bytes([7; 16]));
        assert_eq!(r.comp_status, CompStatus::Completed);
        assert_eq!(r.parameters, "{}\n");
        assert_eq!(r.n_units, None);
    }

    #[test]
    fn bad_reports_name_the_file() {
        let e = Report::from_yaml("- 1\n", "r.yaml").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("r.yaml: not a computation report"));
        let e = Report::from_yaml("uuid: nope\n", "r.yaml").unwrap_err();
        assert_eq!(
            e,
            ReportError::BadUuid {
                origin: "r.yaml".into()
            }
        );
        let e = Report::from_yaml(
            "uuid: 07070707-0707-0707-0707-070707070707\ncomp_status: done\n",
            "r.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("comp_status 'done'"), "{e}");
        for s in CompStatus::ALL {
            assert_eq!(CompStatus::parse(s.as_str()), Some(s.clone()));
            assert_eq!(CompStatus::from_stored(s.as_str()), s);
        }
    }

    #[test]
    fn statuses_a_store_may_hold_from_earlier_versions_are_kept() {
        // An earlier `polyplug load` kept any status a report gave.
        let s = CompStatus::from_stored("done");
        assert_eq!(s, CompStatus::Other("done".into()));
        assert_eq!(s.to_string(), "done");
        assert_eq!(CompStatus::parse("done"), None);
    }

    #[test]
    fn uuid_hyphens_may_stand_anywhere() {
        let r = Report::from_yaml("uuid: 0707-07070707070707070707070707-07\n", "r").unwrap();
        assert_eq!(r.uuid, Uuid::from_bytes([7; 16]));
        let e = Report::from_yaml("uuid: '{07070707-0707-0707-0707-070707070707}'\n", "r");
        assert!(e.is_err(), "braces are not a report's UUID");
    }
}
