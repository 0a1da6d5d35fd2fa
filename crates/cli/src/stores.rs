//! The store commands: `attrs`, `load`, `query`, `runs` and `export`. The work is
//! done by the store and the engine; this module prints what they return.

use crate::args::{
    AttrsCommand, AttrsSyncArgs, ExportArgs, Format, LoadArgs, MergeArgs, QueryArgs, RunsCommand,
    StoreOpt,
};
use crate::{console, error, finish};
use polyplug_engine::core::yaml::scalar_str;
use polyplug_engine::core::AttributeDefinitions;
use polyplug_engine::import::LoadSpec;
use polyplug_engine::runner::output::push_id;
use polyplug_engine::store::{value_to_json, Computation, Filter, Record, StoreError, SyncOptions};
use polyplug_engine::{stores, EngineError};
use std::io::Write;

fn store_arg(opt: &StoreOpt) -> Option<&str> {
    opt.store.as_deref()
}

/// `polyplug attrs sync|list`.
pub fn attrs(cmd: AttrsCommand) -> i32 {
    finish(match cmd {
        AttrsCommand::Sync(a) => attrs_sync(a),
        AttrsCommand::List(opt) => attrs_list(&opt),
    })
}

fn attrs_sync(a: AttrsSyncArgs) -> Result<(), EngineError> {
    let text = std::fs::read_to_string(&a.definitions).map_err(|e| EngineError::Read {
        path: a.definitions.clone(),
        what: "attribute definitions",
        why: e.to_string(),
    })?;
    let defs = AttributeDefinitions::from_yaml_str(&text, &a.definitions.display().to_string())?;
    let mut store = stores::open_or_create(store_arg(&a.store))?;
    let options = SyncOptions {
        update: a.update,
        drop: a.drop,
    };
    let s = store.sync_attributes(&defs, options)?;
    let mut out = std::io::stdout().lock();
    let w = |out: &mut dyn Write, what: &str, names: &[String]| {
        if !names.is_empty() {
            let _ = writeln!(out, "{what}: {}", names.join(", "));
        }
    };
    w(&mut out, "added", &s.added);
    w(&mut out, "updated", &s.updated);
    let recreated: Vec<String> = s
        .recreated
        .iter()
        .map(|(n, k)| format!("{n} ({k} values deleted)"))
        .collect();
    w(&mut out, "dropped and recreated", &recreated);
    if !s.differing.is_empty() {
        error(format!(
            "{}: {} attribute(s) differ from the store in their text fields ({}); rerun with \
             --update to apply",
            a.definitions.display(),
            s.differing.len(),
            s.differing.join(", ")
        ));
    }
    if s.added.is_empty() && s.updated.is_empty() && s.recreated.is_empty() {
        let _ = writeln!(
            out,
            "the store is up to date with {}",
            a.definitions.display()
        );
    }
    Ok(())
}

fn attrs_list(opt: &StoreOpt) -> Result<(), EngineError> {
    let mut store = stores::open_existing(store_arg(opt))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "name\tdatatype\tcomputation_group\tunit\tdefinition");
    for a in store.attributes()? {
        let f = |s: &Option<String>| s.as_deref().unwrap_or("").replace(['\t', '\n'], " ");
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            a.name,
            a.datatype.as_deref().unwrap_or("(undefined)"),
            f(&a.computation_group),
            f(&a.unit),
            f(&a.definition)
        );
    }
    Ok(())
}

/// `polyplug load <results.tsv> <report.yaml> <plugin>`.
pub fn load(a: LoadArgs) -> i32 {
    let spec = LoadSpec {
        results: a.results,
        report: a.report,
        plugin: a.plugin,
        replace_plugin_record: a.replace_plugin_record,
        store: a.store.store,
    };
    finish(
        polyplug_engine::import::load(&spec, &console::stderr()).map(|done| {
            println!(
                "loaded {} entities of computation {} (plugin {} {}) into store {}",
                done.entities,
                done.report.uuid.hyphenated(),
                done.report.plugin_id,
                done.report.plugin_version,
                done.store
            );
        }),
    )
}

/// `polyplug query`.
pub fn query(a: QueryArgs) -> i32 {
    finish(query_inner(a))
}

