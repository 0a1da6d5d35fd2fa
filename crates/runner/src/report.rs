//! The computation report: Prenacs' YAML report, plus polyplug's additions.

use base64::Engine as _;
use polyplug_core::yaml::scalar_str;

/// Status of a computation, as Prenacs names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompStatus {
    /// Every entity was computed without error.
    Completed,
    /// Some entities failed, or the run stopped after computing some.
    Partial,
    /// Nothing was computed successfully and the run stopped early.
    Aborted,
}

impl CompStatus {
    /// The name written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            CompStatus::Completed => "completed",
            CompStatus::Partial => "partial",
            CompStatus::Aborted => "aborted",
        }
    }
}

/// A computation report. [`Report::to_yaml`] writes the keys of a Prenacs report
/// (`plugin_id, plugin_version, parameters, user_id, system_id, reason, uuid,
/// time_start, time_end, n_units, comp_status`, `remarks` on error), sorted as PyYAML
/// sorts them, plus `n_failed`, `n_skipped`, `plugin_sha256` and `host_version`.
#[derive(Debug, Clone)]
pub struct Report {
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin version.
    pub plugin_version: String,
    /// The parameters as a YAML document (Prenacs stores `yaml.dump(params)`).
    pub parameters: String,
    /// Who ran it.
    pub user_id: String,
    /// On which machine.
    pub system_id: String,
    /// `new_entities`, `new_attributes`, `recompute`, or none.
    pub reason: Option<String>,
    /// The computation's UUID (16 bytes; written as `!!binary`, like Prenacs).
    pub uuid: [u8; 16],
    /// Start time, `YYYY-MM-DD HH:MM:SS.ffffff` local time.
    pub time_start: String,
    /// End time, same format.
    pub time_end: String,
    /// Entities computed (with or without a result).
    pub n_units: u64,
    /// Entities that failed.
    pub n_failed: u64,
    /// Entities skipped (already in the skip list).
    pub n_skipped: u64,
    /// Status.
    pub comp_status: CompStatus,
    /// On error: the failing entity, error class and message (a YAML document).
    pub remarks: Option<String>,
    /// sha256 of the plugin file, hex.
    pub plugin_sha256: String,
    /// `polyplug <version>`.
    pub host_version: String,
}

impl Report {
    /// The report as YAML, keys sorted.
    pub fn to_yaml(&self) -> String {
        let uuid = base64::engine::general_purpose::STANDARD.encode(self.uuid);
        let mut rows: Vec<(&str, String)> = vec![
            ("comp_status", self.comp_status.as_str().to_string()),
            ("host_version", scalar_str(&self.host_version)),
            ("n_failed", self.n_failed.to_string()),
            ("n_skipped", self.n_skipped.to_string()),
            ("n_units", self.n_units.to_string()),
            ("parameters", scalar_str(&self.parameters)),
            ("plugin_id", scalar_str(&self.plugin_id)),
            ("plugin_sha256", scalar_str(&self.plugin_sha256)),
            ("plugin_version", scalar_str(&self.plugin_version)),
            (
                "reason",
                self.reason
                    .as_deref()
                    .map_or("null".to_string(), scalar_str),
            ),
            ("system_id", scalar_str(&self.system_id)),
            ("time_end", scalar_str(&self.time_end)),
            ("time_start", scalar_str(&self.time_start)),
            ("user_id", scalar_str(&self.user_id)),
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
