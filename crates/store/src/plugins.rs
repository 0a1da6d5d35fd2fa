//! Plugin records: one per (ID, VERSION) with all metadata and the plugin file's
//! sha256, so that a stored value names exactly what computed it.

use crate::{Store, StoreError};
use polyplug_core::PluginMeta;

/// A plugin description: (ID, VERSION), metadata and content hash.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    /// Validated metadata.
    pub meta: PluginMeta,
    /// sha256 of the plugin file, hex.
    pub sha256: String,
    /// Language (`native`, `python`, …).
    pub language: String,
    /// The plugin file.
    pub file: String,
}

/// What [`Store::register_plugin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginRegistration {
    /// The (ID, VERSION) was new.
    New,
    /// Already stored with the same content.
    Known,
    /// Stored with other content, and replaced as asked.
    Replaced,
}

impl Store {
    /// Records a plugin description. The same (ID, VERSION) with another sha256 is
    /// refused ("plugin changed without a version change") unless `replace`.
    pub fn register_plugin(
        &mut self,
        p: &PluginRecord,
        replace: bool,
    ) -> Result<PluginRegistration, StoreError> {
        let m = &p.meta;
        let output = serde_json::Value::from(m.output.clone()).to_string();
        let parameters = serde_json::Value::Array(
            m.parameters
                .iter()
                .map(|d| serde_json::json!([d.name, d.datatype, d.default_text, d.documentation]))
                .collect(),
        )
        .to_string();
        let extra = |k: &str| m.extra.get(k).map(String::as_str);
        let now = now_text();
        let loc = self.location.clone();
        self.db
            .transaction(|db| {
                db.lock_catalog()?;
                let old = db.row(
                    "SELECT sha256, file FROM plugin WHERE plugin_id = $1 AND version = $2",
                    &[m.id.as_str().into(), m.version.as_str().into()],
                )?;
                let outcome = match old {
                    Some(r) if r[0].str() == p.sha256 => return Ok(PluginRegistration::Known),
                    Some(r) if !replace => {
                        return Err(StoreError::PluginChanged {
                            file: p.file.clone(),
                            id: m.id.clone(),
                            version: m.version.clone(),
                            stored_sha256: r[0].str().to_string(),
                            stored_file: r[1].str().to_string(),
                            sha256: p.sha256.clone(),
                        })
                    }
                    Some(_) => PluginRegistration::Replaced,
                    None => PluginRegistration::New,
                };
                // Replacing updates the row in place: computations refer to it.
                let sql = if outcome == PluginRegistration::Replaced {
                    "UPDATE plugin SET sha256 = $3, language = $4, file = $5, input = $6, \
                     output = $7, parameters = $8, method = $9, implementation = $10, \
                     req_software = $11, req_hardware = $12, advice = $13, registered = $14 \
                     WHERE plugin_id = $1 AND version = $2"
                } else {
                    "INSERT INTO plugin (plugin_id, version, sha256, language, file, input, \
                     output, parameters, method, implementation, req_software, req_hardware, \
                     advice, registered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                     $12, $13, $14)"
                };
                db.exec(
                    sql,
                    &[
                        m.id.as_str().into(),
                        m.version.as_str().into(),
                        p.sha256.as_str().into(),
                        p.language.as_str().into(),
                        p.file.as_str().into(),
                        m.input.as_str().into(),
                        output.as_str().into(),
                        parameters.as_str().into(),
                        extra("METHOD").into(),
                        extra("IMPLEMENTATION").into(),
                        extra("REQ_SOFTWARE").into(),
                        extra("REQ_HARDWARE").into(),
                        extra("ADVICE").into(),
                        now.as_str().into(),
                    ],
                )?;
                Ok(outcome)
            })
            .map_err(|e| e.in_store(&loc))
    }

    /// The stored OUTPUT list of a plugin version.
    pub fn plugin_output(
        &mut self,
        plugin_id: &str,
        version: &str,
    ) -> Result<Vec<String>, StoreError> {
        let r = self.db.row(
            "SELECT output FROM plugin WHERE plugin_id = $1 AND version = $2",
            &[plugin_id.into(), version.into()],
        )?;
        Ok(r.and_then(|r| serde_json::from_str(r[0].str()).ok())
            .unwrap_or_default())
    }
}

/// Local time as the reports write it.
fn now_text() -> String {
    // Seconds since the epoch are enough for a registration stamp; the CLI writes the
    // report times.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}")
}
