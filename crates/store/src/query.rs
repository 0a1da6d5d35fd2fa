//! Reading values back with their provenance.

use crate::db::{Backend, Cell, Param};
use crate::{decode, Store, StoreError};
use polyplug_core::Value;

/// Which values [`Store::query`] gives. Empty lists mean "all".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these entities.
    pub entities: Vec<String>,
    /// Only these attributes.
    pub attributes: Vec<String>,
    /// Only values computed by this plugin ID.
    pub plugin: Option<String>,
    /// … and this plugin VERSION.
    pub plugin_version: Option<String>,
    /// Only values of this computation (UUID or unique prefix).
    pub computation: Option<String>,
    /// Every stored value (history), not only the current one.
    pub history: bool,
}

/// One value of one attribute of one entity, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Entity ID.
    pub entity: String,
    /// Attribute name.
    pub attribute: String,
    /// The attribute's columns (one for most attributes).
    pub values: Vec<Value>,
    /// Computation UUID.
    pub computation: String,
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin VERSION.
    pub plugin_version: String,
    /// Parameters, canonical JSON.
    pub parameters: String,
    /// Who computed it.
    pub user_id: String,
    /// On which system.
    pub system_id: String,
    /// When the computation started.
    pub time_start: String,
    /// Status of the computation.
    pub comp_status: String,
}

impl Store {
    /// Calls `each` with the values that match `filter`, sorted by entity, then
    /// attribute (then computation, with `history`). Without `history`, only the current
    /// value of each (entity, attribute) among the matching ones: the one from the
    /// latest computation (in start order) that has it.
    pub fn query(
        &mut self,
        filter: &Filter,
        mut each: impl FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let computation = match &filter.computation {
            Some(u) => Some(self.computation_id(u)?.0),
            None => None,
        };
        // Byte order in both backends, whatever the PostgreSQL collation.
        let c = match self.db.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " COLLATE \"C\"",
        };
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        if let Some(p) = &filter.plugin {
            args.push(Param::T(p));
            conds.push(format!("c.plugin_id = ${}", args.len()));
        }
        if let Some(v) = &filter.plugin_version {
            args.push(Param::T(v));
            conds.push(format!("c.plugin_version = ${}", args.len()));
        }
        if let Some(id) = computation {
            args.push(Param::I(id));
            conds.push(format!("c.id = ${}", args.len()));
        }
        if !filter.attributes.is_empty() {
            let mut marks = Vec::new();
            for a in &filter.attributes {
                args.push(Param::T(a));
                marks.push(format!("${}", args.len()));
            }
            conds.push(format!("a.name IN ({})", marks.join(", ")));
        }
        let base_args = args.len();
        let select = "SELECT u.entity, a.name, c.id, u.n, v.col, v.kind, v.v_int, v.v_float, \
             v.v_text, c.uuid, c.plugin_id, c.plugin_version, c.params_key, c.user_id, \
             c.system_id, c.time_start, c.comp_status \
             FROM value v \
             JOIN unit u ON u.computation_id = v.computation_id AND u.n = v.n \
             JOIN computation c ON c.id = v.computation_id \
             JOIN attribute a ON a.id = v.attribute_id";
        let order = format!(" ORDER BY u.entity{c}, a.name{c}, c.id, u.n, v.col");

        let mut grouper = Grouper {
            history: filter.history,
            current: None,
            pending: None,
        };
        let mut run = |store: &mut Store, conds: &[String], args: &[Param]| {
            let sql = if conds.is_empty() {
                format!("{select}{order}")
            } else {
                format!("{select} WHERE {}{order}", conds.join(" AND "))
            };
            store
                .db
                .each(&sql, args, |r| grouper.row(r, &mut each))
                .map_err(|e| store.ctx(e))?;
            grouper.finish(&mut each)
        };
        if filter.entities.is_empty() {
            run(self, &conds, &args)
        } else {
            // Entity lists may be long: ask in chunks, in sorted order, so the output
            // stays sorted.
            let mut entities: Vec<&String> = filter.entities.iter().collect();
            entities.sort();
            entities.dedup();
            for chunk in entities.chunks(500) {
                let mut args = args[..base_args].to_vec();
                let mut marks = Vec::new();
                for e in chunk {
                    args.push(Param::T(e));
                    marks.push(format!("${}", args.len()));
                }
                let mut conds = conds.clone();
                conds.push(format!("u.entity IN ({})", marks.join(", ")));
                run(self, &conds, &args)?;
            }
            Ok(())
        }
    }
}

/// Turns rows (one per column) into records, and keeps only the last record of each
/// (entity, attribute) unless `history`.
struct Grouper {
    history: bool,
    /// The record being assembled, with its (computation id, n).
    current: Option<(Record, i64, i64)>,
    /// Without history: the latest complete record of the current (entity, attribute).
    pending: Option<Record>,
}

impl Grouper {
    fn row(
        &mut self,
        r: &[Cell],
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let entity = r[0].str();
        let attribute = r[1].str();
        let (cid, n) = (r[2].int(), r[3].int());
        let value = decode(&r[5], &r[6], &r[7], &r[8]);
        if let Some((rec, c, un)) = &mut self.current {
            if rec.entity == entity && rec.attribute == attribute && *c == cid && *un == n {
                rec.values.push(value);
                return Ok(());
            }
        }
        self.close(each)?;
        self.current = Some((
            Record {
                entity: entity.to_string(),
                attribute: attribute.to_string(),
                values: vec![value],
                computation: r[9].text().unwrap_or_default(),
                plugin_id: r[10].text().unwrap_or_default(),
                plugin_version: r[11].text().unwrap_or_default(),
                parameters: r[12].text().unwrap_or_default(),
                user_id: r[13].text().unwrap_or_default(),
                system_id: r[14].text().unwrap_or_default(),
                time_start: r[15].text().unwrap_or_default(),
                comp_status: r[16].text().unwrap_or_default(),
            },
            cid,
            n,
        ));
        Ok(())
    }

    /// The record being assembled is complete.
    fn close(
        &mut self,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some((rec, _, _)) = self.current.take() else {
            return Ok(());
        };
        if self.history {
            return each(&rec);
        }
        if let Some(p) = &self.pending {
            if p.entity != rec.entity || p.attribute != rec.attribute {
                each(p)?;
            }
        }
        // Rows come in computation order: a later record replaces the pending one.
        self.pending = Some(rec);
        Ok(())
    }

    fn finish(
        &mut self,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.close(each)?;
        if let Some(p) = self.pending.take() {
            each(&p)?;
        }
        Ok(())
    }
}