const QUERY_COLUMNS: [&str; 12] = [
    "entity",
    "attribute",
    "value",
    "computation",
    "plugin_id",
    "plugin_version",
    "parameters",
    "user_id",
    "system_id",
    "time_start",
    "shard",
    "run_id",
];

/// The fields of a record, in [`QUERY_COLUMNS`] order (with `value` joined by `;`).
fn record_fields<'r>(r: &'r Record, value: &'r mut String) -> [&'r str; 12] {
    value.clear();
    for (i, v) in r.values.iter().enumerate() {
        if i > 0 {
            value.push(';');
        }
        value.push_str(&v.to_py_str());
    }
    let o = &r.origin;
    [
        &r.entity,
        &r.attribute,
        value,
        &o.computation,
        &o.plugin_id,
        &o.plugin_version,
        &o.parameters,
        &o.user_id,
        &o.system_id,
        &o.time_start,
        &o.shard,
        &o.run_id,
    ]
}

fn csv_field(line: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&s.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(s);
    }
}

fn record_json(r: &Record) -> String {
    let value = match r.values.as_slice() {
        [one] => value_to_json(one),
        many => serde_json::Value::Array(many.iter().map(value_to_json).collect()),
    };
    let parameters: serde_json::Value =
        serde_json::from_str(&r.origin.parameters).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "entity": r.entity,
        "attribute": r.attribute,
        "value": value,
        "computation": r.origin.computation,
        "plugin_id": r.origin.plugin_id,
        "plugin_version": r.origin.plugin_version,
        "parameters": parameters,
        "user_id": r.origin.user_id,
        "system_id": r.origin.system_id,
        "time_start": r.origin.time_start,
        "comp_status": r.origin.comp_status.as_str(),
        "shard": r.origin.shard,
        "run_id": r.origin.run_id,
    })
    .to_string()
}

/// The filter of a query: the entities given and those of `--entities-file`.
fn filter(a: &QueryArgs) -> Result<Filter, EngineError> {
    let mut entities = a.entities.clone();
    if let Some(f) = &a.entities_file {
        entities.extend(stores::entities_file(f)?);
    }
    Ok(Filter {
        entities,
        attributes: a.attributes.clone(),
        plugin: a.plugin.clone(),
        plugin_version: a.plugin_version.clone(),
        computation: a.computation.clone(),
        history: a.history,
    })
}

fn query_inner(a: QueryArgs) -> Result<(), EngineError> {
    let filter = filter(&a)?;
    let memory = usize::try_from(a.sort_memory << 20).unwrap_or(usize::MAX);
    let mut store = stores::open_existing(store_arg(&a.store))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| StoreError::Write(e.to_string());
    match a.format {
        Format::Tsv | Format::Csv => {
            let (sep, field): (char, fn(&mut String, &str)) = if a.format == Format::Tsv {
                // TSV fields are escaped as results TSV IDs and values are.
                ('\t', push_id)
            } else {
                (',', csv_field)
            };
            let _ = writeln!(out, "{}", QUERY_COLUMNS.join(&sep.to_string()));
            let (mut value, mut line) = (String::new(), String::new());
            store.query(&filter, memory, |r| {
                line.clear();
                for (i, f) in record_fields(r, &mut value).iter().enumerate() {
                    if i > 0 {
                        line.push(sep);
                    }
                    field(&mut line, f);
                }
                line.push('\n');
                out.write_all(line.as_bytes()).map_err(io)
            })?;
        }
        Format::Json => {
            let _ = write!(out, "[");
            let mut first = true;
            store.query(&filter, memory, |r| {
                let sep = if first { "\n" } else { ",\n" };
                first = false;
                write!(out, "{sep}{}", record_json(r)).map_err(io)
            })?;
            let _ = writeln!(out, "{}]", if first { "" } else { "\n" });
        }
    }
    out.flush()
        .map_err(|e| EngineError::Store(StoreError::Write(e.to_string())))
}

