//! Compiled plugins (Rust with polyplug-sdk, C with polyplug.h) through the native ABI.

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};

#[test]
fn fas_stats_rust_and_c_give_identical_rows() {
    let t = TestDir::new();
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    let mut rows = Vec::new();
    for lib in ["fas_stats_rust", "fas_stats_c"] {
        let r = Run::of(
            t.cmd()
                .arg("run")
                .arg(plugin_lib(lib))
                .arg("files")
                .arg(&pattern)
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .ok();
        rows.push(r.stdout);
    }
    eqnice!(rows[0], rows[1]);
    let data = repo_root().join("examples-plugins/data");
    let expected = format!(
        "{d}/at_rich.fas\t34\t0.058823529411764705\n\
         {d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
         {d}/phage_lambda_mini.fas\t200\t0.425\n",
        d = data.display()
    );
    eqnice!(expected, rows[0]);
}