/// `polyplug runs list|show|diff|export|import`.
pub fn runs(cmd: RunsCommand) -> i32 {
    finish(match cmd {
        RunsCommand::List(a) => runs_list(&a),
        RunsCommand::Diff(a) => runs_diff(&a),
        RunsCommand::Show(a) => runs_show(&a.uuid, &a.store),
        RunsCommand::Export(a) => {
            polyplug_engine::archive::export(store_arg(&a.store), &a.uuid, &a.file).map(|m| {
                console::stderr().note(&format!(
                    "exported run {} ({} {}, {} entities) from {} to {}",
                    m.uuid,
                    m.plugin.0,
                    m.plugin.1,
                    m.units,
                    m.store,
                    a.file.display()
                ));
            })
        }
        RunsCommand::Import(a) => polyplug_engine::archive::import(store_arg(&a.store), &a.file)
            .map(|m| {
                console::stderr().note(&format!(
                    "imported run {} ({} {}, {} entities) from {} into {}",
                    m.uuid,
                    m.plugin.0,
                    m.plugin.1,
                    m.units,
                    a.file.display(),
                    m.store
                ));
            }),
    })
}

fn runs_list(args: &crate::args::RunsListArgs) -> Result<(), EngineError> {
    let wanted: Vec<(String, String)> = args
        .tag
        .iter()
        .map(|t| crate::run::tag(t))
        .collect::<Result<_, _>>()
        .map_err(|e| EngineError::Store(StoreError::Write(e)))?;
    let mut store = stores::open_existing(store_arg(&args.store))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "uuid\tplugin_id\tplugin_version\tcomp_status\tn_units\tn_failed\tn_skipped\t\
         time_start\ttime_end\tuser_id\tsystem_id\tshard\torigin\trun_id\tscheduler\tjob_id\t\
         task_id\thost\tname\ttags"
    );
    for c in store.computations()? {
        let (r, p) = (&c.report, &c.provenance);
        let chosen = wanted.iter().all(|t| p.tags.contains(t))
            && args.plugin.as_ref().is_none_or(|id| *id == r.plugin_id)
            && args
                .name
                .as_ref()
                .is_none_or(|n| p.name.as_ref() == Some(n));
        if !chosen {
            continue;
        }
        let o = |s: &Option<String>| s.clone().unwrap_or_default();
        let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.uuid.hyphenated(),
            r.plugin_id,
            r.plugin_version,
            r.comp_status,
            n(r.n_units),
            n(r.n_failed),
            n(r.n_skipped),
            o(&r.time_start),
            o(&r.time_end),
            o(&r.user_id),
            o(&r.system_id),
            o(&p.shard),
            p.origin,
            o(&p.run_id),
            o(&p.scheduler),
            o(&p.job_id),
            o(&p.task_id),
            o(&p.host),
            o(&p.name),
            polyplug_engine::store::tags_text(&p.tags)
                .unwrap_or_default()
                .replace('\n', ","),
        );
    }
    Ok(())
}

/// `runs diff A B`: the changed values as TSV on stdout (`-` where a computation has
/// none), the counts per attribute on stderr.
fn runs_diff(args: &crate::args::RunsDiffArgs) -> Result<(), EngineError> {
    let mut store = stores::open_existing(store_arg(&args.store))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = writeln!(out, "entity\tattribute\ta\tb");
    let mut line = String::new();
    let counts = polyplug_engine::diff::diff(&mut store, &args.a, &args.b, &mut |c| {
        line.clear();
        push_id(&mut line, &c.entity);
        for field in [Some(c.attribute.as_str()), c.a.as_deref(), c.b.as_deref()] {
            line.push('\t');
            line.push_str(&field.unwrap_or("-").replace(['\t', '\n'], " "));
        }
        line.push('\n');
        let _ = out.write_all(line.as_bytes());
    })?;
    let _ = out.flush();
    for (attribute, c) in &counts {
        console::stderr().note(&format!(
            "{attribute}: {} changed, {} only in {}, {} only in {}, {} the same",
            c.changed, c.only_a, args.a, c.only_b, args.b, c.same
        ));
    }
    Ok(())
}

/// One computation as `runs show` prints it: its report fields and provenance as a
/// YAML mapping (strings as YAML scalars, numbers as numbers).
fn show(c: &Computation) -> String {
    let (r, p) = (&c.report, &c.provenance);
    let text = |v: Option<&str>| v.map_or("null".to_string(), scalar_str);
    let number = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    let n = |v: Option<u64>| number(v.map(|v| v.to_string()));
    let uuid = r.uuid.hyphenated().to_string();
    let tags = polyplug_engine::store::tags_text(&p.tags).map(|t| t.replace('\n', ", "));
    let rows: [(&str, String); 27] = [
        ("uuid", scalar_str(&uuid)),
        ("plugin_id", scalar_str(&r.plugin_id)),
        ("plugin_version", scalar_str(&r.plugin_version)),
        ("plugin_sha256", text(r.plugin_sha256.as_deref())),
        ("parameters", scalar_str(&r.parameters)),
        ("comp_status", scalar_str(r.comp_status.as_str())),
        ("reason", text(r.reason.as_deref())),
        ("user_id", text(r.user_id.as_deref())),
        ("system_id", text(r.system_id.as_deref())),
        ("host", text(p.host.as_deref())),
        ("pid", number(p.pid.map(|v| v.to_string()))),
        ("shard", text(p.shard.as_deref())),
        ("run_id", text(p.run_id.as_deref())),
        ("name", text(p.name.as_deref())),
        ("tags", text(tags.as_deref())),
        ("scheduler", text(p.scheduler.as_deref())),
        ("job_id", text(p.job_id.as_deref())),
        ("task_id", text(p.task_id.as_deref())),
        ("time_start", text(r.time_start.as_deref())),
        ("time_end", text(r.time_end.as_deref())),
        ("n_units", n(r.n_units)),
        ("n_failed", n(r.n_failed)),
        ("n_skipped", n(r.n_skipped)),
        ("remarks", text(r.remarks.as_deref())),
        ("host_version", text(r.host_version.as_deref())),
        ("origin", scalar_str(&p.origin)),
        ("out_path", text(p.out_path.as_deref())),
    ];
    rows.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

fn runs_show(uuid: &str, opt: &StoreOpt) -> Result<(), EngineError> {
    let mut store = stores::open_existing(store_arg(opt))?;
    let (c, counts) = store.computation(uuid)?;
    print!(
        "{}stored:\n  entities_with_values: {}\n  entities_without_result: {}\n  \
         entities_failed: {}\n  values: {}\n",
        show(&c),
        counts.with_values,
        counts.without_result,
        counts.failed,
        counts.values
    );
    Ok(())
}

/// `polyplug export <uuid> [-o results.tsv] [-r report.yaml]`.
pub fn export(a: ExportArgs) -> i32 {
    finish(
        polyplug_engine::export::export(
            store_arg(&a.store),
            &a.uuid,
            polyplug_engine::export::ExportTo {
                out: a.out.as_deref(),
                default: Box::new(std::io::stdout()),
                log: a.log.as_deref(),
                report: a.report.as_deref(),
            },
        )
        .map(drop),
    )
}

/// `polyplug merge`: one line on stderr says what was merged, and where it went.
pub fn merge(a: MergeArgs) -> i32 {
    let spec = polyplug_engine::merge::MergeSpec {
        dir: a.dir,
        out: a.out,
        log: a.log,
        report: a.report,
        partial: a.partial,
        store: match (a.no_store, a.store.store) {
            (true, _) => polyplug_engine::StoreChoice::Off,
            (false, Some(url)) => polyplug_engine::StoreChoice::Url(url),
            (false, None) => polyplug_engine::StoreChoice::FromEnv,
        },
    };
    finish(polyplug_engine::merge::merge(&spec).map(|m| {
        let r = &m.report;
        let n = |v: Option<u64>| v.unwrap_or(0);
        eprintln!(
            "polyplug: {}: {} rows into {} ({} computed, {} failed, {} skipped; log {}, \
             report {})",
            r.remarks.as_deref().unwrap_or("the shards"),
            m.rows,
            m.outputs[0].display(),
            n(r.n_units),
            n(r.n_failed),
            n(r.n_skipped),
            m.outputs[1].display(),
            m.outputs[2].display()
        );
        if !m.unfinished.is_empty() {
            eprintln!(
                "polyplug: shards {:?} had not finished: the merged report says partial",
                m.unfinished
            );
        }
        if let Some((store, c)) = &m.imported {
            eprintln!(
                "polyplug: imported {} computations of the shards ({} entities) into store {store}{}",
                c.computations,
                c.units,
                if c.already > 0 {
                    format!("; {} it had already", c.already)
                } else {
                    String::new()
                }
            );
        }
        if m.strays > 0 {
            eprintln!(
                "polyplug: {} rows of the shards are of entities the input no longer has: \
                 left out",
                m.strays
            );
        }
    }))
}
